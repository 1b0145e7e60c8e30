"""Dashboard accounts: made with a role (sessions_app.roles) and a password, given or random (shown once), or
given another role. A refusal is an InvalidArgument whose message says why; nothing is written then."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from sessions_app import roles
from sessions_app.domain.errors import InvalidArgument

GENERATED_PASSWORD_BYTES = 12  # 16 URL-safe characters


def find_account(username: str) -> Any | None:
    return get_user_model().objects.filter(username=username).first()


def new_account(username: str, email: str = "") -> Any:
    """An unsaved user with a valid username and email, for create_account."""
    user = get_user_model()(username=username, email=email)
    try:
        user._meta.get_field(user.USERNAME_FIELD).run_validators(username)
        if not username:
            raise ValidationError("the username is empty")
    except ValidationError as exc:
        raise InvalidArgument(" ".join(exc.messages), field="username") from None
    try:
        if email:
            validate_email(email)
    except ValidationError as exc:
        raise InvalidArgument(" ".join(exc.messages), field="email") from None
    return user


def create_account(user: Any, role: str, *, staff: bool = False, password: str | None = None) -> str | None:
    """Save ``user`` (from new_account) with ``role``. ``password``: checked by the password validators; none
    given, a random one is set and returned, to be shown once. ``staff``: may sign in to the Django admin."""
    generated = None
    if password is None:
        password = generated = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
    else:
        try:
            password_validation.validate_password(password, user)
        except ValidationError as exc:
            raise InvalidArgument("password refused: " + " ".join(exc.messages), field="password") from None
    user.set_password(password)
    with transaction.atomic():
        roles.assign_role(user, role, staff=staff)
    return generated


def change_role(user: Any, role: str, *, staff: bool = False) -> str:
    """Make ``role`` the account's only role (its password stays); returns the role it had ("none")."""
    before = roles.role_of(user) or "none"
    with transaction.atomic():
        roles.assign_role(user, role, staff=staff)
    return before


def ensure_operator(username: str) -> str | None:
    """A superuser named ``username`` with a random password, unless an active superuser exists; returns the
    password to show once, or None when no account was made."""
    User = get_user_model()
    if User.objects.filter(is_superuser=True, is_active=True).exists():
        return None
    password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
    User.objects.create_superuser(username=username, email="", password=password)
    return password

from __future__ import annotations

import os
import secrets
import sys
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import transaction

from sessions_app import roles


class Command(BaseCommand):
    help = (
        "Create a dashboard account with a role (viewer, editor or admin) and print its one-time random "
        "password, or change an existing account's role with --change-role."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--role",
            required=True,
            choices=roles.ROLES,
            help=f"viewer: {roles.ALLOWS[roles.VIEWERS]}; editor: {roles.ALLOWS[roles.EDITORS]}; "
            f"admin: {roles.ADMIN_ALLOWS}",
        )
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--staff",
            action="store_true",
            help="may also sign in to the Django admin, within the role's permissions (admins always may)",
        )
        given = parser.add_mutually_exclusive_group()
        given.add_argument(
            "--password-stdin", action="store_true", help="read the password from the first line of stdin"
        )
        given.add_argument(
            "--password-env", metavar="VAR", help="read the password from this environment variable"
        )
        parser.add_argument(
            "--change-role",
            action="store_true",
            help="the account exists: set its role (and --staff) only; its password stays",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        username, role = options["username"], options["role"]
        existing = User.objects.filter(username=username).first()
        if options["change_role"]:
            self._change_role(existing, username, role, options)
            return
        if existing is not None:
            raise CommandError(
                f"an account named {username!r} already exists (role: {roles.role_of(existing) or 'none'}); "
                f"to change its role: manage.py create_account {username} --role {role} --change-role"
            )
        user = User(username=username, email=options["email"])
        self._check(user)
        password = self._given_password(options)
        generated = password is None
        if generated:
            password = secrets.token_urlsafe(12)
        else:
            try:
                password_validation.validate_password(password, user)
            except ValidationError as exc:
                raise CommandError("password refused: " + " ".join(exc.messages)) from None
        user.set_password(password)
        with transaction.atomic():
            roles.assign_role(user, role, staff=options["staff"])
        if not generated:
            self.stdout.write(f"Created {role} account {username!r} with the password given.")
            return
        bar = "=" * 64
        self.stdout.write(
            f"{bar}\nCreated {role} account (password shown once, write it down):\n"
            f"  username: {username}\n  password: {password}\n{bar}"
        )

    def _change_role(self, user: Any, username: str, role: str, options: dict[str, Any]) -> None:
        if user is None:
            raise CommandError(f"no account named {username!r}; leave out --change-role to create it")
        if options["password_stdin"] or options["password_env"] or options["email"]:
            raise CommandError(
                "--change-role changes the role only; use manage.py changepassword for the password"
                + (" and the admin for the email" if options["email"] else "")
            )
        before = roles.role_of(user) or "none"
        with transaction.atomic():
            roles.assign_role(user, role, staff=options["staff"])
        self.stdout.write(f"{username}: role {before} → {role}.")

    @staticmethod
    def _check(user: Any) -> None:
        field = user._meta.get_field(user.USERNAME_FIELD)
        try:
            field.run_validators(user.get_username())
            if not user.get_username():
                raise ValidationError("the username is empty")
            if user.email:
                validate_email(user.email)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None

    @staticmethod
    def _given_password(options: dict[str, Any]) -> str | None:
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\r\n")
        elif options["password_env"]:
            name = options["password_env"]
            if name not in os.environ:
                raise CommandError(f"the environment variable {name} is not set")
            password = os.environ[name]
        else:
            return None
        if not password:
            raise CommandError("the password given is empty")
        return password

"""The operator roles: viewers and editors as Django groups, admins as superusers.

One definition, used by the post-migrate hook (the groups and their permissions), the create_account
command, the admin's user and group pages, and every permission check (dashboard, API, live feeds).
"""

from __future__ import annotations

from typing import Any

# The permissions checked by the dashboard, the API and the live feeds ("app_label.codename").
VIEW_SESSION = "sessions_app.view_session"
CHANGE_SESSION = "sessions_app.change_session"
ADD_SESSION = "sessions_app.add_session"

VIEWERS = "Session viewers"
EDITORS = "Session editors"
MODELS = ("session", "message", "sessionevent")

VIEWER, EDITOR, ADMIN = "viewer", "editor", "admin"
ROLES = (VIEWER, EDITOR, ADMIN)
ROLE_GROUPS = {VIEWER: VIEWERS, EDITOR: EDITORS}  # an admin is a superuser: every permission, no group
ALLOWS = {
    VIEWERS: "read every session, its messages and its history (view_session); no edit controls, "
    "any write is refused with 403",
    EDITORS: "everything viewers may, plus every Session API write from the dashboard and the admin "
    "(change_session): edit, move, truncate, restore, undo",
}
ADMIN_ALLOWS = "everything: sessions, API keys, accounts and roles (a superuser)"


def ensure_role_groups(**_: Any) -> None:
    from django.contrib.auth.models import Group, Permission

    # Only the session models: API keys (ApiKey) stay with superusers.
    ours = Permission.objects.filter(content_type__app_label="sessions_app", content_type__model__in=MODELS)
    view = ours.filter(codename__startswith="view_")
    change = ours.exclude(codename__in=["add_sessionevent", "change_sessionevent", "delete_sessionevent"])
    viewers, _ = Group.objects.get_or_create(name=VIEWERS)
    viewers.permissions.set(view)
    editors, _ = Group.objects.get_or_create(name=EDITORS)
    editors.permissions.set(change)


def role_of(user: Any) -> str | None:
    """The user's role: admin (a superuser), else editor or viewer by group, else None.

    Reads ``user.groups.all()``, so a list of users can prefetch their groups.
    """
    if user.is_superuser:
        return ADMIN
    groups = {group.name for group in user.groups.all()}
    return next((role for role in (EDITOR, VIEWER) if ROLE_GROUPS[role] in groups), None)


def assign_role(user: Any, role: str, *, staff: bool = False) -> None:
    """Make ``role`` the user's only role and save. ``staff``: may sign in to the Django admin (within the
    role's permissions); an admin always may."""
    from django.contrib.auth.models import Group

    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    ensure_role_groups()
    user.is_superuser = role == ADMIN
    user.is_staff = role == ADMIN or staff
    user.save()
    user.groups.remove(*Group.objects.filter(name__in=ROLE_GROUPS.values()))
    if role in ROLE_GROUPS:
        user.groups.add(Group.objects.get(name=ROLE_GROUPS[role]))

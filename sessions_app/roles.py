"""The two operator roles, as Django groups: viewers (view) and editors (view + change)."""

from __future__ import annotations

from typing import Any

VIEWERS = "Session viewers"
EDITORS = "Session editors"
MODELS = ("session", "message", "sessionevent")


def ensure_role_groups(**_: Any) -> None:
    from django.contrib.auth.models import Group, Permission

    view = Permission.objects.filter(content_type__app_label="sessions_app", codename__startswith="view_")
    change = Permission.objects.filter(content_type__app_label="sessions_app").exclude(
        codename__in=["add_sessionevent", "change_sessionevent", "delete_sessionevent"]
    )
    viewers, _ = Group.objects.get_or_create(name=VIEWERS)
    viewers.permissions.set(view)
    editors, _ = Group.objects.get_or_create(name=EDITORS)
    editors.permissions.set(change)

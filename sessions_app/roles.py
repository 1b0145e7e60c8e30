"""The two operator roles, as Django groups: viewers (view) and editors (view + change)."""

from __future__ import annotations

from typing import Any

VIEWERS = "Session viewers"
EDITORS = "Session editors"
MODELS = ("session", "message", "sessionevent")


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

"""What the dashboard's views read from a request: htmx or not, the user's permission, query numbers."""

from __future__ import annotations

from django.http import HttpRequest

from sessions_app import roles
from sessions_app.services import user_actor


def can_edit(request: HttpRequest) -> bool:
    return request.user.has_perm(roles.CHANGE_SESSION)


def actor_of(request: HttpRequest) -> str:
    return user_actor(request.user)


def is_htmx(request: HttpRequest) -> bool:
    """An htmx request that wants a fragment (a history restore wants the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def htmx_target(request: HttpRequest) -> str:
    return (request.htmx.target or "") if is_htmx(request) else ""


def query_number(request: HttpRequest, name: str) -> int | None:
    """An optional non-negative integer from the query string; anything else counts as absent."""
    raw = request.GET.get(name, "")
    return int(raw) if raw.isdigit() and len(raw) < 10 else None

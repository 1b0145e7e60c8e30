"""The session detail page as every view answers with it: its address, the page (or, for htmx, its
``session-detail`` partial) with a form's state, and the answer to a version conflict."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django_htmx.http import reswap, retarget

from sessions_app import models
from sessions_app.domain.errors import SessionNotFound, VersionConflict
from sessions_app.selectors.sessions import get_session
from sessions_app.web import presenters
from sessions_app.web.requests import can_edit, is_htmx, query_number

TEMPLATE = "sessions_app/session_detail.html"
# Shown on the site's 403 page (templates/403.html).
EDIT_DENIED = "Editing needs the editor role (the change_session permission)."


def session_or_404(session_id: uuid.UUID) -> models.Session:
    try:
        return get_session(session_id)
    except SessionNotFound as exc:
        raise Http404(exc.message) from None


def detail_url(
    session_id: uuid.UUID, *, page: int | None = None, anchor: int | None = None, **query: Any
) -> str:
    url = reverse("sessions_app:session_detail", args=[session_id])
    params = {k: v for k, v in query.items() if v not in (None, "")}
    if page:
        params["page"] = page
    if params:
        url += "?" + urlencode(params)
    if anchor is not None:
        url += f"#message-{anchor}"
    return url


def render_detail(
    request: HttpRequest,
    session_id: uuid.UUID,
    *,
    status: int = 200,
    **state: Any,
) -> HttpResponse:
    """The detail page, or for htmx its ``session-detail`` partial, which replaces the whole view."""
    context = presenters.session_detail_context(session_id, can_edit=can_edit(request), **state)
    if is_htmx(request):
        response = render(request, TEMPLATE + "#session-detail", context, status=status)
        # GETs target a row, a chunk or a preview; a stale page is replaced as a whole.
        return reswap(retarget(response, "#session-detail"), "outerHTML")
    return render(request, TEMPLATE, context, status=status)


def render_conflict(
    request: HttpRequest, session_id: uuid.UUID, exc: VersionConflict, **state: Any
) -> HttpResponse:
    return render_detail(request, session_id, status=409, conflict=exc.message, **state)


def stale_version(request: HttpRequest, session: models.Session) -> VersionConflict | None:
    """The page's version (?v=) when it is older than the session: what it shows is not what is stored."""
    seen = query_number(request, "v")
    if seen is not None and seen != session.version:
        return VersionConflict(seen, session.version)
    return None

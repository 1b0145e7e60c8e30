"""The dashboard's export download: GET /sessions/<id>/export?format=json|jsonl|openai (login + view)."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from sessions_app import roles
from sessions_app.domain.errors import InvalidArgument, SessionNotFound
from sessions_app.services import SessionService, transfer


@require_GET
@login_required
@permission_required(roles.VIEW_SESSION, raise_exception=True)
def session_export(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    try:
        fmt = transfer.check_format(request.GET.get("format", "json"))
    except InvalidArgument as exc:
        return render(request, "400.html", {"exception": exc.message}, status=400)
    try:
        service = SessionService.get(session_id)
    except SessionNotFound:
        raise Http404("No session with this id.") from None
    response = StreamingHttpResponse(
        (chunk.encode("utf-8") for chunk in transfer.export_lines([service.id], fmt)),
        content_type=f"{transfer.CONTENT_TYPES[fmt]}; charset=utf-8",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{transfer.filename(fmt, f"session-{service.id}")}"'
    )
    return response

"""Import in the dashboard: upload a JSON / JSONL / OpenAI file, see what it would create and its errors
by line, then import it (the same checks and writes as ``manage.py import_sessions`` and the API).

The preview writes nothing and keeps nothing: the import posts the file again with the preview's
fingerprint (SHA-256 of format and bytes), so what is imported is exactly what was previewed, and an
uploaded file is checked from scratch every time it is received.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from sessions_app import roles
from sessions_app.domain.errors import SessionError
from sessions_app.services import transfer, user_actor
from sessions_app.web import forms
from sessions_app.web.requests import is_htmx

TEMPLATE = "sessions_app/import.html"
PREVIEW_ROWS = 500  # sessions listed in a preview (the counts cover them all)
PREVIEW_ERRORS = 200  # errors listed in a preview


def upload_limit() -> int:
    """The largest upload: the whole form post is read by Django (DATA_UPLOAD_MAX_MEMORY_SIZE, i.e.
    ZYN_FORM_MAX_BYTES) before any view runs (sessions_app.web.form_encoding); daphne's own limit
    (ZYN_MAX_REQUEST_BYTES) is above it."""
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


def _render(request: HttpRequest, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    context = {"limit": upload_limit(), "api_limit": settings.ZYN_API_MAX_BODY_BYTES, **context}
    if is_htmx(request):
        return render(request, TEMPLATE + "#import-preview", context, status=status)
    return render(request, TEMPLATE, context, status=status)


def _preview(filename: str, fmt: str, fingerprint: str, scan: transfer.Scan) -> dict[str, Any]:
    errors = sorted(scan.errors, key=lambda e: e[0])
    return {
        "preview": {
            "filename": filename,
            "format": fmt,
            "fingerprint": fingerprint,
            "sessions": len(scan.records),
            "messages": sum(len(r.messages) for r in scan.records),
            "rows": scan.records[:PREVIEW_ROWS],
            "more_rows": max(0, len(scan.records) - PREVIEW_ROWS),
            "errors": errors[:PREVIEW_ERRORS],
            "error_count": len(errors),
            "more_errors": max(0, len(errors) - PREVIEW_ERRORS),
            "existing": len(scan.existing),
            "can_import": bool(scan.records) and not errors,
        }
    }


@require_http_methods(["GET", "POST"])
@login_required
@permission_required(roles.CHANGE_SESSION, raise_exception=True)
def import_sessions(request: HttpRequest) -> HttpResponse:
    """GET: the upload form. POST: action=preview (default) checks the file and shows what it would
    create; action=import / import_as_new imports the file that was previewed."""
    if request.method == "GET":
        return _render(request, {"form": forms.ImportForm()})
    form = forms.ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render(request, {"form": form, "form_error": form.error_text()}, status=400)
    upload = form.cleaned_data["file"]
    data = upload.read()
    filename = str(upload.name or "")[:200]
    fmt = form.cleaned_data["format"] or transfer.guess_format(filename)
    fingerprint = hashlib.sha256(fmt.encode() + b"\0" + data).hexdigest()
    try:
        text = transfer.decode(data)
    except transfer.ImportFailed as exc:
        text, scan = "", transfer.Scan(records=[], errors=[(exc.line, exc.reason)])
    else:
        scan = transfer.scan(transfer.text_lines(text), fmt)
    context = {"form": form, **_preview(filename, fmt, fingerprint, scan)}
    action = request.POST.get("action", "preview")
    if action not in ("import", "import_as_new"):
        return _render(request, context, status=200 if context["preview"]["can_import"] else 400)
    if form.cleaned_data["fingerprint"] != fingerprint:
        context["conflict"] = (
            "This is not the file (or format) that was previewed. Nothing was imported; "
            "here is the preview of this one."
        )
        return _render(request, context, status=409)
    if not context["preview"]["can_import"]:
        return _render(request, context, status=400)
    if scan.existing and action != "import_as_new":
        context["conflict"] = (
            f"{len(scan.existing)} session(s) in this file already exist here. Nothing was imported; "
            "import them as new sessions to give them fresh ids."
        )
        return _render(request, context, status=409)
    try:
        result = transfer.write(scan.records, actor=user_actor(request.user))
    except SessionError as exc:  # another writer took an id since the check: nothing was written
        context = {
            "form": form,
            **_preview(filename, fmt, fingerprint, transfer.scan(transfer.text_lines(text), fmt)),
        }
        context["conflict"] = f"{exc.message}. Nothing was imported."
        return _render(request, context, status=409)
    summary = (
        f"Imported {len(result.ids)} session(s) with {result.messages} message(s) from {filename}"
        + (f"; {len(result.renamed)} as new session(s) with fresh ids" if result.renamed else "")
        + "."
    )
    if not is_htmx(request):
        messages.success(request, summary)
        return HttpResponseRedirect(reverse("sessions_app:session_list"))
    imported = [
        {
            "id": new_id,
            "name": record.name,
            "messages": len(record.messages),
            "was": record.id if record.exists else None,  # imported as new: the id in the file
        }
        for new_id, record in zip(result.ids, scan.records, strict=True)
    ]
    return render(
        request,
        TEMPLATE + "#import-result",
        {
            "summary": summary,
            "imported": imported[:PREVIEW_ROWS],
            "more": max(0, len(imported) - PREVIEW_ROWS),
        },
        status=201,
    )

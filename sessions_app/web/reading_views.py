"""The dashboard's reading pages: the session list, the detail page, rows and windows of rows, and the
preview of a bulk removal. htmx requests get the named partial they target, plain requests the page."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django import forms as django_forms
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import escape
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from sessions_app import models, roles
from sessions_app.domain.errors import SessionError, VersionConflict
from sessions_app.selectors import previews
from sessions_app.selectors import sessions as session_queries
from sessions_app.web import forms, presenters
from sessions_app.web.detail_page import (
    EDIT_DENIED,
    TEMPLATE,
    detail_url,
    render_conflict,
    render_detail,
    session_or_404,
    stale_version,
)
from sessions_app.web.presenters import FormState
from sessions_app.web.requests import can_edit, htmx_target, is_htmx, query_number

LIST = "sessions_app/session_list.html"
ROW_MODES = ("view", "edit", "insert-above", "insert-below", "remove")
read_required = permission_required(roles.VIEW_SESSION, raise_exception=True)


@require_GET
@login_required
@read_required
@vary_on_headers("HX-Request")  # the same URL answers with a fragment or a page: caches must tell them apart
def session_list(request: HttpRequest) -> HttpResponse:
    form = forms.ListFilterForm(request.GET)
    status, error = 200, ""
    if form.is_valid():
        data = form.cleaned_data
        filters = session_queries.ListFilters(
            q=data["q"],
            key=data["key"],
            value=data["value"],
            since=data["since"],
            until=data["until"],
            page=data["page"] or 1,
        )
    else:
        status = 400
        error = _error_text(form)
        filters = session_queries.ListFilters(**_valid_filter_values(form))
    context = presenters.session_list_context(filters, can_edit=can_edit(request))
    context["filter_error"] = error
    if htmx_target(request) == "session-table":
        # The table, and out of band the reset link, which lives in the search form outside it.
        context["oob"] = True
        response = render(request, LIST + "#session-table-swap", context, status=status)
        # The address bar gets the search as a link would carry it (not the form's empty fields).
        query = urlencode(filters.query_items())
        return push_url(response, reverse("sessions_app:session_list") + (f"?{query}" if query else ""))
    return render(request, LIST, context, status=status)


def _valid_filter_values(form: django_forms.Form) -> dict[str, Any]:
    """The fields that did parse, so one bad date does not throw away the search words."""
    values: dict[str, Any] = {}
    for name in ("q", "key"):
        if name not in form.errors:
            values[name] = (form.data.get(name) or "").strip()[:200]
    return values


def _error_text(form: django_forms.Form) -> str:
    return " ".join(str(e) for errs in form.errors.values() for e in errs)


@require_GET
@login_required
@read_required
@vary_on_headers("HX-Request")
def session_detail(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = session_or_404(session_id)
    page, at = query_number(request, "page"), query_number(request, "at")
    if request.GET.get("at") == "last":  # "Last": the newest message, however many were added since
        at = max(0, session.message_count - 1)
    row, mode = query_number(request, "row"), request.GET.get("mode", "")
    full = query_number(request, "full")
    state: dict[str, Any] = {"page": page, "at": at if at is not None else row, "full": full}
    if at is not None:
        state["focus"] = at
    words = forms.MessageSearchForm(request.GET)
    if not words.is_valid():
        return render_detail(
            request, session_id, status=400, form=FormState(error=_error_text(words)), **state
        )
    state["q"] = words.cleaned_data["q"]
    if row is not None and mode in ROW_MODES[1:]:
        # The no-JS way to open a row's editor. It must be the row the operator saw.
        stale = stale_version(request, session)
        if stale:
            return render_conflict(request, session_id, stale)
        if not can_edit(request):
            raise PermissionDenied(EDIT_DENIED)
        state["form"] = FormState(action=mode, index=row)
        state["focus"] = row
    preview_action = request.GET.get("preview", "")
    if preview_action in ("truncate", "prune") and can_edit(request):
        return _preview(request, session, preview_action, full_page_state=state)
    return render_detail(request, session_id, **state)


@require_GET
@login_required
@read_required
def message_chunk(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """The next (or previous) window of rows, loaded on scroll or by the "more" links."""
    session = session_or_404(session_id)
    page = query_number(request, "page") or 0
    if not is_htmx(request):
        return HttpResponseRedirect(detail_url(session_id, page=page))
    stale = stale_version(request, session)
    if stale:
        return render_conflict(request, session_id, stale)
    words = forms.MessageSearchForm(request.GET)
    if not words.is_valid():
        return HttpResponse(escape(_error_text(words)), status=400)
    q = words.cleaned_data["q"]
    context = presenters.message_list_context(session_id, can_edit=can_edit(request), page=page, q=q)
    context["direction"] = "before" if request.GET.get("direction") == "before" else "after"
    return render(request, TEMPLATE + "#message-chunk", context)


@require_GET
@login_required
@read_required
def message_row(request: HttpRequest, session_id: uuid.UUID, index: int) -> HttpResponse:
    """One row in a mode (view, edit, insert above/below, remove confirmation, full content)."""
    session = session_or_404(session_id)
    mode = request.GET.get("mode", "view")
    if mode not in ROW_MODES:
        mode = "view"
    full = request.GET.get("full") == "1"
    if not is_htmx(request):
        query = {"row": index, "mode": mode if mode != "view" else "", "v": request.GET.get("v", "")}
        if full:
            query["full"] = index
        return HttpResponseRedirect(detail_url(session_id, anchor=index, **query))
    if mode != "view" and not can_edit(request):
        raise PermissionDenied(EDIT_DENIED)
    stale = stale_version(request, session)
    if stale:
        return render_conflict(request, session_id, stale)
    try:
        context = presenters.message_row_context(
            session_id, index, can_edit=can_edit(request), mode=mode, full=full
        )
    except SessionError as exc:
        return render_detail(request, session_id, status=exc.http_status, form=FormState(error=exc.message))
    context["focus"] = index
    return render(request, TEMPLATE + "#message-row", context)


@require_GET
@login_required
@permission_required(roles.CHANGE_SESSION, raise_exception=True)
def bulk_preview(request: HttpRequest, session_id: uuid.UUID, action: str) -> HttpResponse:
    """What truncate / prune would leave, before the operator confirms."""
    if action not in ("truncate", "prune"):
        raise Http404("Only truncate and prune have a preview.")
    session = session_or_404(session_id)
    return _preview(request, session, action)


def _preview(
    request: HttpRequest,
    session: models.Session,
    action: str,
    *,
    full_page_state: dict[str, Any] | None = None,
) -> HttpResponse:
    form_class = forms.TruncateForm if action == "truncate" else forms.PruneForm
    data = request.GET.copy()
    data.setdefault("expected_version", request.GET.get("v", str(session.version)))
    form = form_class(data)
    state = dict(full_page_state or {})
    if not form.is_valid():
        state["form"] = FormState(action=action, values=request.GET, error=form.error_text())
        return _render_preview(request, session, None, status=400, **state)
    if form.cleaned_data["expected_version"] != session.version:
        return render_conflict(
            request, session.pk, VersionConflict(form.cleaned_data["expected_version"], session.version)
        )
    if action == "truncate":
        preview = previews.truncate_preview(
            session, form.cleaned_data["keep_first"], form.cleaned_data["keep_last"]
        )
    else:
        preview = previews.prune_preview(session, form.cleaned_data["n"])
    state["form"] = FormState(action=action, values=request.GET)
    return _render_preview(request, session, preview, **state)


def _render_preview(
    request: HttpRequest,
    session: models.Session,
    preview: dict[str, Any] | None,
    *,
    status: int = 200,
    **state: Any,
) -> HttpResponse:
    if htmx_target(request) == "bulk-preview":
        context = {
            "session": session,
            "preview": preview,
            "form": state.get("form") or FormState(),
            "can_edit": True,
        }
        return render(request, TEMPLATE + "#bulk-preview", context, status=status)
    return render_detail(request, session.pk, status=status, preview=preview, **state)

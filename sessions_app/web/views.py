"""The operator dashboard: parse → one SessionService call → render a partial (or the page).

htmx requests get the named partial they target; plain requests get the full page, and a
successful plain POST redirects back to the page (post/redirect/get), so everything works
without JavaScript too. Domain errors are mapped once, in ``_write``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urlencode

from django import forms as django_forms
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import escape
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url, reswap, retarget

from sessions_app import roles
from sessions_app.domain.errors import SessionError, SessionNotFound, VersionConflict
from sessions_app.selectors import previews
from sessions_app.selectors import sessions as session_queries
from sessions_app.selectors.messages import window_for
from sessions_app.services import SessionService, user_actor
from sessions_app.web import forms, notices, presenters
from sessions_app.web.presenters import FormState

READ = roles.VIEW_SESSION
WRITE = roles.CHANGE_SESSION
DETAIL = "sessions_app/session_detail.html"
LIST = "sessions_app/session_list.html"
ROW_MODES = ("view", "edit", "insert-above", "insert-below", "remove")
# Forms whose typed text a version conflict shows again (the others are a click, not typing).
KEEPS_TYPED_TEXT = frozenset({"edit", "insert-above", "insert-below", "append", "set_messages", "set_usage"})
# Shown on the site's 403 page (templates/403.html).
EDIT_DENIED = "Editing needs the editor role (the change_session permission)."


def _can_edit(request: HttpRequest) -> bool:
    return request.user.has_perm(WRITE)


def _actor(request: HttpRequest) -> str:
    return user_actor(request.user)


def _int_param(request: HttpRequest, name: str) -> int | None:
    """An optional non-negative integer from the query string; anything else counts as absent."""
    raw = request.GET.get(name, "")
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def _session_or_404(session_id: uuid.UUID) -> Any:
    try:
        return session_queries.get_session(session_id)
    except SessionNotFound as exc:
        raise Http404(exc.message) from None


def _is_htmx(request: HttpRequest) -> bool:
    """An htmx request that wants a fragment (a history restore wants the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def _htmx_target(request: HttpRequest) -> str:
    return (request.htmx.target or "") if _is_htmx(request) else ""


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
    context = presenters.session_detail_context(session_id, can_edit=_can_edit(request), **state)
    if _is_htmx(request):
        response = render(request, DETAIL + "#session-detail", context, status=status)
        # GETs target a row, a chunk or a preview; a stale page is replaced as a whole.
        return reswap(retarget(response, "#session-detail"), "outerHTML")
    return render(request, DETAIL, context, status=status)


def _conflict(
    request: HttpRequest, session_id: uuid.UUID, exc: VersionConflict, **state: Any
) -> HttpResponse:
    return render_detail(request, session_id, status=409, conflict=exc.message, **state)


def _stale(request: HttpRequest, session: Any) -> VersionConflict | None:
    """The page's version (?v=) when it is older than the session: what it shows is not what is stored."""
    seen = _int_param(request, "v")
    if seen is not None and seen != session.version:
        return VersionConflict(seen, session.version)
    return None


# ---------------------------------------------------------------- reads


@require_GET
@login_required
@permission_required(READ, raise_exception=True)
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
        error = " ".join(str(e) for errs in form.errors.values() for e in errs)
        filters = session_queries.ListFilters(**_valid_filter_values(form))
    context = presenters.session_list_context(filters, can_edit=_can_edit(request))
    context["filter_error"] = error
    if _htmx_target(request) == "session-table":
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


@require_GET
@login_required
@permission_required(READ, raise_exception=True)
@vary_on_headers("HX-Request")
def session_detail(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = _session_or_404(session_id)
    page, at = _int_param(request, "page"), _int_param(request, "at")
    if request.GET.get("at") == "last":  # "Last": the newest message, however many were added since
        at = max(0, session.message_count - 1)
    row, mode = _int_param(request, "row"), request.GET.get("mode", "")
    full = _int_param(request, "full")
    state: dict[str, Any] = {"page": page, "at": at if at is not None else row, "full": full}
    if at is not None:
        state["focus"] = at
    words = forms.MessageSearchForm(request.GET)
    if not words.is_valid():
        error = " ".join(str(e) for errs in words.errors.values() for e in errs)
        return render_detail(request, session_id, status=400, form=FormState(error=error), **state)
    state["q"] = words.cleaned_data["q"]
    if row is not None and mode in ROW_MODES[1:]:
        # The no-JS way to open a row's editor. It must be the row the operator saw.
        stale = _stale(request, session)
        if stale:
            return _conflict(request, session_id, stale)
        if not _can_edit(request):
            raise PermissionDenied(EDIT_DENIED)
        state["form"] = FormState(action=mode, index=row)
        state["focus"] = row
    preview_action = request.GET.get("preview", "")
    if preview_action in ("truncate", "prune") and _can_edit(request):
        return _preview(request, session, preview_action, full_page_state=state)
    return render_detail(request, session_id, **state)


@require_GET
@login_required
@permission_required(READ, raise_exception=True)
def message_chunk(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """The next (or previous) window of rows, loaded on scroll or by the "more" links."""
    session = _session_or_404(session_id)
    page = _int_param(request, "page") or 0
    if not _is_htmx(request):
        return HttpResponseRedirect(detail_url(session_id, page=page))
    stale = _stale(request, session)
    if stale:
        return _conflict(request, session_id, stale)
    words = forms.MessageSearchForm(request.GET)
    if not words.is_valid():
        error = " ".join(str(e) for errs in words.errors.values() for e in errs)
        return HttpResponse(escape(error), status=400)
    q = words.cleaned_data["q"]
    context = presenters.message_list_context(session_id, can_edit=_can_edit(request), page=page, q=q)
    context["direction"] = "before" if request.GET.get("direction") == "before" else "after"
    return render(request, DETAIL + "#message-chunk", context)


@require_GET
@login_required
@permission_required(READ, raise_exception=True)
def message_row(request: HttpRequest, session_id: uuid.UUID, index: int) -> HttpResponse:
    """One row in a mode (view, edit, insert above/below, remove confirmation, full content)."""
    session = _session_or_404(session_id)
    mode = request.GET.get("mode", "view")
    if mode not in ROW_MODES:
        mode = "view"
    full = request.GET.get("full") == "1"
    if not _is_htmx(request):
        query = {"row": index, "mode": mode if mode != "view" else "", "v": request.GET.get("v", "")}
        if full:
            query["full"] = index
        return HttpResponseRedirect(detail_url(session_id, anchor=index, **query))
    if mode != "view" and not _can_edit(request):
        raise PermissionDenied(EDIT_DENIED)
    stale = _stale(request, session)
    if stale:
        return _conflict(request, session_id, stale)
    try:
        context = presenters.message_row_context(
            session_id, index, can_edit=_can_edit(request), mode=mode, full=full
        )
    except SessionError as exc:
        return render_detail(request, session_id, status=exc.http_status, form=FormState(error=exc.message))
    context["focus"] = index
    return render(request, DETAIL + "#message-row", context)


def _preview(
    request: HttpRequest, session: Any, action: str, *, full_page_state: dict[str, Any] | None = None
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
        return _conflict(
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
    request: HttpRequest, session: Any, preview: dict[str, Any] | None, *, status: int = 200, **state: Any
) -> HttpResponse:
    if _htmx_target(request) == "bulk-preview":
        context = {
            "session": session,
            "preview": preview,
            "form": state.get("form") or FormState(),
            "can_edit": True,
        }
        return render(request, DETAIL + "#bulk-preview", context, status=status)
    return render_detail(request, session.pk, status=status, preview=preview, **state)


@require_GET
@login_required
@permission_required(WRITE, raise_exception=True)
def bulk_preview(request: HttpRequest, session_id: uuid.UUID, action: str) -> HttpResponse:
    """What truncate / prune would leave, before the operator confirms."""
    if action not in ("truncate", "prune"):
        raise Http404("Only truncate and prune have a preview.")
    session = _session_or_404(session_id)
    return _preview(request, session, action)


# ---------------------------------------------------------------- writes


class Done(NamedTuple):
    """What a write did: the version it made, its words for the notice, the index to bring into view."""

    version: int
    words: str
    focus: int | None = None


Run = Callable[[SessionService, Any, int, str], Done]


def _write(
    request: HttpRequest,
    session_id: uuid.UUID,
    action: str,
    form_class: type[forms.VersionedForm],
    run: Run,
    *,
    index: int | None = None,
) -> HttpResponse:
    """Parse the form, make one service call, and answer with the fresh view and the write's notice.

    ``run`` says what it did (``Done``: the focus None is the first page).
    Every failure answers with a 4xx and the form re-shown with its error; nothing is written.
    """
    session = _session_or_404(session_id)
    form = form_class(request.POST)
    op = action  # the Session API op: the view's action is also its name
    action, index = _form_anchor(request, action, index)
    if not form.is_valid():
        state = FormState(action=action, index=index, values=request.POST, error=form.error_text())
        return render_detail(request, session_id, status=400, form=state, at=index)
    try:
        done = run(SessionService(session.pk), form, form.cleaned_data["expected_version"], _actor(request))
    except VersionConflict as exc:
        if action not in KEEPS_TYPED_TEXT:
            return _conflict(request, session_id, exc)
        # What the operator typed stays in its form, which now carries the fresh version: they compare
        # it with what is stored now and send it again, or change it first.
        state = FormState(action=action, index=index, values=request.POST)
        return _conflict(request, session_id, exc, form=state, at=index, focus=index)
    except SessionNotFound as exc:
        raise Http404(exc.message) from None
    except SessionError as exc:
        state = FormState(action=action, index=index, values=request.POST, error=exc.message)
        return render_detail(request, session_id, status=exc.http_status, form=state, at=index)
    notice = notices.saved(request, notices.Saved(session.pk, op, done.version, done.words))
    focus = done.focus
    if _is_htmx(request):
        return notices.deliver(
            request, render_detail(request, session_id, at=focus, focus=focus), notice, detail_url(session_id)
        )
    page = window_for(session_queries.get_session(session_id).message_count, at=focus).page
    return HttpResponseRedirect(detail_url(session_id, page=page, anchor=focus))


def _form_anchor(request: HttpRequest, action: str, index: int | None) -> tuple[str, int | None]:
    """Where a failed form is shown again: row forms in their row, the others in the tools."""
    if action == "replace":
        return "edit", index
    if action == "insert":
        # The insert form sits above or below the row it was opened from.
        where = request.POST.get("where")
        raw = request.POST.get("index", "")
        if where in ("above", "below") and raw.isdigit() and len(raw) < 10:
            row = int(raw) - (1 if where == "below" else 0)
            if row >= 0:
                return f"insert-{where}", row
    return action, index


def _writer(action: str, form_class: type[forms.VersionedForm], run: Run) -> Callable[..., HttpResponse]:
    @require_POST
    @login_required
    @permission_required(WRITE, raise_exception=True)
    def view(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
        return _write(request, session_id, action, form_class, run)

    view.__name__ = f"{action}_view"
    return view


def _index_writer(
    action: str, form_class: type[forms.VersionedForm], run: Callable[..., int | None]
) -> Callable[..., HttpResponse]:
    @require_POST
    @login_required
    @permission_required(WRITE, raise_exception=True)
    def view(request: HttpRequest, session_id: uuid.UUID, index: int) -> HttpResponse:
        return _write(
            request,
            session_id,
            action,
            form_class,
            lambda s, form, v, actor: run(s, index, form, v, actor),
            index=index,
        )

    view.__name__ = f"{action}_view"
    return view


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _append(s: SessionService, form: forms.MessageForm, v: int, actor: str) -> Done:
    m = form.message()
    version = s.append(m.role, m.content, expected_version=v, actor=actor)
    index = s.len() - 1
    return Done(version, f"Message #{index} appended", index)


def _insert(s: SessionService, form: forms.InsertForm, v: int, actor: str) -> Done:
    index = form.cleaned_data["index"]
    version = s.insert(index, form.message(), expected_version=v, actor=actor)
    return Done(version, f"Message inserted at #{index}", index)


def _replace(s: SessionService, index: int, form: forms.MessageForm, v: int, actor: str) -> Done:
    version = s.replace(index, form.message(), expected_version=v, actor=actor)
    return Done(version, f"Message #{index} edited", index)


def _remove(s: SessionService, index: int, form: forms.ConfirmForm, v: int, actor: str) -> Done:
    version = s.remove(index, expected_version=v, actor=actor)
    return Done(version, f"Message #{index} removed", max(0, index - 1))


def _move(s: SessionService, index: int, form: forms.MoveForm, v: int, actor: str) -> Done:
    to = form.cleaned_data["to_index"]
    version = s.move(index, to, expected_version=v, actor=actor)
    return Done(version, f"Message #{index} moved to #{to}", to)


def _truncate(s: SessionService, form: forms.TruncateForm, v: int, actor: str) -> Done:
    first, last = form.cleaned_data["keep_first"], form.cleaned_data["keep_last"]
    version = s.truncate(first, last, expected_version=v, actor=actor)
    return Done(version, f"Truncated to the first {first:,} and the last {last:,} messages")


def _prune(s: SessionService, form: forms.PruneForm, v: int, actor: str) -> Done:
    n = form.cleaned_data["n"]
    version = s.prune(n, expected_version=v, actor=actor)
    return Done(version, f"Pruned the last {_plural(n, 'exchange')}", max(0, s.len() - 1))


def _clear(s: SessionService, form: forms.ConfirmForm, v: int, actor: str) -> Done:
    return Done(s.clear(expected_version=v, actor=actor), "All messages cleared")


def _set_messages(s: SessionService, form: forms.SetMessagesForm, v: int, actor: str) -> Done:
    new = form.cleaned_data["messages_json"]
    version = s.set_messages(new, expected_version=v, actor=actor)
    return Done(version, f"All messages replaced ({_plural(len(new), 'message')} now)")


def _set_usage(s: SessionService, form: forms.UsageForm, v: int, actor: str) -> Done:
    usage = form.usage()
    version = s.set_usage(usage, expected_version=v, actor=actor)
    words = f"Usage set to {usage.prompt:,} + {usage.completion:,} = {usage.total:,} tokens"
    return Done(version, words)


append = _writer("append", forms.MessageForm, _append)
insert = _writer("insert", forms.InsertForm, _insert)
truncate = _writer("truncate", forms.TruncateForm, _truncate)
prune = _writer("prune", forms.PruneForm, _prune)
clear = _writer("clear", forms.ConfirmForm, _clear)
set_messages = _writer("set_messages", forms.SetMessagesForm, _set_messages)
set_usage = _writer("set_usage", forms.UsageForm, _set_usage)
replace = _index_writer("replace", forms.MessageForm, _replace)
remove = _index_writer("remove", forms.ConfirmForm, _remove)
move = _index_writer("move", forms.MoveForm, _move)

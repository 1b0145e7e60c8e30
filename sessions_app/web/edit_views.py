"""The dashboard's edits: each parses its form, makes one SessionService call, and answers with the
fresh view and the write's notice. A successful plain POST redirects back to the page
(post/redirect/get), so every edit works without JavaScript too. Domain errors are mapped once, in
``_write``; every failure answers with a 4xx and the form shown again with its error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_POST

from sessions_app import roles
from sessions_app.domain.errors import SessionError, SessionNotFound, VersionConflict
from sessions_app.selectors.messages import window_for
from sessions_app.selectors.sessions import get_session
from sessions_app.services import SessionService
from sessions_app.web import forms, notices
from sessions_app.web.detail_page import detail_url, render_conflict, render_detail, session_or_404
from sessions_app.web.presenters import FormState
from sessions_app.web.requests import actor_of, is_htmx

# Forms whose typed text a version conflict shows again (the others are a click, not typing).
KEEPS_TYPED_TEXT = frozenset({"edit", "insert-above", "insert-below", "append", "set_messages", "set_usage"})
edit_required = permission_required(roles.CHANGE_SESSION, raise_exception=True)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Edit:
    """How the dashboard makes one Session API write (domain/ops.py): its form, the op's arguments from
    the valid form (and the row it was sent from), and the notice's words and the row to bring into view
    once it is done (from the arguments and the session's length after it; None: the first page)."""

    form: type[forms.VersionedForm]
    args: Callable[[Any, int | None], dict[str, Any]]
    notice: Callable[[dict[str, Any], int], tuple[str, int | None]]


def _usage_words(usage: Any) -> str:
    return f"Usage set to {usage.prompt:,} + {usage.completion:,} = {usage.total:,} tokens"


EDITS: dict[str, Edit] = {
    "append": Edit(
        forms.MessageForm,
        lambda form, _: form.message().as_dict(),
        lambda a, length: (f"Message #{length - 1} appended", length - 1),
    ),
    "insert": Edit(
        forms.InsertForm,
        lambda form, _: {"index": form.cleaned_data["index"], "message": form.message()},
        lambda a, _: (f"Message inserted at #{a['index']}", a["index"]),
    ),
    "replace": Edit(
        forms.MessageForm,
        lambda form, row: {"index": row, "message": form.message()},
        lambda a, _: (f"Message #{a['index']} edited", a["index"]),
    ),
    "remove": Edit(
        forms.ConfirmForm,
        lambda form, row: {"index": row},
        lambda a, _: (f"Message #{a['index']} removed", max(0, a["index"] - 1)),
    ),
    "move": Edit(
        forms.MoveForm,
        lambda form, row: {"from_index": row, "to_index": form.cleaned_data["to_index"]},
        lambda a, _: (f"Message #{a['from_index']} moved to #{a['to_index']}", a["to_index"]),
    ),
    "truncate": Edit(
        forms.TruncateForm,
        lambda form, _: {k: form.cleaned_data[k] for k in ("keep_first", "keep_last")},
        lambda a, _: (
            f"Truncated to the first {a['keep_first']:,} and the last {a['keep_last']:,} messages",
            None,
        ),
    ),
    "prune": Edit(
        forms.PruneForm,
        lambda form, _: {"n": form.cleaned_data["n"]},
        lambda a, length: (f"Pruned the last {_plural(a['n'], 'exchange')}", max(0, length - 1)),
    ),
    "clear": Edit(forms.ConfirmForm, lambda form, _: {}, lambda a, _: ("All messages cleared", None)),
    "set_messages": Edit(
        forms.SetMessagesForm,
        lambda form, _: {"messages": form.cleaned_data["messages_json"]},
        lambda a, _: (f"All messages replaced ({_plural(len(a['messages']), 'message')} now)", None),
    ),
    "set_usage": Edit(
        forms.UsageForm,
        lambda form, _: {"usage": form.usage()},
        lambda a, _: (_usage_words(a["usage"]), None),
    ),
}


def _write(request: HttpRequest, session_id: uuid.UUID, op: str, row: int | None = None) -> HttpResponse:
    """Parse the form, make one service call, and answer with the fresh view and the write's notice.

    ``row``: the row the form was sent from (in the URL). Every failure answers with a 4xx and the form shown
    again with its error; nothing is written.
    """
    session = session_or_404(session_id)
    edit = EDITS[op]
    form = edit.form(request.POST)
    action, index = _form_anchor(request, op, row)  # where the form is shown again
    if not form.is_valid():
        state = FormState(action=action, index=index, values=request.POST, error=form.error_text())
        return render_detail(request, session_id, status=400, form=state, at=index)
    args = edit.args(form, row)
    service = SessionService(session.pk)
    try:
        version = service.write(
            op, args, expected_version=form.cleaned_data["expected_version"], actor=actor_of(request)
        )
    except VersionConflict as exc:
        if action not in KEEPS_TYPED_TEXT:
            return render_conflict(request, session_id, exc)
        # What the operator typed stays in its form, which now carries the fresh version: they compare
        # it with what is stored now and send it again, or change it first.
        state = FormState(action=action, index=index, values=request.POST)
        return render_conflict(request, session_id, exc, form=state, at=index, focus=index)
    except SessionNotFound as exc:
        raise Http404(exc.message) from None
    except SessionError as exc:
        state = FormState(action=action, index=index, values=request.POST, error=exc.message)
        return render_detail(request, session_id, status=exc.http_status, form=state, at=index)
    words, focus = edit.notice(args, service.len())
    notice = notices.saved(request, notices.Saved(session.pk, op, version, words))
    if is_htmx(request):
        return notices.deliver(
            request, render_detail(request, session_id, at=focus, focus=focus), notice, detail_url(session_id)
        )
    page = window_for(get_session(session_id).message_count, at=focus).page
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


def _writer(op: str) -> Callable[..., HttpResponse]:
    @require_POST
    @login_required
    @edit_required
    def view(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
        return _write(request, session_id, op)

    view.__name__ = f"{op}_view"
    return view


def _row_writer(op: str) -> Callable[..., HttpResponse]:
    """A write sent from one row: its index is in the URL."""

    @require_POST
    @login_required
    @edit_required
    def view(request: HttpRequest, session_id: uuid.UUID, index: int) -> HttpResponse:
        return _write(request, session_id, op, index)

    view.__name__ = f"{op}_view"
    return view


append, insert, truncate, prune, clear, set_messages, set_usage = (
    _writer(op) for op in ("append", "insert", "truncate", "prune", "clear", "set_messages", "set_usage")
)
replace, remove, move = (_row_writer(op) for op in ("replace", "remove", "move"))

"""The dashboard's edits: each parses its form, makes one SessionService call, and answers with the
fresh view and the write's notice. A successful plain POST redirects back to the page
(post/redirect/get), so every edit works without JavaScript too. Domain errors are mapped once, in
``_write``; every failure answers with a 4xx and the form shown again with its error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

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
    session = session_or_404(session_id)
    form = form_class(request.POST)
    op = action  # the Session API op: the view's action is also its name
    action, index = _form_anchor(request, action, index)
    if not form.is_valid():
        state = FormState(action=action, index=index, values=request.POST, error=form.error_text())
        return render_detail(request, session_id, status=400, form=state, at=index)
    try:
        done = run(SessionService(session.pk), form, form.cleaned_data["expected_version"], actor_of(request))
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
    notice = notices.saved(request, notices.Saved(session.pk, op, done.version, done.words))
    focus = done.focus
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


def _writer(action: str, form_class: type[forms.VersionedForm], run: Run) -> Callable[..., HttpResponse]:
    @require_POST
    @login_required
    @edit_required
    def view(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
        return _write(request, session_id, action, form_class, run)

    view.__name__ = f"{action}_view"
    return view


def _index_writer(
    action: str, form_class: type[forms.VersionedForm], run: Callable[..., int | None]
) -> Callable[..., HttpResponse]:
    @require_POST
    @login_required
    @edit_required
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

"""History pages: the event log, the session at any version, diffs, restore / undo, export.

Thin views (django-htmx style): parse → one history read or one service write → render. Viewing needs
the view permission, restoring the change permission (sessions_app.roles; a viewer gets 403).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from sessions_app import history, models, roles
from sessions_app.domain.checks import describe
from sessions_app.domain.errors import InvalidArgument, SessionError, VersionConflict
from sessions_app.history.word_diff import WordDiff, WordDiffer
from sessions_app.services import SessionService, user_actor
from sessions_app.web import notices

EVENTS_PER_PAGE = 50
MESSAGES_PER_PAGE = 100
DIFF_ENTRIES_SHOWN = 500

view_required = permission_required(roles.VIEW_SESSION, raise_exception=True)
change_required = permission_required(roles.CHANGE_SESSION, raise_exception=True)


def _diff_context(session: models.Session, result: history.VersionDiff) -> dict[str, object]:
    """What the diff partials show of ``result``: its first DIFF_ENTRIES_SHOWN entries (a changed one with
    its word diff) and how many more."""
    differ = WordDiffer()
    return {
        "session": session,
        "diff": result,
        "entries": [
            (entry, differ.diff(entry.old.content, entry.new.content) if entry.kind == "changed" else None)
            for entry in result.entries[:DIFF_ENTRIES_SHOWN]
        ],
        "hidden_entries": max(0, len(result.entries) - DIFF_ENTRIES_SHOWN),
    }


@dataclass(frozen=True)
class EventRow:
    """An event of the history list: its words, and the text it turned into another as a word diff."""

    event: models.SessionEvent
    words: str
    change: history.ContentChange | None
    word_diff: WordDiff | None
    diff_url: str  # what the event changed, as the diff page shows it


def _event_row(session: models.Session, event: models.SessionEvent, differ: WordDiffer) -> EventRow:
    change = history.content_change(event.op, event.args)
    return EventRow(
        event=event,
        words=history.describe_event(event, brief=change is not None),
        change=change,
        word_diff=differ.diff(change.old, change.new) if change else None,
        diff_url=reverse("history:diff", args=[session.pk]) + f"?from={event.version - 1}&to={event.version}",
    )


def _session(session_id: uuid.UUID) -> models.Session:
    return get_object_or_404(models.Session, pk=session_id)


def _error(request: HttpRequest, session: models.Session, exc: SessionError) -> HttpResponse:
    # "changed" only when someone else wrote since: a version from the future is the caller's mistake.
    changed = isinstance(exc, VersionConflict) and exc.expected < exc.current
    context = {"session": session, "error": exc.message, "changed": changed}
    return render(request, "sessions_app/history_error.html", context, status=exc.http_status)


def session_page_url(session: models.Session) -> str:
    """The session's own page when the dashboard provides one, else its history."""
    try:
        return reverse("sessions_app:session_detail", args=[session.pk])
    except NoReverseMatch:
        return reverse("history:list", args=[session.pk])


def _version_number(value: str | None, name: str) -> int:
    """A version from the query string or a form; not a number is a 400 (unlike the pages' optional
    numbers, web.requests.query_number, which count as absent)."""
    try:
        return int(str(value).strip())
    except ValueError:
        raise InvalidArgument(f"{name} must be a whole number (got {describe(value)})", field=name) from None


@login_required
@view_required
@require_GET
def history_list(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = _session(session_id)
    page = Paginator(history.events_newest_first(session.pk), EVENTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    differ = WordDiffer()  # one budget for the page's diffs
    context = {
        "session": session,
        "page": page,
        "rows": [_event_row(session, event, differ) for event in page],
        "oldest": history.oldest_version(session.pk),
        "session_url": session_page_url(session),
    }
    template = "sessions_app/history.html#event-list" if request.htmx else "sessions_app/history.html"
    return render(request, template, context)


@login_required
@view_required
@require_GET
def version_detail(request: HttpRequest, session_id: uuid.UUID, version: int) -> HttpResponse:
    session = _session(session_id)
    try:
        state = history.state_at(session.pk, version, current_version=session.version)
    except SessionError as exc:
        return _error(request, session, exc)
    page = Paginator(state.messages, MESSAGES_PER_PAGE).get_page(request.GET.get("page"))
    event = models.SessionEvent.objects.filter(session_id=session.pk, version=version).first()
    context = {
        "session": session,
        "state": state,
        "page": page,
        "first_index": page.start_index() - 1 if state.messages else 0,
        "event": event,
        "event_words": history.describe_event(event) if event else "",
        "is_current": version == session.version,
        "session_url": session_page_url(session),
    }
    template = (
        "sessions_app/history_version.html#message-page"
        if request.htmx
        else "sessions_app/history_version.html"
    )
    return render(request, template, context)


@login_required
@view_required
@require_GET
def version_diff(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = _session(session_id)
    try:
        new = _version_number(request.GET.get("to", session.version), "to")
        old = _version_number(request.GET.get("from", max(0, new - 1)), "from")
        before = history.state_at(session.pk, old, current_version=session.version)
        result = history.diff(
            before, history.state_after(session.pk, before, new, current_version=session.version)
        )
    except SessionError as exc:
        return _error(request, session, exc)
    context = {**_diff_context(session, result), "session_url": session_page_url(session)}
    return render(request, "sessions_app/history_diff.html", context)


def _done(request: HttpRequest, session: models.Session, notice: notices.Saved) -> HttpResponse:
    """The session's page with the write's notice (its Undo included): the one notice of every write."""
    notices.saved(request, notice)
    url = session_page_url(session)
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _diff_words(result: history.VersionDiff) -> str:
    words = f"{result.added} added, {result.removed} removed, {result.changed} changed"
    return words + (", usage changed" if result.usage_changed else "")


@login_required
@change_required
@require_http_methods(["GET", "POST"])
def restore(request: HttpRequest, session_id: uuid.UUID, version: int) -> HttpResponse:
    """GET: what restoring ``version`` would change, and a button to confirm. POST: restore it."""
    session = _session(session_id)
    if request.method == "GET":
        return _restore_confirmation(request, session, version)
    try:
        expected = _version_number(request.POST.get("expected_version"), "expected_version")
        result = history.diff_versions(session.pk, expected, version) if expected == session.version else None
        new_version = SessionService(session.pk).restore(
            version, expected_version=expected, actor=user_actor(request.user)
        )
    except SessionError as exc:
        return _error(request, session, exc)
    changes = f" ({_diff_words(result)})" if result else ""
    words = f"Restored version {version}{changes}"
    return _done(request, session, notices.Saved(session.pk, "restore", new_version, words))


def _restore_confirmation(request: HttpRequest, session: models.Session, version: int) -> HttpResponse:
    """The restore as a diff from now to ``version``. ``?from=N``: the version the operator's page showed;
    when the session moved on since, the page says so (it describes the restore from now)."""
    conflict = ""
    seen = request.GET.get("from", "")
    if seen.isdigit() and int(seen) != session.version:
        conflict = VersionConflict(int(seen), session.version).message
    try:
        result = history.diff_versions(session.pk, session.version, version)
    except SessionError as exc:
        return _error(request, session, exc)
    context = {**_diff_context(session, result), "conflict": conflict}
    return render(request, "sessions_app/history_restore.html", context)


@login_required
@change_required
@require_POST
def undo(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = _session(session_id)
    try:
        expected = _version_number(request.POST.get("expected_version"), "expected_version")
        new_version = SessionService(session.pk).undo(
            expected_version=expected, actor=user_actor(request.user)
        )
    except SessionError as exc:
        return _error(request, session, exc)
    words = f"Undid v{expected}: the session is back as it was at v{expected - 1}"
    return _done(request, session, notices.Saved(session.pk, "restore", new_version, words))


@login_required
@view_required
@require_GET
def export(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = _session(session_id)
    response = JsonResponse(history.export_history(session.pk), json_dumps_params={"ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="session-{session.pk}-history.json"'
    return response

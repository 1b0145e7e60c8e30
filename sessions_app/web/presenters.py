"""The context of each dashboard partial, and the form state the detail page shows.

The builders take only ids and the permission level, so the live feeds (sessions_app.live.updates)
render the same partials (``session-header``, ``message-list``, ``message-row``, ``usage-chart``,
``session-row``) without a request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sessions_app import models
from sessions_app.domain.errors import IndexOutOfRange
from sessions_app.domain.types import Role
from sessions_app.selectors import search
from sessions_app.selectors.messages import Window, message_at, message_window, window_for
from sessions_app.selectors.sessions import (
    PREVIEW_CHARS,
    ListFilters,
    get_session,
    last_messages,
    session_page,
)
from sessions_app.web.charts import usage_chart
from sessions_app.web.display import display_text, json_value_text
from sessions_app.web.search_marks import MatchNav, mark_search_words

ROLE_NAMES = tuple(role.value for role in Role)


# ---------------------------------------------------------------- session list


@dataclass
class SessionRow:
    session: models.Session
    last_role: str = ""
    last_preview: str = ""
    tags: list[tuple[str, str]] = field(default_factory=list)
    hit: search.SearchHit | None = None  # where the search words are, when the list is a search
    hit_query: str = ""  # the detail page at that message, with the words marked


def metadata_tags(metadata: Any) -> list[tuple[str, str]]:
    """The first metadata pairs as short text, JSON-style (true, not True); never fails on a stored value."""
    if not isinstance(metadata, dict):
        return []
    return [(display_text(str(k)), _short(json_value_text(v))) for k, v in list(metadata.items())[:6]]


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def session_rows(
    sessions: list[models.Session], hits: dict[uuid.UUID, search.SearchHit] | None = None
) -> list[SessionRow]:
    """Rows with their last-message preview (``hits``: where a search found its words; those rows show
    that message instead, and their last message is not read)."""
    hits = hits or {}
    last = last_messages(sessions, skip=set(hits))
    rows = []
    for s in sessions:
        role, preview = last.get(s.pk, ("", ""))
        if len(preview) > PREVIEW_CHARS:
            preview = preview[:PREVIEW_CHARS] + "…"
        rows.append(
            SessionRow(s, role, " ".join(preview.split()), metadata_tags(s.metadata), hit=hits.get(s.pk))
        )
    return rows


def session_list_context(filters: ListFilters, *, can_edit: bool) -> dict[str, Any]:
    """The list page: one page of rows."""
    shown, has_next = session_page(filters)
    hits = search.first_hits([s.pk for s in shown], filters.q) if filters.q else {}
    rows = session_rows(shown, hits)
    for row in rows:
        if row.hit:
            row.hit_query = urlencode({"q": filters.q, "at": row.hit.position})
    return {
        "rows": rows,
        "word_search": search.is_word_search(filters.q),
        "filters": filters,
        "page": filters.page,
        "has_next": has_next,
        "has_prev": filters.page > 1,
        "next_query": filters.query_items(page=filters.page + 1),
        "prev_query": filters.query_items(page=filters.page - 1),
        "can_edit": can_edit,
    }


def session_row_context(session_id: uuid.UUID | str, *, can_edit: bool) -> dict[str, Any]:
    """Context of the ``session-row`` partial for one session (e.g. pushed after a change)."""
    session = get_session(session_id)
    return {"row": session_rows([session])[0], "can_edit": can_edit}


# ---------------------------------------------------------------- session detail


@dataclass
class FormState:
    """Which form is open on the detail page, what the operator typed, and what was wrong."""

    action: str = ""
    index: int | None = None
    values: dict[str, Any] = field(default_factory=dict)
    error: str = ""


ROW_ACTIONS = frozenset({"edit", "insert-above", "insert-below", "remove", "move"})
TOOL_ACTIONS = frozenset({"append", "truncate", "prune", "set_messages", "set_usage", "clear"})


def _error_banner(form: FormState, window: Window, can_edit: bool) -> str:
    """An error that no form on the page will show next to itself goes in a banner at the top."""
    if not form.error:
        return ""
    if form.action in ROW_ACTIONS:
        shown = can_edit and form.index is not None and window.start <= form.index < window.stop
    else:
        shown = can_edit and form.action in TOOL_ACTIONS
    return "" if shown else form.error


def _with_positions(rows: list[models.Message], count: int) -> list[models.Message]:
    """Positions as ready strings (pos, and up/down for the move buttons; None at the ends)."""
    for m in rows:
        m.pos = str(m.position)
        m.up = str(m.position - 1) if m.position > 0 else None
        m.down = str(m.position + 1) if m.position < count - 1 else None
    return rows


def session_header_context(session_id: uuid.UUID | str | models.Session, *, can_edit: bool) -> dict[str, Any]:
    return {"session": get_session(session_id), "can_edit": can_edit}


def session_detail_context(
    session_id: uuid.UUID | str,
    *,
    can_edit: bool,
    page: int | None = None,
    at: int | None = None,
    form: FormState | None = None,
    conflict: str = "",
    focus: int | None = None,
    full: int | None = None,
    preview: dict[str, Any] | None = None,
    start: int | None = None,
    q: str = "",
) -> dict[str, Any]:
    """Everything the detail page (or its ``session-detail`` partial) renders.

    The window is the page of WINDOW_SIZE messages holding ``at`` (or ``start``), else page ``page``.
    ``q``: search words, marked in the messages that match, with the way from one match to the next.
    """
    if at is None:
        at = start
    session = get_session(session_id)
    window = window_for(session.message_count, page=page, at=at)
    form = form or FormState()
    rows = _with_positions(message_window(session.pk, window), session.message_count)
    nav = None
    if search.is_word_search(q):
        nav = MatchNav(q, search.matching_positions(session.pk, q), at)
        full = mark_search_words(rows, nav, full)
    return {
        "session": session,
        "window": window,
        "message_rows": rows,
        "search": nav,
        "chart": usage_chart(session.pk),
        "can_edit": can_edit,
        "form": form,
        "error_banner": _error_banner(form, window, can_edit),
        "conflict": conflict,
        "focus": focus,
        "full": full,
        "preview": preview,
        "roles": ROLE_NAMES,
    }


def message_list_context(
    session_id: uuid.UUID | str | models.Session, *, can_edit: bool, page: int = 0, q: str = ""
) -> dict[str, Any]:
    """Context of the ``message-list`` partial (one window) or of a ``message-chunk`` loaded on scroll
    (``q``: search words to mark in it)."""
    session = get_session(session_id)
    window = window_for(session.message_count, page=page)
    rows = _with_positions(message_window(session.pk, window), session.message_count)
    nav = None
    if search.is_word_search(q):
        in_window = search.matching_positions(
            session.pk, q, start=window.start, stop=window.stop, length=window.count
        )
        nav = MatchNav(q, in_window, None)
        mark_search_words(rows, nav, None)
    return {
        "session": session,
        "window": window,
        "message_rows": rows,
        "search": nav,
        "can_edit": can_edit,
        "form": FormState(),
        "full": None,
        "focus": None,
        "roles": ROLE_NAMES,
    }


def message_row_context(
    session_id: uuid.UUID | str | models.Session,
    index: int,
    *,
    can_edit: bool,
    mode: str = "view",
    full: bool = False,
    form: FormState | None = None,
    message: models.Message | None = None,
) -> dict[str, Any]:
    """Context of one ``message-row``; raises SessionNotFound / IndexOutOfRange when it does not exist.

    ``message``: the row at ``index``, when the caller has read it already (with others, in one query).
    """
    session = get_session(session_id)
    if message is None:
        message = message_at(session.pk, index, session.message_count)
    if message is None:
        raise IndexOutOfRange(index, session.message_count)
    _with_positions([message], session.message_count)
    return {
        "session": session,
        "m": message,
        "window": window_for(session.message_count, at=index),
        "can_edit": can_edit,
        "mode": mode,
        "full": index if full else None,
        "form": form or FormState(action=mode, index=index),
        "roles": ROLE_NAMES,
    }

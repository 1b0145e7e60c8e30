"""What the live feeds push: the dashboard's own partials, rendered once per event and permission level.

Wire format (one websocket text frame = one update, read by static/sessions_app/live.js):

    <template data-live="<kind>" data-session="<uuid>" data-version="M" [data-base="B"]></template>
    <… the partials, each with the id of the element it replaces (hx-swap-oob) …>

kinds, detail feed:
  delta     turns the page at version B into version M (rows appended at the end, a replaced row,
            header, usage chart); applied only by a page at exactly B, a page at ≥ M ignores it.
  stale     the session reached M by a change that moves messages around; the page asks for a
            snapshot of the window it shows (positions depend on the window, so one render per window).
  snapshot  header, the message window and the chart at M; replaces a page below M.
  ack       the page is at the newest version M (answer to "hello").
  presence  who is watching (no version; revisions are checked by the consumer).
kinds, list feed:
  row       one ``session-row`` at version M; rows are whole, so any newer row replaces an older one.

Rendering is per (session, version, permission level), not per watcher: every consumer in a
process awaits one shared render (see ``shared_render``), and all watchers of a level get the same
bytes. Measured in docs/benchmarks.md, "Live feeds".
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils.html import format_html, format_html_join

from sessions_app import models, roles
from sessions_app.domain.ops import OPS
from sessions_app.live import sharing
from sessions_app.selectors import usage as usage_queries
from sessions_app.selectors.messages import messages_between, window_for
from sessions_app.selectors.sessions import get_session
from sessions_app.web import charts, presenters

DETAIL_TEMPLATE = "sessions_app/session_detail.html"
LIST_TEMPLATE = "sessions_app/session_list.html"
MESSAGE_LIST_ID = "message-list"  # the <ol> of ``message-list``; its <li> are ``message-row``s


VIEW, EDIT = "view", "edit"
_C1_REFERENCE = re.compile(r"&#1(?:2[89]|[3-5][0-9]);")


@dataclass(frozen=True)
class Update:
    kind: str
    session: str
    version: int
    html: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "html", ascii_html(self.html))


def ascii_html(html: str) -> str:
    """``html`` with every non-ASCII character as a numeric character reference (``·`` → ``&#183;``).

    The same document to an HTML parser (the frames hold no <script>/<style>, where references are not
    decoded), and daphne encodes each frame to UTF-8 once per watcher: for a 40 KB str with one non-ASCII
    character that is ~35 µs, for an ASCII one a copy (~1 µs); 4,000 frames/s at 200 watchers. Done
    once per shared render. Measured in docs/benchmarks.md, "Live feeds".
    """
    if html.isascii():
        return html
    ascii_only = html.encode("ascii", "xmlcharrefreplace").decode("ascii")
    # Browsers read &#128;…&#159; as windows-1252 characters (HTML spec: &#128; is "€"): a frame with a
    # C1 control character (rare in content) is sent as it is. The search costs ~60 µs per 40 KB.
    return html if _C1_REFERENCE.search(ascii_only) else ascii_only


def envelope(
    kind: str, session: object, version: int, base: int | None = None, count: int | None = None
) -> str:
    """The frame header live.js reads before htmx swaps anything (base and count only on some kinds)."""
    extra = format_html_join(
        "", ' data-{}="{}"', [(k, v) for k, v in (("base", base), ("count", count)) if v is not None]
    )
    return format_html(
        '<template data-live="{}" data-session="{}" data-version="{}"{}></template>',
        kind,
        session,
        version,
        extra,
    )


def level_of(user: Any) -> str | None:
    """The permission level a socket is served at; None = may not watch sessions at all."""
    if not user.is_authenticated or not user.is_active:
        return None
    if user.has_perm(roles.CHANGE_SESSION):
        return EDIT
    if user.has_perm(roles.VIEW_SESSION):
        return VIEW
    return None


@contextlib.contextmanager
def consistent_read() -> Iterator[None]:
    """All queries of one render see one snapshot, so the version label matches the content.

    PostgreSQL: a REPEATABLE READ, READ ONLY transaction. SQLite: no transaction (BEGIN IMMEDIATE
    would queue behind writers); the version is read first, so content is never older than its label.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


# Variables the detail partials read that only the page's own context builder sets; a push shows
# messages folded, nothing focused and no form open.
PUSH_DEFAULTS = {"full": None, "focus": None, "direction": "", "conflict": "", "preview": None}


def _partial(template: str, name: str, context: dict[str, Any]) -> str:
    return render_to_string(f"{template}#{name}", {**PUSH_DEFAULTS, **context})


# Each takes the Session the render read first (get_session passes it through): one query
# for the session per render, and every partial shows the same version of it.
def _header(session: models.Session, can_edit: bool) -> str:
    return _partial(
        DETAIL_TEMPLATE, "session-header", presenters.session_header_context(session, can_edit=can_edit)
    )


def _chart(session: models.Session) -> str:
    context = {"session": session, "chart": charts.chart_context(chart_windows.points(session))}
    return _partial(DETAIL_TEMPLATE, "usage-chart", context)


class ChartWindows:
    """The usage chart's window (its points) per session and version rendered in this process.

    The chart at version M is the last CHART_MAX_EXCHANGES usage points up to M; the event log only
    grows, so the chart at M is the chart at B plus the points of B+1..M, which the delta's own event
    read already has. A delta render then needs no read of the window (~3 ms of its ~10). Read from
    the database on a miss (another version, a new process) and at least every ``reread_seconds``
    (compact_events may delete old events). Used from the renders' thread; locked all the same.
    """

    def __init__(self, size: int = sharing.CACHE_SIZE, reread_seconds: float = 60.0) -> None:
        self.size, self.reread_seconds = size, reread_seconds
        # (session, version) → (points, when they were read from the database); each permission
        # level renders the same version, so an entry is kept per version, not only the newest.
        self.entries: OrderedDict[tuple[uuid.UUID, int], tuple[list[dict[str, Any]], float]] = OrderedDict()
        self.lock = threading.Lock()
        self.reads = 0

    def points(
        self, session: models.Session, base: int | None = None, new_points: Sequence[dict[str, Any]] = ()
    ) -> list[dict[str, Any]]:
        """The window at ``session.version``, given the points added after ``base`` (None: read it)."""
        points = None if base is None else self.advance(session, base, new_points)
        if points is None:
            points = usage_queries.usage_points(session.pk, session.version)
            self.reads += 1
            self._keep(session, points, time.monotonic())
        return points

    def advance(
        self, session: models.Session, base: int, new_points: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        """The window at ``session.version`` from the one at ``base``; None if that one is not known.

        Deltas without usage call it too, so that the next one finds its base.
        """
        with self.lock:
            known = self.entries.get((session.pk, base))
        if known is None or time.monotonic() - known[1] >= self.reread_seconds:
            return None
        points = (
            (known[0] + list(new_points))[-usage_queries.CHART_MAX_EXCHANGES :] if new_points else known[0]
        )
        self._keep(session, points, known[1])
        return points

    def _keep(self, session: models.Session, points: list[dict[str, Any]], read_at: float) -> None:
        key = (session.pk, session.version)
        with self.lock:
            self.entries[key] = (points, read_at)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


chart_windows = ChartWindows()


def _chart_delta(session: models.Session, base: int, new_points: list[dict[str, Any]]) -> list[str]:
    """What turns the page's chart at ``base`` into the newest one: the new bars appended to
    ``#usage-bars``, and the caption, scale and both axes of the whole window. Not the old bars: a
    bar's markup does not depend on the others (charts.bars_html), so ~0.3 KB per exchange instead
    of the whole chart (~35 KB at 120 bars) in every frame to every watcher."""
    window = chart_windows.points(session, base, new_points)
    context = {"session": session, "chart": charts.chart_context(window, bars=new_points)}
    return [
        _partial(DETAIL_TEMPLATE, "usage-chart-caption", context),
        _partial(DETAIL_TEMPLATE, "usage-chart-scale", context),
        _partial(DETAIL_TEMPLATE, "usage-chart-yaxis", context),
        _partial(DETAIL_TEMPLATE, "usage-chart-axis", context),
        format_html('<div hx-swap-oob="beforeend:#{}">', "usage-bars")
        + context["chart"]["bars_html"]
        + "</div>",
    ]


def _row(
    session: models.Session, position: int, can_edit: bool, message: models.Message | None = None
) -> str:
    context = presenters.message_row_context(session, position, can_edit=can_edit, message=message)
    return _partial(DETAIL_TEMPLATE, "message-row", context)


def _rows(session: models.Session, start: int, stop: int, can_edit: bool) -> str:
    """The rows at indexes start..stop-1, read in one query."""
    messages = messages_between(session.pk, start, stop, session.message_count)
    return "".join(_row(session, m.position, can_edit, m) for m in messages)


def render_detail_event(session_id: str, event_version: int, level: str) -> Update:
    """The update that takes a page from ``event_version - 1`` to the newest committed version."""
    pk, can_edit = uuid.UUID(session_id), level == EDIT
    with consistent_read():
        session = get_session(pk)
        newest = session.version
        changes = list(
            models.SessionEvent.objects.filter(session_id=pk, version__gte=event_version, version__lte=newest)
            .order_by("version")
            .values_list("op", "args__index", "version", "created_at", "args__usage")
        )
        ops = [op for op, *_ in changes]
        base = event_version - 1
        if not changes or newest < event_version:
            return Update("stale", session_id, newest, envelope("stale", session_id, newest))
        parts = [
            envelope("delta", session_id, newest, base, session.message_count),
            _header(session, can_edit),
        ]
        new_points = [
            point
            for op, _, version, created_at, usage in changes
            if OPS[op].charted and (point := usage_queries.usage_point(version, created_at, op, usage))
        ]
        if new_points:  # (a usage op without numbers, set_usage(None), draws nothing)
            parts.extend(_chart_delta(session, base, new_points))
        else:
            chart_windows.advance(session, base, new_points)  # the chart is unchanged at this version
        watches = [OPS[op].watch for op in ops]
        if all(watch.kind == "appended" for watch in watches):
            # Rows at the end only (or none: the header and the chart): they are sent as they are.
            added = sum(watch.rows for watch in watches)
            first = session.message_count - added
            rows = _rows(session, first, session.message_count, can_edit)
            if rows and first > 0:
                # The former last row again, by id: it gains the ↓ button it had no place for.
                parts.append(_row(session, first - 1, can_edit))
            if rows:
                # A <div>, not a <template>: htmx's ws oob swap moves the wrapper's child nodes.
                parts.append(
                    format_html(
                        '<div hx-swap-oob="beforeend:#{}" data-first="{}" data-count="{}">',
                        MESSAGE_LIST_ID,
                        first,
                        added,
                    )
                    + rows
                    + "</div>"
                )
        elif [watch.kind for watch in watches] == ["replaced"] and isinstance(changes[0][1], int):
            parts.append(_row(session, changes[0][1], can_edit))
        else:
            return Update("stale", session_id, newest, envelope("stale", session_id, newest))
        return Update("delta", session_id, newest, "".join(parts))


def render_detail_snapshot(session_id: str, level: str, page: int | None) -> Update:
    """Header, the window ``page`` of the message list (None = the last window) and the chart."""
    pk, can_edit = uuid.UUID(session_id), level == EDIT
    with consistent_read():
        session = get_session(pk)
        window = window_for(session.message_count, page=page if page is not None else 10**9)
        context = presenters.message_list_context(session, can_edit=can_edit, page=window.page)
        html = "".join(
            [
                envelope("snapshot", session_id, session.version, count=session.message_count),
                _header(session, can_edit),
                _partial(DETAIL_TEMPLATE, "message-list", context),
                _chart(session),
            ]
        )
        return Update("snapshot", session_id, session.version, html)


def render_list_row(session_id: str, level: str) -> Update:
    with consistent_read():
        context = presenters.session_row_context(session_id, can_edit=level == EDIT)
        version = context["row"].session.version
        html = envelope("row", session_id, version) + _partial(LIST_TEMPLATE, "session-row", context)
        return Update("row", session_id, version, html)


def session_versions(session_ids: list[str]) -> dict[str, int]:
    ids = [uuid.UUID(s) for s in session_ids]
    return {str(pk): v for pk, v in models.Session.objects.filter(pk__in=ids).values_list("pk", "version")}


def session_version(session_id: str) -> int | None:
    return models.Session.objects.filter(pk=session_id).values_list("version", flat=True).first()


# ---------------------------------------------------------------- one render (or check) per key per process


def clear_cache() -> None:
    sharing.clear()
    with chart_windows.lock:
        chart_windows.entries.clear()


def presence_html(watchers: list[dict[str, Any]], me: int) -> str:
    """``live-presence``: the other people watching this session (built per watcher: it leaves out "me")."""
    others = [w for w in watchers if w["id"] != me]
    if others:
        items = format_html_join("", '<li data-user-id="{}">{}</li>', ((w["id"], w["name"]) for w in others))
    else:
        items = format_html('<li class="presence-none">{}</li>', "Nobody else is watching.")
    return ascii_html(
        format_html(
            '<template data-live="presence"></template>'
            '<ul id="live-presence" class="presence" aria-label="Also watching" data-count="{}">{}</ul>',
            len(others),
            items,
        )
    )


def tick_seconds() -> float:
    """How often each socket re-checks its user, its groups, presence and the session version."""
    return float(settings.ZYN_LIVE_TICK_SECONDS)

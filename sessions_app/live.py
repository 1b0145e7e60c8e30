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

import asyncio
import contextlib
import os
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils.html import format_html, format_html_join

from sessions_app import models, selectors

DETAIL_TEMPLATE = "sessions_app/session_detail.html"
LIST_TEMPLATE = "sessions_app/session_list.html"
MESSAGE_LIST_ID = "message-list"  # the <ol> of ``message-list``; its <li> are ``message-row``s

APPEND_OPS = {"append": 1, "record_exchange": 2, "set_usage": 0}  # ops that only add at the end
USAGE_OPS = set(selectors.USAGE_OPS)
CACHE_SIZE = 512

VIEW, EDIT = "view", "edit"


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
    return html if html.isascii() else html.encode("ascii", "xmlcharrefreplace").decode("ascii")


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
    if user.has_perm("sessions_app.change_session"):
        return EDIT
    if user.has_perm("sessions_app.view_session"):
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


# Each takes the Session the render read first (selectors.get_session passes it through): one query
# for the session per render, and every partial shows the same version of it.
def _header(session: models.Session, can_edit: bool) -> str:
    return _partial(
        DETAIL_TEMPLATE, "session-header", selectors.session_header_context(session, can_edit=can_edit)
    )


def _chart(session: models.Session) -> str:
    return _partial(DETAIL_TEMPLATE, "usage-chart", selectors.usage_chart_context(session))


def _chart_delta(session: models.Session, new_points: list[dict[str, Any]]) -> list[str]:
    """What turns the page's chart into the newest one: the new bars appended to ``#usage-bars``, and
    the caption, scale and time axis of the whole window (one aggregate read). Not the old bars: a bar's
    markup does not depend on the others (selectors.bars_html), so ~0.3 KB per exchange instead of the
    whole chart (~35 KB at 120 bars) in every frame to every watcher."""
    window = selectors.usage_window(session.pk, session.version)
    context = {"session": session, "chart": selectors.chart_context(**window, bars=new_points)}
    return [
        _partial(DETAIL_TEMPLATE, "usage-chart-caption", context),
        _partial(DETAIL_TEMPLATE, "usage-chart-scale", context),
        _partial(DETAIL_TEMPLATE, "usage-chart-axis", context),
        format_html('<div hx-swap-oob="beforeend:#{}">', "usage-bars")
        + context["chart"]["bars_html"]
        + "</div>",
    ]


def _row(session: models.Session, position: int, can_edit: bool) -> str:
    context = selectors.message_row_context(session, position, can_edit=can_edit)
    return _partial(DETAIL_TEMPLATE, "message-row", context)


def render_detail_event(session_id: str, event_version: int, level: str) -> Update:
    """The update that takes a page from ``event_version - 1`` to the newest committed version."""
    pk, can_edit = uuid.UUID(session_id), level == EDIT
    with consistent_read():
        session = selectors.get_session(pk)
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
            if op in USAGE_OPS and (point := selectors.usage_point(version, created_at, op, usage))
        ]
        if new_points:  # (a usage op without numbers, set_usage(None), draws nothing)
            parts.extend(_chart_delta(session, new_points))
        if all(op in APPEND_OPS for op in ops):
            added = sum(APPEND_OPS[op] for op in ops)
            first = session.message_count - added
            rows = "".join(_row(session, p, can_edit) for p in range(first, session.message_count))
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
        elif ops == ["replace"] and isinstance(changes[0][1], int):
            parts.append(_row(session, changes[0][1], can_edit))
        else:
            return Update("stale", session_id, newest, envelope("stale", session_id, newest))
        return Update("delta", session_id, newest, "".join(parts))


def render_detail_snapshot(session_id: str, level: str, page: int | None) -> Update:
    """Header, the window ``page`` of the message list (None = the last window) and the chart."""
    pk, can_edit = uuid.UUID(session_id), level == EDIT
    with consistent_read():
        session = selectors.get_session(pk)
        window = selectors.window_for(session.message_count, page=page if page is not None else 10**9)
        context = selectors.message_list_context(session, can_edit=can_edit, page=window.page)
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
        context = selectors.session_row_context(session_id, can_edit=level == EDIT)
        version = context["row"].session.version
        html = envelope("row", session_id, version) + _partial(LIST_TEMPLATE, "session-row", context)
        return Update("row", session_id, version, html)


def session_versions(session_ids: list[str]) -> dict[str, int]:
    ids = [uuid.UUID(s) for s in session_ids]
    return {str(pk): v for pk, v in models.Session.objects.filter(pk__in=ids).values_list("pk", "version")}


def session_version(session_id: str) -> int | None:
    return models.Session.objects.filter(pk=session_id).values_list("version", flat=True).first()


# ---------------------------------------------------------------- one render per key per process

_caches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, OrderedDict[tuple, asyncio.Future]] = (
    weakref.WeakKeyDictionary()
)
stats = {"renders": 0, "shared": 0}


async def shared_render(key: tuple, render: Callable[..., Update], *args: Any) -> Update:
    """Render once per ``key`` in this process; concurrent and later callers share the result.

    A failed render is not kept, so the next event retries it.
    """
    if os.environ.get("ZYN_LIVE_SHARED_RENDER", "1") == "0":  # for bench/bench_fanout.py's comparison
        stats["renders"] += 1
        return await database_sync_to_async(render)(*args)
    loop = asyncio.get_running_loop()
    cache = _caches.setdefault(loop, OrderedDict())
    future = cache.get(key)
    if future is None:
        stats["renders"] += 1
        future = asyncio.ensure_future(database_sync_to_async(render)(*args))
        cache[key] = future
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)

        def forget_failure(done: asyncio.Future) -> None:
            if done.cancelled() or done.exception() is not None:
                if cache.get(key) is done:
                    del cache[key]

        future.add_done_callback(forget_failure)
    else:
        stats["shared"] += 1
    # shield: one watcher disconnecting mid-render must not cancel the render the others await.
    return await asyncio.shield(future)


def clear_cache() -> None:
    _caches.clear()


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
    return float(os.environ.get("ZYN_LIVE_TICK_SECONDS", "15"))


def is_uuid(text: object) -> bool:
    try:
        uuid.UUID(str(text))
    except ValueError:
        return False
    return True

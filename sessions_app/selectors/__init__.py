"""Read queries for the dashboard pages, and the context builders of their partials.

The context builders take only ids and the permission level, so another module (the live feeds)
can render the same partials (``session-header``, ``message-list``, ``message-row``,
``usage-chart``, ``session-row``) without a request.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Substr
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from sessions_app import models
from sessions_app.domain.ids import as_uuid, session_not_found
from sessions_app.domain.types import Role
from sessions_app.selectors import search
from sessions_app.web.display import display_text, json_value_text

WINDOW_SIZE = 100  # messages per window on the detail page
LIST_PAGE_SIZE = 50  # sessions per page on the list
PREVIEW_CHARS = 140  # last-message preview on the list
CHART_MAX_EXCHANGES = 120  # bars in the usage chart (the most recent ones)
USAGE_OPS = ("record_exchange", "set_usage", "import")  # (an import's usage is its last exchange's)
ROLE_NAMES = tuple(role.value for role in Role)


# ---------------------------------------------------------------- session list


@dataclass(frozen=True)
class ListFilters:
    q: str = ""
    key: str = ""
    value: str = ""
    since: date | None = None
    until: date | None = None
    page: int = 1

    def is_filtered(self) -> bool:
        return bool(self.q or self.key or self.since or self.until)

    def query_items(self, **overrides: Any) -> dict[str, str]:
        values = {
            "q": self.q,
            "key": self.key,
            "value": self.value,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "page": str(self.page) if self.page > 1 else "",
        }
        values.update({k: str(v) for k, v in overrides.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}


def search_sessions(filters: ListFilters, *, upto: int | None = None) -> QuerySet[models.Session]:
    """Sessions matching the filters, most recently updated first (``upto``: only that many are needed)."""
    sessions = models.Session.objects.all()
    if filters.key:
        if filters.value:
            # KeyTextTransform takes the key as a value, never as lookup syntax ("a__b" stays one key).
            # The Cast makes the comparison plain text on SQLite too (not a JSON comparison).
            meta_value = Cast(KeyTextTransform(filters.key, "metadata"), output_field=TextField())
            sessions = sessions.annotate(_meta_value=meta_value).filter(_meta_value=filters.value)
        else:
            sessions = sessions.filter(metadata__has_key=filters.key)
    tz = timezone.get_current_timezone()
    if filters.since:
        sessions = sessions.filter(updated_at__gte=datetime.combine(filters.since, time.min, tz))
    if filters.until:
        sessions = sessions.filter(
            updated_at__lt=datetime.combine(filters.until + timedelta(days=1), time.min, tz)
        )
    if filters.q:
        # The words last: the search merges branches in list order, each with the other filters applied.
        return search.search_sessions(sessions, filters.q, upto=upto)
    return sessions.order_by(*search.ORDER)


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
    """Rows with their last-message preview: one query for the whole page, never one per row.

    ``hits``: where a search found its words; those rows show that message instead (no preview read).
    """
    hits = hits or {}
    # One probe of the unique (session, position) index per row, OR-ed into one query. (A join on
    # session.message_count instead lets the planner hash-join the whole session table when one
    # page holds a very long session.)
    wanted = Q()
    for s in sessions:
        if s.message_count and s.pk not in hits:
            wanted |= Q(session_id=s.pk, position=s.message_count - 1)
    last: dict[uuid.UUID, tuple[str, str]] = {}
    if wanted:
        found = (
            models.Message.objects.filter(wanted)
            .order_by()
            .annotate(preview=Substr("content", 1, PREVIEW_CHARS + 1))
            .values_list("session_id", "role", "preview")
        )
        last = {sid: (role, preview) for sid, role, preview in found}
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
    """The list page: one page of rows. No COUNT(*): one extra row tells whether a next page exists."""
    offset = (filters.page - 1) * LIST_PAGE_SIZE
    upto = offset + LIST_PAGE_SIZE + 1
    page = list(search_sessions(filters, upto=upto)[offset:upto])
    has_next = len(page) > LIST_PAGE_SIZE
    shown = page[:LIST_PAGE_SIZE]
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


def get_session(session_id: uuid.UUID | str | models.Session) -> models.Session:
    """The session, by id; a Session already read (by the caller, in its snapshot) is used as it is.

    sessions_app.live.updates reads the session once per render and passes it to every context builder:
    one query instead of one per partial (each a round trip that waits for the GIL under load).
    """
    if isinstance(session_id, models.Session):
        session_id.ver = str(session_id.version)
        return session_id
    pk = as_uuid(session_id)
    session = models.Session.objects.filter(pk=pk).first() if pk else None
    if session is None:
        raise session_not_found(session_id)
    # Pre-formatted for templates: Django localises every int it prints, which adds up over 100 rows.
    session.ver = str(session.version)
    return session


@dataclass(frozen=True)
class Window:
    """A page of WINDOW_SIZE messages: positions [start, stop)."""

    page: int
    count: int  # messages in the session

    @property
    def size(self) -> int:
        return WINDOW_SIZE

    @property
    def start(self) -> int:
        return self.page * WINDOW_SIZE

    @property
    def stop(self) -> int:
        return min(self.start + WINDOW_SIZE, self.count)

    @property
    def last_page(self) -> int:
        return max(0, (self.count - 1) // WINDOW_SIZE)

    @property
    def page_count(self) -> int:
        return self.last_page + 1

    @property
    def has_prev(self) -> bool:
        return self.page > 0

    @property
    def has_next(self) -> bool:
        return self.page < self.last_page

    @property
    def prev_page(self) -> int:
        return self.page - 1

    @property
    def next_page(self) -> int:
        return self.page + 1


def window_for(count: int, *, page: int | None = None, at: int | None = None) -> Window:
    """The window showing message ``at`` (or page ``page``), clamped to the session."""
    last = max(0, (count - 1) // WINDOW_SIZE)
    if at is not None:
        page = max(0, min(at, count - 1)) // WINDOW_SIZE if count else 0
    page = min(max(page or 0, 0), last)
    return Window(page=page, count=count)


def _with_positions(rows: list[models.Message], count: int) -> list[models.Message]:
    """Positions as ready strings (pos, and up/down for the move buttons; None at the ends)."""
    for m in rows:
        m.pos = str(m.position)
        m.up = str(m.position - 1) if m.position > 0 else None
        m.down = str(m.position + 1) if m.position < count - 1 else None
    return rows


def message_window(session_id: uuid.UUID, window: Window) -> list[models.Message]:
    return messages_between(session_id, window.start, window.stop, window.count)


def messages_between(session_id: uuid.UUID, start: int, stop: int, count: int) -> list[models.Message]:
    """The messages at positions start..stop-1 of a session of ``count`` messages, in order."""
    # The range scan uses the unique (session, position) index: constant cost at any depth.
    rows = models.Message.objects.filter(
        session_id=session_id, position__gte=start, position__lt=stop
    ).order_by("position")
    return _with_positions(list(rows), count)


def _usage_events(session_id: uuid.UUID, upto_version: int | None = None) -> QuerySet:
    """The events that draw a bar (usage set to numbers), newest first; at most the chart's window."""
    events = models.SessionEvent.objects.filter(
        session_id=session_id, op__in=USAGE_OPS, args__usage__has_key="total"
    )
    if upto_version is not None:
        events = events.filter(version__lte=upto_version)
    return events.order_by("-version")[:CHART_MAX_EXCHANGES]


def usage_point(version: int, created_at: datetime, op: str, usage: Any) -> dict[str, Any] | None:
    """One bar's numbers from an event's ``usage`` arg; None when it draws no bar (``set_usage(None)``)."""
    if not isinstance(usage, dict):
        return None
    try:
        prompt, completion, total = (int(usage[k]) for k in ("prompt", "completion", "total"))
    except (KeyError, TypeError, ValueError):
        return None
    return {
        "version": version,
        "at": created_at,
        "op": op,
        "prompt": prompt,
        "completion": completion,
        "total": total,
    }


def usage_points(session_id: uuid.UUID, upto_version: int | None = None) -> list[dict[str, Any]]:
    """Usage per exchange from the event log, oldest first (the most recent CHART_MAX_EXCHANGES)."""
    # Only the usage key is read from args: record_exchange args also hold the prompt and response.
    rows = _usage_events(session_id, upto_version).values_list("version", "created_at", "op", "args__usage")
    points = [p for p in (usage_point(*row) for row in rows) if p is not None]
    points.reverse()
    return points


def _bar_height(p: dict[str, Any]) -> int:
    return max(p["total"], p["prompt"] + p["completion"])


# The y-axis: 0 and Y_INTERVALS equal steps up to the axis top, a round number at or above the peak.
# The CSS draws the grid lines and places the labels for exactly this many intervals.
Y_INTERVALS = 4
_NICE_STEPS = (10, 12, 15, 20, 25, 30, 40, 50, 60, 80)  # × 10^k / 10: 1, 1.2, 1.5 … 8 × a power of ten
# A bar takes 1/max(n, CHART_MIN_SLOTS) of the plot's width (also in the CSS, .usage-bars): one exchange
# is a bar, not a slab across the chart.
CHART_MIN_SLOTS = 12
X_LABELS = 6  # time labels under the bars, at most
_SUFFIXES = ((10**18, "E"), (10**15, "P"), (10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "k"))


def axis_top(peak: int) -> int:
    """The smallest Y_INTERVALS × step ≥ peak whose step is 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10^k."""
    power = 1
    while True:
        for nice in _NICE_STEPS:
            if (nice * power) % 10 == 0 and Y_INTERVALS * (nice * power // 10) >= max(peak, 1):
                return Y_INTERVALS * (nice * power // 10)
        power *= 10


def token_label(n: int) -> str:
    """A tick's number, short: 950, 1.2k, 15k, 2.5M, 9.2E (integers only: any size, no float)."""
    for size, suffix in _SUFFIXES:
        if n >= size:
            tenths = n * 10 // size
            if tenths >= 10_000:  # past 999 of the largest suffix: 1.2e21 (digits, so no float overflow)
                digits = str(n)
                return f"{digits[0]}.{digits[1]}e{len(digits) - 1}"
            whole, tenth = divmod(tenths, 10)
            return f"{whole}{suffix}" if tenth == 0 or whole >= 100 else f"{whole}.{tenth}{suffix}"
    return str(n)


def _x_ticks(points: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """Labels under some bars (first, last and evenly between) and a note on the time they span.

    The labels read as times at the resolution the span needs: seconds within ten minutes, so
    exchanges of one minute are told apart; when two labels would still read the same (exchanges in
    one second), they are the exchanges' numbers, and each bar's tooltip has its time."""
    n = len(points)
    if not n:
        return [], ""
    picks = sorted({round(k * (n - 1) / (X_LABELS - 1)) for k in range(X_LABELS)})
    first, last = (timezone.localtime(points[i]["at"]) for i in (0, -1))
    span = (last - first).total_seconds()
    fmt = "%H:%M:%S" if span < 600 else "%H:%M" if span < 86_400 else "%b %-d, %H:%M"
    labels = [timezone.localtime(points[i]["at"]).strftime(fmt) for i in picks]
    if len(set(labels)) < len(labels):
        labels = [f"#{i + 1}" for i in picks]
    slots = max(n, CHART_MIN_SLOTS)
    ticks = []
    for i, label in zip(picks, labels, strict=True):
        left = (i + 0.5) * 100 / slots
        ticks.append(
            {
                "left": f"{left:.2f}",
                "label": label,
                "at": points[i]["at"],
                "anchor": "start" if left < 8 else "end" if left > 92 else "middle",
                "minor": i not in (0, n - 1),
            }
        )
    whole = f"{first:%b %-d, %H:%M:%S}" + (f" – {last:%H:%M:%S}" if n > 1 else "")
    if n > 1 and first.date() != last.date():
        whole = f"{first:%b %-d, %H:%M} – {last:%b %-d, %H:%M}"
    note = f"{n} exchange{'s' if n != 1 else ''}" + (f" in {_duration(span)}" if n > 1 else "")
    return ticks, f"{note} · {whole}"


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    if s < 86_400:
        return f"{s // 3600} h {s % 3600 // 60} min" if s % 3600 // 60 else f"{s // 3600} h"
    return f"{s // 86_400} d {s % 86_400 // 3600} h" if s % 86_400 // 3600 else f"{s // 86_400} d"


def chart_context(points: list[dict[str, Any]], bars: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What the ``usage-chart`` partial (and its caption, scale and axis parts) renders.

    ``points`` is the chart's window (usage_points); ``bars`` the bars to render, all of the window
    unless given (a live delta renders only the new ones: sessions_app.live.updates).
    """
    peak = max((_bar_height(p) for p in points), default=0)
    top = axis_top(peak)
    x_ticks, span_note = _x_ticks(points)
    return {
        "count": len(points),
        "peak": peak,
        "scale": top,  # the y-axis top: the CSS draws a bar's parts as a share of it
        "y_ticks": [token_label(top * k // Y_INTERVALS) for k in range(Y_INTERVALS + 1)] if points else [],
        "x_ticks": x_ticks,
        "span_note": span_note,
        "first_at": points[0]["at"] if points else None,
        "last_at": points[-1]["at"] if points else None,
        "bars_html": bars_html(points if bars is None else bars),
        "max_bars": CHART_MAX_EXCHANGES,
    }


def usage_chart(session_id: uuid.UUID) -> dict[str, Any]:
    """The chart of the last CHART_MAX_EXCHANGES exchanges: one stacked prompt/completion bar each."""
    return chart_context(usage_points(session_id))


def bars_html(points: list[dict[str, Any]]) -> SafeString:
    """One ``<li>`` per bar of ``#usage-bars``: the numbers as CSS variables, the tooltip as its title.

    The CSS (static/sessions_app/app.css, ``.usage-bars``) draws the bars from ``--p``, ``--c``, ``--t``
    and the chart's ``--peak``, and lays them out in order: a bar's markup does not depend on the others,
    so a live delta appends new bars without re-sending the old ones. Built here rather than in a template
    loop (~0.5 µs a bar instead of ~50 µs): numbers as str(), the title escaped.
    """
    return mark_safe(  # noqa: S308 - integers and an escaped title only
        "".join(
            f'<li style="--p:{p["prompt"]};--c:{p["completion"]};--t:{p["total"]}" title="'
            + escape(
                f"v{p['version']} · {timezone.localtime(p['at']).strftime('%Y-%m-%d %H:%M:%S')} · "
                f"prompt {p['prompt']} / completion {p['completion']} / total {p['total']}"
            )
            + '"><i></i></li>'
            for p in points
        )
    )


def usage_chart_context(session_id: uuid.UUID | str | models.Session) -> dict[str, Any]:
    session = get_session(session_id)
    return {"session": session, "chart": usage_chart(session.pk)}


def session_header_context(session_id: uuid.UUID | str | models.Session, *, can_edit: bool) -> dict[str, Any]:
    return {"session": get_session(session_id), "can_edit": can_edit}


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


@dataclass(frozen=True)
class MatchNav:
    """The detail page's search: which messages match ``q``, and the ones before and after ``at``."""

    q: str
    positions: list[int]
    at: int | None

    @property
    def count(self) -> int:
        return len(self.positions)

    @property
    def current(self) -> int | None:
        """1-based number of the match at ``at``, if ``at`` is one."""
        i = bisect_left(self.positions, self.at) if self.at is not None else -1
        return i + 1 if 0 <= i < len(self.positions) and self.positions[i] == self.at else None

    @property
    def prev(self) -> int | None:
        if self.at is None:
            return None
        i = bisect_left(self.positions, self.at)
        return self.positions[i - 1] if i > 0 else None

    @property
    def next(self) -> int | None:
        i = bisect_right(self.positions, self.at) if self.at is not None else 0
        return self.positions[i] if i < len(self.positions) else None

    def query_at(self, index: int | None) -> str:
        return urlencode({"q": self.q, "at": index}) if index is not None else ""

    @property
    def prev_query(self) -> str:
        return self.query_at(self.prev)

    @property
    def next_query(self) -> str:
        return self.query_at(self.next)

    @property
    def q_query(self) -> str:
        """``&q=…`` for the links that page through the messages: the words stay marked."""
        return "&" + urlencode({"q": self.q})


def mark_search_words(rows: list[models.Message], nav: MatchNav, full: int | None) -> int | None:
    """Give the matching rows among ``rows`` their content view with the words marked (``m.marked``,
    which the content_view filter shows). Returns ``full``, or the row at ``nav.at`` when its words are
    past the fold of its content (it is then shown whole, so the operator who followed a match sees it)."""
    from sessions_app.templatetags.dashboard import content_view

    matching = set(nav.positions)
    hits = [m for m in rows if m.position in matching]
    for m in hits:
        view = _marked(content_view(m, full), nav.q)
        if m.position == nav.at and view.folded and "<mark>" not in _shown(view) and full is None:
            full = m.position
            view = _marked(content_view(m, full), nav.q)
        m.marked = view
    return full


def _marked(view: Any, q: str) -> Any:
    """``view`` with the search words marked in every part it shows. Highlighted JSON (a whole answer, or a
    prompt's schema) is shown as plain text while it is marked: the marks cannot go inside the highlighter's
    markup, and the operator came for the words."""
    schema = view.schema
    text, schema_text, tail = search.mark_words([view.text, schema.text if schema else "", view.tail], q)
    if schema is not None:
        schema = replace(schema, text=schema_text, html=None, open=schema.open or "<mark>" in schema_text)
    return replace(view, text=text, json=None, schema=schema, tail=tail)


def _shown(view: Any) -> str:
    return view.text + (view.schema.text if view.schema else "") + view.tail


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
    rows = message_window(session.pk, window)
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
    rows = message_window(session.pk, window)
    nav = None
    if search.is_word_search(q):
        in_window = search.matching_positions(session.pk, q, start=window.start, stop=window.stop)
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
    """Context of one ``message-row``; raises SessionNotFound / IndexError when it does not exist.

    ``message``: the row at ``index``, when the caller has read it already (with others, in one query).
    """
    from sessions_app.domain.errors import IndexOutOfRange

    session = get_session(session_id)
    if message is None:
        message = models.Message.objects.filter(session_id=session.pk, position=index).order_by().first()
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


# ---------------------------------------------------------------- previews of bulk removals


def _boundary(session_id: uuid.UUID, labelled: list[tuple[str, int]]) -> list[dict[str, Any]]:
    positions = [p for _, p in labelled]
    found = {
        m.position: m
        for m in models.Message.objects.filter(session_id=session_id, position__in=positions)
        .order_by()
        .annotate(preview=Substr("content", 1, PREVIEW_CHARS + 1))
    }
    out = []
    for label, position in labelled:
        m = found.get(position)
        if m is not None:
            text = " ".join(m.preview.split())
            out.append(
                {
                    "label": label,
                    "position": position,
                    "role": m.role,
                    "preview": text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…",
                }
            )
    return out


def truncate_preview(session: models.Session, keep_first: int, keep_last: int) -> dict[str, Any]:
    """What truncate(keep_first, keep_last) would leave, with the messages at the cut."""
    length = session.message_count
    if keep_first + keep_last >= length:
        removed, tail_start = 0, length
    else:
        tail_start = length - keep_last
        removed = tail_start - keep_first
    labelled: list[tuple[str, int]] = []
    if removed:
        if keep_first:
            labelled.append(("last kept at the start", keep_first - 1))
        labelled.append(("first removed", keep_first))
        if removed > 1:
            labelled.append(("last removed", tail_start - 1))
        if keep_last:
            labelled.append(("first kept at the end", tail_start))
    return {
        "action": "truncate",
        "version": session.version,
        "length": length,
        "removed": removed,
        "remaining": length - removed,
        "keep_first": keep_first,
        "keep_last": keep_last,
        "removed_from": keep_first,
        "removed_to": tail_start - 1,
        "boundary": _boundary(session.pk, labelled),
    }


def prune_preview(session: models.Session, n: int) -> dict[str, Any]:
    """What prune(n) would leave: the last n exchanges (2n messages) removed."""
    length = session.message_count
    removed = min(2 * n, length)
    keep = length - removed
    labelled: list[tuple[str, int]] = []
    if removed:
        if keep:
            labelled.append(("last kept", keep - 1))
        labelled.append(("first removed", keep))
        if removed > 1:
            labelled.append(("last removed", length - 1))
    return {
        "action": "prune",
        "version": session.version,
        "length": length,
        "removed": removed,
        "remaining": keep,
        "n": n,
        "removed_from": keep,
        "removed_to": length - 1,
        "boundary": _boundary(session.pk, labelled),
    }

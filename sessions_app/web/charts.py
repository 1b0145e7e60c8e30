"""The usage chart: its axes, labels and bars from the usage points (sessions_app.selectors.usage).

A live delta renders only the new bars and the chart's caption, scale and axes (sessions_app.live.updates).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from sessions_app.selectors.usage import CHART_MAX_EXCHANGES, usage_points


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

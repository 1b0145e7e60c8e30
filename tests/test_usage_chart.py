"""The usage chart reads as a chart (y-axis, bar widths, total marker, time axis)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from sessions_app.domain.types import TokenUsage
from sessions_app.models import SessionEvent
from sessions_app.services import SessionService
from sessions_app.web import charts

T0 = datetime(2026, 3, 4, 14, 2, 11, tzinfo=UTC)
BIGGEST = 2**63 - 1  # the largest count a usage field holds


def points(n: int, step: timedelta = timedelta(seconds=4), size: int = 100) -> list[dict]:
    return [
        {
            "version": 2 * i + 1,
            "at": T0 + i * step,
            "op": "record_exchange",
            "prompt": size + i,
            "completion": size // 4,
            "total": size + i + size // 4,
        }
        for i in range(n)
    ]


def render_chart(chart: dict) -> str:
    return render_to_string("sessions_app/session_detail.html#usage-chart", {"chart": chart})


def y_labels(markup: str) -> list[str]:
    axis = re.search(r'<div id="usage-chart-yaxis"[^>]*>(.*?)</div>', markup).group(1)
    return re.findall(r"<span>([^<]*)</span>", axis)


def x_labels(markup: str) -> list[tuple[str, str]]:
    return re.findall(
        r'<time class="tick ([a-z ]+)" datetime="[^"]+" style="left:[\d.]+%">([^<]+)</time>', markup
    )


def test_the_axis_top_is_a_round_number_at_or_above_the_peak():
    assert [charts.axis_top(p) for p in (0, 1, 4, 5, 11, 99, 100, 1047, 2049, 123_456)] == [
        4, 4, 4, 8, 12, 100, 100, 1200, 2400, 160_000,
    ]  # fmt: skip
    for peak in (*range(0, 3000, 7), 10**9 + 1, BIGGEST, 2 * BIGGEST):
        top = charts.axis_top(peak)
        step = top // charts.Y_INTERVALS
        assert top >= peak and top % charts.Y_INTERVALS == 0 and top < max(peak, 4) * 1.5 + 4
        assert int(str(step)[:2].ljust(2, "0")) in (10, 12, 15, 20, 25, 30, 40, 50, 60, 80)


def test_tick_labels_are_short_for_any_count():
    assert [charts.token_label(n) for n in (0, 950, 1000, 1200, 15_000, 250_000, 2_500_000)] == [
        "0", "950", "1k", "1.2k", "15k", "250k", "2.5M",
    ]  # fmt: skip
    assert charts.token_label(3 * 10**9) == "3B" and charts.token_label(BIGGEST) == "9.2E"
    assert charts.token_label(10**400) == "1.0e400"  # no float: a number of any size


def test_the_y_axis_labels_the_four_intervals_up_to_its_top():
    chart = charts.chart_context(points(3, size=1000))
    assert chart["peak"] == 1252 and chart["scale"] == 1600
    assert chart["y_ticks"] == ["0", "400", "800", "1.2k", "1.6k"]
    markup = render_chart(chart)
    assert y_labels(markup) == chart["y_ticks"] and 'style="--peak:1600"' in markup


def test_no_exchanges_draw_an_empty_chart_without_axes():
    chart = charts.chart_context([])
    markup = render_chart(chart)
    assert chart["y_ticks"] == [] and chart["x_ticks"] == [] and "No usage recorded yet." in markup
    assert y_labels(markup) == [] and x_labels(markup) == []
    assert re.search(r'<ol id="usage-bars"[^>]*></ol>', markup)  # empty: a live delta appends into it


def test_one_exchange_is_a_bar_in_the_first_of_twelve_slots_labelled_with_its_time():
    chart = charts.chart_context(points(1))
    assert [(t["label"], t["left"], t["anchor"]) for t in chart["x_ticks"]] == [("14:02:11", "4.17", "start")]
    assert chart["span_note"] == "1 exchange · Mar 4, 14:02:11"


def test_exchanges_within_a_minute_are_labelled_to_the_second():
    chart = charts.chart_context(points(3, step=timedelta(seconds=20)))
    assert [t["label"] for t in chart["x_ticks"]] == ["14:02:11", "14:02:31", "14:02:51"]
    assert chart["span_note"] == "3 exchanges in 40 s · Mar 4, 14:02:11 – 14:02:51"
    assert [t["minor"] for t in chart["x_ticks"]] == [False, True, False]


def test_exchanges_in_one_second_are_labelled_by_number():
    chart = charts.chart_context(points(2, step=timedelta(0)))
    assert [t["label"] for t in chart["x_ticks"]] == ["#1", "#2"]
    assert chart["span_note"] == "2 exchanges in 0 s · Mar 4, 14:02:11 – 14:02:11"


def test_a_full_window_has_six_labels_from_the_first_bar_to_the_last():
    chart = charts.chart_context(points(120, step=timedelta(minutes=1)))
    ticks = chart["x_ticks"]
    assert len(ticks) == charts.X_LABELS and ticks[0]["label"] == "14:02" and ticks[-1]["label"] == "16:01"
    assert ticks[0]["left"] == "0.42" and ticks[-1]["left"] == "99.58" and ticks[-1]["anchor"] == "end"
    days = charts.chart_context(points(3, step=timedelta(days=1)))
    assert [t["label"] for t in days["x_ticks"]] == ["Mar 4, 14:02", "Mar 5, 14:02", "Mar 6, 14:02"]
    assert days["span_note"] == "3 exchanges in 2 d · Mar 4, 14:02 – Mar 6, 14:02"


def test_huge_counts_scale_and_label_without_overflow():
    huge = [{**p, "prompt": BIGGEST, "completion": BIGGEST, "total": BIGGEST} for p in points(2)]
    chart = charts.chart_context(huge)
    assert chart["peak"] == 2 * BIGGEST and chart["scale"] >= 2 * BIGGEST
    assert chart["y_ticks"] == ["0", "5E", "10E", "15E", "20E"]
    assert f"--p:{BIGGEST};" in render_chart(chart)


@pytest.mark.django_db
@pytest.mark.parametrize("exchanges", [0, 1, 2, 120])
def test_the_detail_page_draws_the_chart_for_any_number_of_exchanges(exchanges, viewer):
    s = SessionService.new()
    for i in range(exchanges):
        s.record_exchange(f"q{i}", "a", TokenUsage(100 + i, 20, 120 + i))
    SessionEvent.objects.filter(session_id=s.id).update(created_at=T0)  # all in one second
    page = viewer.get(reverse("sessions_app:session_detail", args=[s.id])).content.decode()
    assert page.count('<li style="--p:') == exchanges
    assert len(y_labels(page)) == (5 if exchanges else 0)
    labels = [label for _, label in x_labels(page)]
    expected = {
        0: [],
        1: ["14:02:11"],
        2: ["#1", "#2"],  # in one second: by number (each bar's tooltip has its time)
        120: [f"#{i + 1}" for i in (0, 24, 48, 71, 95, 119)],
    }[exchanges]
    assert labels == expected
    if exchanges:
        assert f"{exchanges} exchange" in page and "tokens per exchange" in page

"""live/updates.py's renders, called directly (the consumers that send them: test_live_consumers.py)."""

from __future__ import annotations

import html

import pytest

from sessions_app.domain.types import TokenUsage
from sessions_app.live import updates as live
from sessions_app.services import SessionService

pytestmark = pytest.mark.django_db(transaction=True)  # renders SET TRANSACTION on PostgreSQL


def test_ascii_html_changes_only_non_ascii_characters():
    assert live.ascii_html('<p title="a·b">x &lt; y</p>') == '<p title="a&#183;b">x &lt; y</p>'
    plain = "<p>only ascii</p>"
    assert live.ascii_html(plain) is plain
    assert html.unescape(live.ascii_html("😀 é\u2028")) == "😀 é\u2028"


def test_a_delta_reads_the_session_once():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    s = SessionService.new(name="queries")
    for i in range(3):
        s.record_exchange(f"q{i}", "a", TokenUsage(i, 1, i + 1))
    version = s.version()
    with CaptureQueriesContext(connection) as queries:
        update = live.render_detail_event(str(s.id), version, live.EDIT)
    assert update.kind == "delta" and 'id="message-5"' in update.html and "#usage-bars" in update.html
    reads = [q["sql"] for q in queries.captured_queries if 'FROM "sessions_app_session"' in q["sql"]]
    assert len(reads) == 1, reads  # header, chart and rows share the one read (and its version)
    with CaptureQueriesContext(connection) as queries:
        live.render_detail_snapshot(str(s.id), live.VIEW, None)
    reads = [q["sql"] for q in queries.captured_queries if 'FROM "sessions_app_session"' in q["sql"]]
    assert len(reads) == 1, reads


def test_a_delta_builds_the_chart_window_from_the_last_one_and_it_matches_the_event_log():
    """live.ChartWindows: a delta's chart window is the previous version's plus the delta's new points
    (no read of the window). After every kind of write (bigger and smaller peaks, set_usage(None), writes
    without usage, the window sliding past its size, deltas covering several versions), it equals the
    window read from the event log, and so does the caption and scale the frame carries."""
    import random
    import re

    from sessions_app.selectors import usage as usage_queries
    from sessions_app.web import charts

    live.clear_cache()
    rng = random.Random(7)
    s = SessionService.new(name="chart window")
    base = s.version()
    live.render_detail_snapshot(str(s.id), live.VIEW, None)  # seeds the window at the page's version
    reads = live.chart_windows.reads
    for step in range(usage_queries.CHART_MAX_EXCHANGES + 40):
        for _ in range(1 if step % 7 else 3):  # now and then one delta covers three writes
            prompt, completion = rng.randrange(0, 5000), rng.randrange(0, 800)
            usage = TokenUsage(prompt, completion, prompt + completion + rng.choice([0, 0, 50]))
            roll = rng.random()
            if roll < 0.1:
                s.set_usage(None)
            elif roll < 0.25:
                s.set_usage(usage)
            elif roll < 0.3:
                s.append("user", "no usage")
            else:
                s.record_exchange("q", "a", usage)
        update = live.render_detail_event(str(s.id), base + 1, live.VIEW)
        assert update.kind == "delta" and update.version == s.version()
        base = update.version
        expected = usage_queries.usage_points(s.id)
        window = live.chart_windows.entries[(s.id, base)][0]
        assert window == expected
        if "usage-chart-caption" in update.html:
            peak = max(max(p["total"], p["prompt"] + p["completion"]) for p in expected)
            assert f'<data id="usage-chart-scale" value="{charts.axis_top(peak)}"' in update.html
            assert 'id="usage-chart-yaxis"' in update.html and 'id="usage-chart-axis"' in update.html
            assert re.search(rf"last {len(expected)} &#183; peak [\d,]+ tokens", update.html)
    assert live.chart_windows.reads == reads, "a delta read the whole window from the database"
    # Carried over for at most reread_seconds (compact_events may delete old events): then read again.
    kept, live.chart_windows.reread_seconds = live.chart_windows.reread_seconds, 0
    try:
        s.record_exchange("q", "a", TokenUsage(1, 2, 3))
        live.render_detail_event(str(s.id), base + 1, live.VIEW)
        assert live.chart_windows.reads == reads + 1
    finally:
        live.chart_windows.reread_seconds = kept


def test_an_append_delta_brings_the_former_last_row_its_down_button():
    """After a live append the former last message has both move buttons, not only its ↑ one."""
    import re

    s = SessionService.new(name="tail")
    for i in range(3):
        s.append("user", f"m{i}")
    s.record_exchange("q", "a", TokenUsage(1, 2, 3))
    update = live.render_detail_event(str(s.id), s.version(), live.EDIT)
    assert update.kind == "delta"
    # The former last row (#2) is replaced by id, now with both move buttons; #3 and #4 are appended.
    appended = update.html.index('data-first="3"')
    former = re.search(r'<li id="message-2" [^>]*>.*?</li>', update.html, re.S)
    assert former and former.start() < appended
    assert 'aria-label="Move #2 up"' in former.group(0) and 'aria-label="Move #2 down"' in former.group(0)
    assert 'id="message-3"' in update.html[appended:] and 'id="message-4"' in update.html[appended:]
    # A viewer's frame has the row too, without controls.
    viewer = live.render_detail_event(str(s.id), s.version(), live.VIEW)
    assert '<li id="message-2" ' in viewer.html and "Move #2" not in viewer.html

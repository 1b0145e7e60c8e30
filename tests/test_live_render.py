"""sessions_app.live's renders, called directly (the consumers that send them: test_live_consumers.py)."""

from __future__ import annotations

import html

import pytest

from sessions_app import live
from sessions_app.services import SessionService, TokenUsage

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

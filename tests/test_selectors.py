"""Dashboard read queries: search and filters, previews that match what the service then does, windows."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sessions_app import models
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.selectors import messages, previews, usage
from sessions_app.selectors import sessions as session_queries
from sessions_app.selectors.sessions import ListFilters, get_session
from sessions_app.services import SessionService
from sessions_app.web import charts, presenters

pytestmark = pytest.mark.django_db


def names(filters: ListFilters) -> set[str]:
    return {s.name for s in session_queries.search_sessions(filters)}


@pytest.fixture
def corpus() -> dict[str, SessionService]:
    made = {
        "billing": SessionService.new(name="billing bot", metadata={"program": "refund-gate", "tier": 1}),
        "export": SessionService.new(
            name="export helper", metadata={"program": "ticket-triage", "env": "prod"}
        ),
        "empty": SessionService.new(name="empty one", metadata={"program": "ticket-triage", "flag": True}),
    }
    made["billing"].set_messages(
        [
            Message("user", "I was charged twice for my subscription"),
            Message("assistant", '{"primary": "billing"}'),
        ]
    )
    made["export"].set_messages([Message("user", "The export button does nothing on Safari 17")])
    return made


def test_search_finds_words_in_message_content(corpus):
    assert names(ListFilters(q="Safari")) == {"export helper"}
    assert names(ListFilters(q="subscription")) == {"billing bot"}
    assert names(ListFilters(q="zebra unicorn")) == set()


def test_search_words_must_occur_together_in_one_message(corpus):
    assert names(ListFilters(q="export Safari")) == {"export helper"}
    assert names(ListFilters(q="Safari subscription")) == set()


def test_search_by_name_and_by_id(corpus):
    assert names(ListFilters(q="empty")) == {"empty one"}
    assert names(ListFilters(q="PORT HEL")) == {"export helper"}  # any part of the name, any case
    assert names(ListFilters(q=str(corpus["billing"].id))) == {"billing bot"}


def test_search_with_quotes_and_operators_is_safe(corpus):
    for q in ['"charged twice"', "billing OR -x", "a & b | !c", "(", "'", "\\"]:
        list(session_queries.search_sessions(ListFilters(q=q)))  # must not raise on any backend


@pytest.mark.postgres
def test_postgres_search_stems_words_over_the_stored_vector_and_its_gin_index(corpus):
    assert names(ListFilters(q="charge")) == {"billing bot"}  # "charged" stems to "charg"
    with connection.cursor() as cursor:
        # PostgreSQL computes the vector from content on every write (migration 0008): no writer sets it.
        cursor.execute(
            "SELECT a.attgenerated, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a"
            " JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
            " WHERE a.attrelid = 'sessions_app_message'::regclass AND a.attname = 'search'"
        )
        generated, expression = cursor.fetchone()
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'sessions_app_message_search'")
        (indexdef,) = cursor.fetchone()
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'sessions_app_message_content_fts'")
        assert cursor.fetchone() is None  # the expression index it replaces
    assert generated == "s" and expression == "to_tsvector('english'::regconfig, COALESCE(content, ''::text))"
    assert indexdef.endswith("USING gin (search)")
    corpus["export"].replace(0, Message("user", "Now it fails on Firefox"))
    assert names(ListFilters(q="Safari")) == set() and names(ListFilters(q="firefox")) == {"export helper"}
    # With sequential scans priced out, the plan shows the GIN index and the trigram index in use.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        plan = session_queries.search_sessions(ListFilters(q="charged"), upto=51).explain()
    assert "sessions_app_message_search" in plan
    assert "sessions_app_session_name_trgm" in plan  # the name branch of the search


def test_metadata_filters(corpus):
    assert names(ListFilters(key="program", value="ticket-triage")) == {"export helper", "empty one"}
    assert names(ListFilters(key="env")) == {"export helper"}
    assert names(ListFilters(key="program__contains", value="x")) == set()  # a key, not lookup syntax
    assert names(ListFilters(key="program", value="ticket-triage", q="Safari")) == {"export helper"}


def test_date_range_filters_on_updated_at(corpus):
    old = timezone.now() - dt.timedelta(days=10)
    models.Session.objects.filter(pk=corpus["empty"].id).update(updated_at=old)
    today = timezone.localdate()
    assert names(ListFilters(since=today)) == {"billing bot", "export helper"}
    assert names(ListFilters(until=old.date())) == {"empty one"}
    assert names(ListFilters(since=old.date(), until=old.date())) == {"empty one"}


def test_list_page_uses_a_constant_number_of_queries(corpus):
    for i in range(30):
        s = SessionService.new(name=f"n{i}")
        s.append("user", f"hello {i}")
    with CaptureQueriesContext(connection) as small:
        presenters.session_list_context(ListFilters(), can_edit=False)
    for i in range(30):
        SessionService.new(name=f"m{i}").append("user", "x")
    with CaptureQueriesContext(connection) as big:
        context = presenters.session_list_context(ListFilters(), can_edit=False)
    assert len(big) == len(small) == 2  # the page, then the previews of that page
    assert len(context["rows"]) == session_queries.LIST_PAGE_SIZE and context["has_next"]
    assert "COUNT(" not in " ".join(q["sql"] for q in big.captured_queries).upper()


def test_rows_carry_the_last_message_preview(corpus):
    long = SessionService.new(name="long")
    long.append("user", "word " * 200)
    rows = {r.session.name: r for r in presenters.session_rows(list(models.Session.objects.all()))}
    assert (
        rows["billing bot"].last_role == "assistant"
        and rows["billing bot"].last_preview == '{"primary": "billing"}'
    )
    assert rows["empty one"].last_preview == "" and ("flag", "true") in rows["empty one"].tags
    assert len(rows["long"].last_preview) == session_queries.PREVIEW_CHARS + 1 and rows[
        "long"
    ].last_preview.endswith("…")


@pytest.mark.parametrize("length", [0, 1, 5, 6])
@pytest.mark.parametrize("keep_first,keep_last", [(0, 0), (1, 2), (2, 0), (0, 3), (4, 4)])
def test_truncate_preview_matches_what_truncate_does(length, keep_first, keep_last):
    s = SessionService.new()
    s.set_messages([Message("user", f"m{i}") for i in range(length)])
    preview = previews.truncate_preview(s.row(), keep_first, keep_last)
    s.truncate(keep_first, keep_last)
    remaining = [m.content for m in s.messages()]
    assert preview["remaining"] == len(remaining) and preview["removed"] == length - len(remaining)
    for b in preview["boundary"]:
        gone = f"m{b['position']}" not in remaining
        assert gone == ("removed" in b["label"]), b


@pytest.mark.parametrize("length,n", [(0, 1), (5, 0), (5, 1), (5, 2), (5, 3), (4, 2)])
def test_prune_preview_matches_what_prune_does(length, n):
    s = SessionService.new()
    s.set_messages([Message("user", f"m{i}") for i in range(length)])
    preview = previews.prune_preview(s.row(), n)
    s.prune(n)
    assert preview["remaining"] == s.len()
    labels = [b["label"] for b in preview["boundary"]]
    if preview["removed"]:
        assert "first removed" in labels and preview["removed_from"] == s.len()


@pytest.mark.parametrize(
    "count,page,at,expected_page,start,stop",
    [
        (0, None, None, 0, 0, 0),
        (250, None, 249, 2, 200, 250),
        (250, 9, None, 2, 200, 250),
        (250, None, 999, 2, 200, 250),
        (100, None, 100, 0, 0, 100),
        (101, None, 100, 1, 100, 101),
    ],
)
def test_window_for_clamps_to_the_session(count, page, at, expected_page, start, stop):
    w = messages.window_for(count, page=page, at=at)
    assert (w.page, w.start, w.stop) == (expected_page, start, stop)


def test_usage_points_come_from_the_event_log_oldest_first():
    s = SessionService.new()
    s.record_exchange("q", "a", TokenUsage(1, 2, 3))
    s.record_exchange("q", "a")  # no usage: no point
    s.set_usage(TokenUsage(4, 5, 9))
    s.set_usage(None)
    points = usage.usage_points(s.id)
    assert [(p["op"], p["total"]) for p in points] == [("record_exchange", 3), ("set_usage", 9)]


def bar_totals(html: str) -> list[int]:
    return [int(t) for t in re.findall(r"--t:(\d+)", html)]


def test_usage_chart_keeps_the_most_recent_exchanges():
    s = SessionService.new()
    for i in range(usage.CHART_MAX_EXCHANGES + 5):
        s.record_exchange("q", "a", TokenUsage(i, 1, i + 1))
    chart = charts.usage_chart(s.id)
    assert chart["count"] == usage.CHART_MAX_EXCHANGES
    assert bar_totals(chart["bars_html"]) == list(range(6, usage.CHART_MAX_EXCHANGES + 6))
    assert chart["peak"] == usage.CHART_MAX_EXCHANGES + 5


def test_bars_carry_their_numbers_and_an_escaped_title():
    s = SessionService.new()
    s.record_exchange("q", "a", TokenUsage(7, 3, 11))
    point = usage.usage_points(s.id)[0]
    built = charts.bars_html([point, {**point, "version": 9, "total": 12}])
    assert built.startswith('<li style="--p:7;--c:3;--t:11" title="v1 · ')
    assert built.count("<li ") == 2 and "prompt 7 / completion 3 / total 12" in built
    evil = {**point, "version": '<b>"odd"</b> & co'}  # titles are escaped (numbers are ints)
    assert "v&lt;b&gt;&quot;odd&quot;&lt;/b&gt; &amp; co" in charts.bars_html([evil])
    page = render_to_string_partial("usage-chart", usage_chart_context(s.id))
    assert (  # drawn to the y-axis top: the round number at or above the peak (0, 3, 6, 9, 12)
        page.count("<li ") == 1
        and 'style="--peak:12"' in page
        and 'id="usage-chart-scale" value="12"' in page
        and "peak 11 tokens" in page
    )


def usage_chart_context(session_id: object) -> dict:
    return {"session": get_session(session_id), "chart": charts.usage_chart(session_id)}


def render_to_string_partial(name: str, context: dict) -> str:
    from django.template.loader import render_to_string

    return render_to_string(f"sessions_app/session_detail.html#{name}", context)


def test_partial_contexts_can_be_built_from_an_id_and_a_permission_level():
    from django.template.loader import render_to_string

    s = SessionService.new(name="pushed")
    s.append("user", "hello")
    v = s.version()
    row = render_to_string(
        "sessions_app/session_detail.html#message-row",
        presenters.message_row_context(s.id, 0, can_edit=False),
    )
    assert (
        f'<li id="message-0" class="msg role-user" data-index="0" data-version="{v}"' in row
        and "data-mode" not in row
    )
    header = render_to_string(
        "sessions_app/session_detail.html#session-header",
        presenters.session_header_context(s.id, can_edit=True),
    )
    assert f'id="session-header" class="session-header card" data-version="{v}"' in header
    chart = render_to_string("sessions_app/session_detail.html#usage-chart", usage_chart_context(s.id))
    assert 'id="usage-chart"' in chart
    listing = render_to_string(
        "sessions_app/session_detail.html#message-list", presenters.message_list_context(s.id, can_edit=True)
    )
    assert 'id="message-list"' in listing and "data-mode" in listing
    srow = render_to_string(
        "sessions_app/session_list.html#session-row", presenters.session_row_context(s.id, can_edit=False)
    )
    assert f'id="session-{s.id}"' in srow and f'data-version="{v}"' in srow

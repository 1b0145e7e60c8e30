"""Real Chromium, two logged-in browser contexts on one session, served by daphne with websockets.

The daphne process and this test process (which makes "program" writes through SessionService)
share a private redis-server (port 8598), so the test runs on the SQLite default and on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from sessions_app.domain.types import Message, TokenUsage
from sessions_app.services import SessionService
from tests.live_servers import REDIS_SERVER, Daphne, RedisServer
from tests.live_support import make_user, session_cookie
from tests.test_live_fault import _use_redis

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs a loop in this thread

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        REDIS_SERVER is None, reason="needs redis-server on PATH (apt-get install redis-server)"
    ),
]

CHROMIUM = "/usr/bin/chromium"
REDIS_PORT, DAPHNE_PORT = 8598, 8520


@contextlib.contextmanager
def serving(settings, redis_port: int, daphne_port: int) -> Iterator[Daphne]:  # noqa: ANN001
    redis = RedisServer(redis_port).start()
    daphne = None
    try:
        _use_redis(settings, redis.url)
        daphne = Daphne(daphne_port, redis_url=redis.url).start()
        yield daphne
    finally:
        if daphne is not None:
            daphne.stop()
            print(daphne.output()[-5000:])  # shown by pytest only when the test failed
        redis.stop()


@pytest.fixture
def served(settings):
    with serving(settings, REDIS_PORT, DAPHNE_PORT) as daphne:
        yield daphne


@pytest.fixture
def served_ux(settings):
    """The same, on ports of the range given to the operator-experience tests (8600-8619)."""
    with serving(settings, 8610, 8611) as daphne:
        yield daphne


@pytest.fixture
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-background-networking"]
        )
        yield browser
        browser.close()
        # While Playwright's loop runs in this thread, asgiref gives the test's ORM calls a connection
        # of their own; hand it back, or the test database cannot be dropped ("being accessed by
        # other users").
        connections.close_all()


def program(write, *args):  # noqa: ANN001, ANN201
    """A program's write: a service call from another thread (Playwright's loop runs in this one,
    and publishing after commit needs a thread without a running event loop)."""

    def run():  # noqa: ANN202
        try:
            return write(*args)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result(timeout=30)


def open_page(chromium, daphne: Daphne, user, path: str):  # noqa: ANN001
    from django.conf import settings

    context = chromium.new_context(viewport={"width": 1100, "height": 700}, base_url=daphne.url)
    context.set_default_timeout(10_000)
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session_cookie(user), "url": daphne.url}]
    )
    page = context.new_page()
    page.console_log = []
    page.on("console", lambda m: page.console_log.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: page.console_log.append(f"pageerror: {e}"))
    page.goto(path)
    try:
        page.wait_for_selector(".live-indicator[data-state='live']")
    except Exception:
        raise AssertionError(f"the live indicator did not turn live; console: {page.console_log}") from None
    page.evaluate("window.__notReloaded = true")
    return page


def test_edits_and_program_writes_appear_live_in_two_contexts(served, chromium):
    from playwright.sync_api import expect

    alice, bob = make_user("alice", "editor"), make_user("bob", "viewer")
    session = program(SessionService.new, "live browser", {"program": "ticket-triage"})
    program(
        session.set_messages,
        [Message("user" if i % 2 else "assistant", f"line {i}\n" * 3) for i in range(40)],
    )
    path = f"/sessions/{session.id}/"
    editor, viewer = open_page(chromium, served, alice, path), open_page(chromium, served, bob, path)

    # Presence: each sees the other, live.
    expect(editor.locator("#live-presence")).to_contain_text("bob")
    expect(viewer.locator("#live-presence")).to_contain_text("alice")
    # The viewer gets no write controls.
    assert viewer.locator("#append-form").count() == 0 and editor.locator("#append-form").count() == 1

    # An edit in one context appears in the other without a reload.
    # Frames are ASCII (sessions_app.live.updates.ascii_html): non-ASCII text arrives as character references.
    typed = "Typed by alice — café, naïve 😀 <script>alert(1)</script>"
    editor.fill("#append-content", typed)
    editor.get_by_role("button", name="Append").click()
    expect(viewer.locator("#message-40")).to_contain_text(typed)
    expect(viewer.locator("#session-header .version")).to_have_text("v2")

    # A program's write (a service call in this process) appears in both.
    viewer.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    program(session.record_exchange, "Classify: refund", '{"primary": "billing"}', TokenUsage(120, 30, 150))
    for page in (editor, viewer):
        expect(page.locator("#message-42")).to_contain_text("billing")
        expect(page.locator("#session-header .version")).to_have_text("v3")
        expect(page.locator("#usage-chart")).to_contain_text("150")
        assert page.evaluate("window.__notReloaded") is True, "the page was reloaded"
    # Follow mode: the viewer was at the bottom, so the view followed the new messages.
    # (A locator assertion: page.wait_for_function evaluates a string, which the CSP refuses.)
    expect(viewer.locator("#message-42")).to_be_in_viewport()
    # Scrolled up, new messages are announced instead.
    viewer.evaluate("window.scrollTo(0, 0)")
    program(session.append, "assistant", "one more")
    expect(viewer.locator("#live-new")).to_be_visible()
    expect(viewer.locator("#live-new")).to_have_text(re.compile(r"1 new message ↓"))
    expect(viewer.locator("#message-43")).to_contain_text("one more")

    # A stale edit under live traffic: alice edits #1 while a program inserts at 0 (message #1
    # becomes #2). Saving must fail with a version conflict and refresh the view, never land on
    # whichever message is now #1.
    row = editor.locator("#message-1")
    row.get_by_role("link", name="Edit").click()
    editor.wait_for_selector("#message-1 form.editor textarea")
    editor.fill("#message-1 form.editor textarea", "alice's edit of the old #1")
    program(session.insert, 0, Message("system", "Inserted by a program."))
    expect(editor.locator("#session-header .version")).to_have_text("v5")
    editor.locator("#message-1 form.editor").get_by_role("button", name=re.compile("Save")).click()
    expect(editor.locator(".banner.conflict")).to_be_visible()
    contents = [m.content for m in session.messages()]
    assert "alice's edit of the old #1" not in contents
    assert contents[0] == "Inserted by a program." and contents[2] == "line 1\n" * 3
    assert session.version() == 5
    expect(editor.locator("#message-0")).to_contain_text("Inserted by a program.")
    expect(viewer.locator("#message-0")).to_contain_text("Inserted by a program.")

    # Presence: when bob leaves, alice sees nobody else.
    viewer.context.close()
    expect(editor.locator("#live-presence")).to_contain_text("Nobody else")
    editor.context.close()


def test_list_page_shows_new_and_changed_sessions_live(served, chromium):
    from playwright.sync_api import expect

    carol = make_user("carol", "viewer")
    older = program(SessionService.new, "older session", {"program": "refund-gate"})
    page = open_page(chromium, served, carol, "/")
    expect(page.locator(f"#session-{older.id}")).to_be_visible()

    fresh = program(SessionService.new, "brand new <session>", {"program": "lead-ranker"})
    first_row = page.locator("#session-table tbody tr").first
    expect(first_row).to_have_id(f"session-{fresh.id}")
    expect(first_row).to_contain_text("brand new <session>")

    # A change to the older session moves it to the top with its new count and usage.
    program(older.record_exchange, "Refund order 88213?", '{"decision": true}', TokenUsage(900, 334, 1234))
    expect(first_row).to_have_id(f"session-{older.id}")
    expect(page.locator(f"#session-{older.id} .c-count")).to_have_text("2")
    expect(page.locator(f"#session-{older.id} .c-usage")).to_contain_text("1,234")
    assert page.locator("#session-table tbody tr").count() == 2
    assert page.evaluate("window.__notReloaded") is True
    page.context.close()


def test_usage_chart_deltas_append_bars_and_converge_on_a_fresh_page(served, chromium):
    """Deltas carry only the new bars (plus caption, scale and axes); the page drops bars that left
    the window. After writes that slide the window and raise the peak, the live chart is the same
    markup a fresh page load renders, and the bars are drawn to the new scale."""
    from playwright.sync_api import expect

    from sessions_app.selectors.usage import CHART_MAX_EXCHANGES

    carol = make_user("carol", "viewer")
    session = program(SessionService.new, "chart", {})
    for i in range(CHART_MAX_EXCHANGES):
        program(session.record_exchange, f"q{i}", "a", TokenUsage(100 + i, 10, 110 + i))
    page = open_page(chromium, served, carol, f"/sessions/{session.id}/")
    bars = page.locator("#usage-bars > li")
    expect(bars).to_have_count(CHART_MAX_EXCHANGES)
    expect(page.locator("#usage-chart-caption")).to_contain_text(f"peak {110 + CHART_MAX_EXCHANGES - 1}")

    program(session.set_usage, None)  # draws nothing
    program(session.record_exchange, "big", "a", TokenUsage(900, 100, 1000))
    program(session.set_usage, TokenUsage(1, 1, 2))
    expect(page.locator("#usage-chart-caption")).to_contain_text("peak 1,000 tokens")
    expect(page.locator("#session-detail")).to_have_attribute("data-version", str(session.version()))
    expect(bars).to_have_count(CHART_MAX_EXCHANGES)  # the two oldest were dropped
    assert bars.first.get_attribute("style") == "--p:102;--c:10;--t:112"
    # Drawn to the new scale: the big bar's prompt part is 900/1000 of the plot's height.
    heights = page.evaluate(
        """() => { const li = [...document.querySelectorAll('#usage-bars > li')].at(-2);
                   return [parseFloat(getComputedStyle(li, '::before').height), li.clientHeight]; }"""
    )
    assert abs(heights[0] - 0.9 * heights[1]) < 1.5, heights
    live_bars = page.inner_html("#usage-bars")
    axis = page.inner_html("#usage-chart-axis")

    fresh = open_page(chromium, served, carol, f"/sessions/{session.id}/")
    assert fresh.inner_html("#usage-bars") == live_bars
    assert fresh.inner_html("#usage-chart-axis") == axis
    assert fresh.inner_html("#usage-chart-yaxis") == page.inner_html("#usage-chart-yaxis")  # both axes, live
    expect(page.locator("#usage-chart-yaxis span").last).to_have_text("1k")
    assert fresh.inner_text("#usage-chart-caption") == page.inner_text("#usage-chart-caption")
    assert not [line for line in page.console_log if "error" in line], page.console_log


def test_window_label_and_the_former_last_row_follow_live_updates(served_ux, chromium):
    """Live updates keep the window's label ("Messages #0–#62 of 63") in step with the header, and the
    former last message gets its ↓ button."""
    from playwright.sync_api import expect

    alice = make_user("alice", "editor")
    session = program(SessionService.new, "tail", {})
    program(session.set_messages, [Message("user", f"m{i}") for i in range(61)])
    page = open_page(chromium, served_ux, alice, f"/sessions/{session.id}/")
    label = page.locator("#window-range")
    expect(label).to_have_text("Messages #0–#60 of 61")
    expect(page.locator("#message-60 button[aria-label='Move #60 down']")).to_have_count(0)

    program(session.record_exchange, "q", "a", TokenUsage(1, 2, 3))
    expect(page.locator("#message-62")).to_contain_text("a")
    expect(page.locator("#session-header .count")).to_have_text("63")
    expect(label).to_have_text("Messages #0–#62 of 63")
    # The former last row has both move buttons now; the new last only ↑.
    expect(page.locator("#message-60 button[aria-label='Move #60 down']")).to_have_count(1)
    expect(page.locator("#message-60 button[aria-label='Move #60 up']")).to_have_count(1)
    expect(page.locator("#message-62 button[aria-label='Move #62 down']")).to_have_count(0)

    # A change that moves messages refreshes the window: the label follows it too.
    program(session.remove, 0)
    expect(page.locator("#session-header .count")).to_have_text("62")
    expect(label).to_have_text("Messages #0–#61 of 62")
    assert page.evaluate("window.__notReloaded") is True
    assert not [line for line in page.console_log if "error" in line], page.console_log
    page.context.close()

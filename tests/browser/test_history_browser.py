"""Browser: from the session page open the history, view an old version, restore it, and a second
browser sees the restored session.

Real Chromium through Playwright against Django's live server (tests/browser/conftest.py), which has no
websockets: the second browser sees the restore after a reload (the live feed: tests/test_live_browser.py).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from sessions_app.domain.types import Message, TokenUsage
from sessions_app.roles import EDITOR
from sessions_app.services import SessionService
from tests.browser.conftest import log_in, new_page, off_loop
from tests.live_support import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def seed() -> SessionService:
    make_user("ed", EDITOR)  # a second editor; the first is the editor_user fixture's "erin"
    s = SessionService.new(name="triage")
    s.append("system", "Answer in JSON.", actor="api:bot")  # v1
    s.record_exchange("Classify: refund please", '{"decision": "billing"}', TokenUsage(10, 5, 15))  # v2
    s.truncate(1, 0, actor="ed")  # v3: the exchange is gone
    return s


def signed_in(browser, live_server, username: str):  # noqa: ANN001, ANN201
    return log_in(new_page(browser, live_server.url, timeout_ms=15_000), username)


def test_view_an_old_version_restore_it_and_a_second_browser_sees_it(browser, live_server, editor_user):
    # Writes publish after commit through async_to_sync, which cannot run on Playwright's loop.
    s = off_loop(seed)
    first = signed_in(browser, live_server, "erin")
    second = signed_in(browser, live_server, "ed")
    second.goto(f"/sessions/{s.id}/")
    assert second.inner_text("#session-header .version") == "v3"
    assert "Classify: refund please" not in second.inner_text("main")

    first.goto(f"/sessions/{s.id}/")
    first.click("a.history-link")
    first.wait_for_url(re.compile(rf"/sessions/{s.id}/history/$"))
    rows = first.locator("tr.event")
    assert rows.count() == 3
    assert "truncated to first 1 + last 0 (2 removed)" in rows.nth(0).inner_text()
    assert "ed" in rows.nth(0).inner_text() and "api:bot" in rows.nth(2).inner_text()
    first.click("a:text-is('v2')")
    first.wait_for_url(re.compile(r"/history/v2/$"))
    assert "as it was at v2" in first.inner_text("h1")
    assert "Classify: refund please" in first.inner_text("#message-page")
    assert "10 prompt + 5 completion = 15 tokens" in first.inner_text(".state-summary")

    first.click("a.restore")  # asks first, showing what the restore will change
    first.wait_for_url(re.compile(r"/history/v2/restore/"))
    assert "2 added · 0 removed · 0 changed" in first.inner_text(".diff-summary")
    assert s.version() == 3
    first.click("button:has-text('Restore v2 as v4')")
    first.wait_for_url(re.compile(rf"/sessions/{s.id}/$"))
    notice = first.locator("#notices .notice")
    expect(notice).to_contain_text("Restored version 2 (2 added, 0 removed, 0 changed) · saved as v4")
    expect(notice.get_by_role("button", name="Undo")).to_be_visible()
    assert first.inner_text("#session-header .version") == "v4"
    assert "Classify: refund please" in first.inner_text("main")
    assert s.version() == 4 and s.len() == 3

    # The second browser sees the restored session after a reload.
    second.reload()
    assert second.inner_text("#session-header .version") == "v4"
    assert "Classify: refund please" in second.inner_text("main")
    second.click("a.history-link")
    newest = second.locator("tr.event").first
    assert newest.get_attribute("data-version") == "4"
    assert "restored version 2 (3 messages" in newest.inner_text() and "erin" in newest.inner_text()

    # A restore from a page loaded before the next change is refused, and nothing changes.
    second.goto(f"/sessions/{s.id}/history/v1/")
    first.goto(f"/sessions/{s.id}/history/")
    first.click("button.undo")  # undoes the restore: v5
    first.wait_for_url(re.compile(rf"/sessions/{s.id}/$"))
    assert "Classify: refund please" not in first.inner_text("main")
    second.click("a.restore")
    second.wait_for_load_state()
    assert "This session changed (v4 → v5)" in second.inner_text("[role=alert]")
    assert s.version() == 5


def test_a_long_edit_in_the_history_is_folded_and_show_all_unfolds_it_without_script(
    browser, live_server, editor_user
):
    """The edit's entry shows the changed words (struck red / green), folded to the
    changes; "Show all" (a <details>, no JavaScript) shows the whole text with the same marks."""

    def make() -> SessionService:
        seed()
        s = SessionService.new(name="long edit")
        text = " ".join(f"Paragraph {i}: the export button does nothing on Safari." for i in range(60))
        s.append("assistant", text)
        s.replace(
            0, Message("assistant", text.replace("Paragraph 30: the export", "Paragraph 30: the big export"))
        )
        return s

    s = off_loop(make)
    page = signed_in(browser, live_server, "erin")
    page.goto(f"/sessions/{s.id}/history/")
    entry = page.locator('tr.event[data-version="2"] .word-diff')
    compact = entry.locator(".compact")
    expect(compact.locator("ins")).to_have_text("big ")
    expect(compact).not_to_contain_text("Paragraph 3:")
    expect(compact.locator("ins")).to_have_css("text-decoration-line", "none")
    page.get_by_text("Show all").click()
    expect(compact).to_be_hidden()
    whole = entry.locator("details .word-diff-text")
    expect(whole).to_contain_text("Paragraph 3:")
    expect(whole.locator("ins")).to_have_text("big ")
    expect(page.get_by_text("Show less")).to_be_visible()

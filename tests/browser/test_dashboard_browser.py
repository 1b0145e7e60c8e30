"""The dashboard in real Chromium: log in, search, edit, drag, truncate with preview, version conflict."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from sessions_app.domain.types import Message
from sessions_app.services import SessionService
from tests.live_support import PASSWORD

from .conftest import off_loop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
# Waits are locator assertions, not page.wait_for_function: that evaluates a string in the page, which
# the Content-Security-Policy (no 'unsafe-eval') refuses.


@pytest.fixture
def convo() -> SessionService:
    s = off_loop(SessionService.new, name="refund-gate #7", metadata={"program": "refund-gate"})
    off_loop(
        s.set_messages,
        [
            Message("system", "You decide refunds."),
            Message("user", "Order 88213 arrived damaged"),
            Message("assistant", '{"decision": true}'),
            Message("user", "Thanks, and the mugs?"),
            Message("assistant", "Both mugs are covered."),
        ],
    )
    return s


def contents(s: SessionService) -> list[str]:
    return [m.content for m in s.messages()]


def open_detail(page, s: SessionService) -> None:  # noqa: ANN001
    page.goto(f"/sessions/{s.id}/")
    page.wait_for_selector("#session-detail")


def test_log_in_and_find_a_session_by_a_word_of_its_content(page, editor_user, convo):
    off_loop(lambda: SessionService.new(name="unrelated").append("user", "nothing to see"))
    page.goto("/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", editor_user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#session-table")
    assert page.locator("tr.session-row").count() == 2
    page.fill("#q", "damaged")  # htmx searches as the operator types
    expect(page.locator("tr.session-row")).to_have_count(1)
    assert "q=damaged" in page.url  # the search is in the address (back button, sharing)
    page.click("text=refund-gate #7")
    page.wait_for_selector("#session-header")
    assert page.locator("#session-header h1").inner_text() == "refund-gate #7"


def test_edit_a_message_in_place(signed_in, convo):
    page = signed_in
    open_detail(page, convo)
    page.locator("#message-1 a[data-mode=edit]").click()
    editor = page.locator("#message-1 textarea[name=content]")
    editor.wait_for()
    assert editor.input_value() == "Order 88213 arrived damaged"
    editor.fill("Order 88213 arrived badly damaged")
    page.locator("#message-1 button[type=submit]", has_text="Save").click()
    page.wait_for_selector("#message-1 .content")
    assert "badly damaged" in page.locator("#message-1 .content").inner_text()
    assert contents(convo)[1] == "Order 88213 arrived badly damaged"
    assert page.locator("#session-detail").get_attribute("data-version") == str(convo.version())


def test_drag_a_message_to_a_new_place(signed_in, convo):
    page = signed_in
    open_detail(page, convo)
    v = convo.version()
    # Drop onto the top half of message 1: the moved message lands above it, at index 1.
    page.locator("#message-4").drag_to(page.locator("#message-1"), target_position={"x": 40, "y": 3})
    expect(page.locator("#session-detail")).to_have_attribute("data-version", str(v + 1))
    assert contents(convo) == [
        "You decide refunds.",
        "Both mugs are covered.",
        "Order 88213 arrived damaged",
        '{"decision": true}',
        "Thanks, and the mugs?",
    ]
    assert "Both mugs are covered." in page.locator("#message-1").inner_text()


def test_move_with_the_keyboard(signed_in, convo):
    page = signed_in
    open_detail(page, convo)
    page.locator("#message-0").focus()
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.id") == "message-1"
    v = convo.version()
    page.keyboard.press("Alt+ArrowDown")
    expect(page.locator("#session-detail")).to_have_attribute("data-version", str(v + 1))
    assert contents(convo)[2] == "Order 88213 arrived damaged"
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()


def test_truncate_shows_a_preview_before_confirming(signed_in, convo):
    page = signed_in
    open_detail(page, convo)
    page.click("summary:has-text('Truncate or prune')")
    page.fill("input[name=keep_first]", "1")
    page.fill("input[name=keep_last]", "1")
    page.click("button:has-text('Preview truncate')")
    summary = page.locator("#bulk-preview .preview-summary")
    summary.wait_for()
    assert re.search(r"2 of 5 messages will remain; 3 removed \(#1–#3\)", summary.inner_text())
    boundary = page.locator("#bulk-preview .boundary").inner_text()
    assert "You decide refunds." in boundary and "Both mugs are covered." in boundary
    assert convo.len() == 5  # the preview wrote nothing
    page.click("button:has-text('Confirm: remove 3 messages')")
    expect(page.locator("#session-detail")).to_have_attribute("data-count", "2")
    assert contents(convo) == ["You decide refunds.", "Both mugs are covered."]


def test_version_conflict_when_another_client_edited_meanwhile(signed_in, convo):
    page = signed_in
    open_detail(page, convo)
    loaded = convo.version()
    page.locator("#message-2 a[data-mode=edit]").click()
    page.locator("#message-2 textarea[name=content]").fill('{"decision": false}')
    off_loop(convo.insert, 0, Message("system", "Another client put this first."))  # meanwhile, elsewhere
    page.locator("#message-2 button[type=submit]", has_text="Save").click()
    banner = page.locator(".banner.conflict")
    banner.wait_for()
    assert f"This session changed (v{loaded} → v{loaded + 1}) since you loaded it" in banner.inner_text()
    assert "Another client put this first." in page.locator("#message-0").inner_text()  # the fresh view
    assert contents(convo)[3] == '{"decision": true}'  # nothing written
    assert page.locator("#session-detail").get_attribute("data-version") == str(loaded + 1)


def test_append_error_shows_inline_and_nothing_changes(signed_in, convo):
    page = signed_in
    open_detail(page, convo)
    page.evaluate("document.getElementById('append-content').removeAttribute('required')")
    page.fill("#append-content", "   ")
    page.click("#append-form button[type=submit]")
    page.locator("#append-form .error").wait_for()
    assert "Content is empty" in page.locator("#append-form .error").inner_text()
    assert convo.len() == 5


def test_insert_below_and_remove_with_confirmation(signed_in, convo):
    page = signed_in
    open_detail(page, convo)
    page.locator("#message-0 a[data-mode=insert-below]").click()
    page.locator("#message-0 textarea[name=content]").fill("A note from the operator.")
    page.locator("#message-0 select[name=role]").select_option("system")
    page.locator("#message-0 button", has_text="Insert").click()
    expect(page.locator("#session-detail")).to_have_attribute("data-count", "6")
    assert contents(convo)[1] == "A note from the operator." and convo.at(1).role == "system"
    page.locator("#message-1 a[data-mode=remove]").click()
    confirm = page.locator("#message-1 button.danger", has_text="Yes, remove #1")
    confirm.wait_for()
    assert convo.len() == 6  # asking is not removing
    confirm.click()
    expect(page.locator("#session-detail")).to_have_attribute("data-count", "5")
    assert "A note from the operator." not in contents(convo)


def test_a_server_fault_on_a_partial_request_is_said_and_cleared_by_the_next_answer(signed_in, convo):
    """htmx does not swap a 5xx (base.html's htmx-config): without the notice an append that met a 503
    would change nothing on screen. The 503 is the server's answer while the database is down
    (tests/test_fault_postgres.py); here the browser is given it for this one request."""
    page = signed_in
    open_detail(page, convo)
    notice = page.locator("#request-error")
    expect(notice).to_be_hidden()
    append_path = f"**/sessions/{convo.id}/append/"
    page.route(
        append_path,
        lambda route: route.fulfill(status=503, headers={"Retry-After": "5"}, body="unavailable"),
    )
    page.fill("#append-content", "Sent while the database is down.")
    page.click("#append-form button[type=submit]")
    expect(notice).to_be_visible()
    expect(notice).to_have_text(
        "The database cannot be reached right now; nothing was changed. Try again in 5 s."
    )
    assert page.locator("#append-content").input_value() == "Sent while the database is down."  # kept
    page.unroute(append_path)
    page.route(append_path, lambda route: route.abort())
    page.click("#append-form button[type=submit]")
    expect(notice).to_contain_text("The server could not be reached; nothing was sent.")
    page.unroute(append_path)
    page.click("#append-form button[type=submit]")
    expect(page.locator("#session-detail")).to_have_attribute("data-count", "6")
    expect(notice).to_be_hidden()
    assert contents(convo)[-1] == "Sent while the database is down."

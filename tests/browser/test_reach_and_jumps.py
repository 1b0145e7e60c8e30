"""Every control is reachable, and jumps land where the operator looks."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from sessions_app.domain.types import Message
from sessions_app.services import SessionService

from .conftest import off_loop

# Waits are locator assertions, not page.wait_for_function: that evaluates a string in the page, which
# the Content-Security-Policy (no 'unsafe-eval') refuses.

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Long enough that a boundary preview row is several lines in the tools column.
WORDY = "The customer explains the whole story again, with order numbers, dates and every detail " * 2


def long_session(count: int) -> SessionService:
    s = off_loop(SessionService.new, name=f"long {count}")
    roles = ("user", "assistant")
    off_loop(s.set_messages, [Message(roles[i % 2], f"message {i}. {WORDY}") for i in range(count)])
    return s


def open_long_session(page, count: int) -> SessionService:  # noqa: ANN001
    """A session of ``count`` messages, open in ``page`` at 1280×800."""
    page.set_viewport_size({"width": 1280, "height": 800})
    s = long_session(count)
    page.goto(f"/sessions/{s.id}/")
    return s


def in_viewport(page, selector: str) -> bool:  # noqa: ANN001
    """The element's box is inside the window and it is what a click at its centre would hit."""
    return page.evaluate(
        """(sel) => {
          const el = document.querySelector(sel);
          if (!el) return false;
          const r = el.getBoundingClientRect();
          if (r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth) return false;
          const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
          return hit === el || el.contains(hit);
        }""",
        selector,
    )


def preview_truncate(page, s: SessionService) -> str:  # noqa: ANN001
    page.goto(f"/sessions/{s.id}/")
    page.wait_for_selector("#session-detail")
    for summary in page.locator(".tools summary").all():  # every tool open: the tallest column
        summary.click()
    page.fill("input[name=keep_first]", "3")
    page.fill("input[name=keep_last]", "3")
    page.click("button:has-text('Preview truncate')")
    confirm = "#bulk-preview button.danger"
    page.wait_for_selector(confirm)
    return confirm


@pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)], ids=["1280x800", "phone"])
def test_truncate_confirmation_is_reachable_by_mouse_and_keyboard(signed_in, width, height):
    page = signed_in
    page.set_viewport_size({"width": width, "height": height})
    s = long_session(450)
    confirm = preview_truncate(page, s)
    # The preview brings its confirm button into view, without focusing it.
    expect(page.locator(confirm)).to_be_in_viewport(ratio=1)
    assert in_viewport(page, confirm)
    assert page.evaluate("document.activeElement.matches('#bulk-preview button')") is False
    # Scrolling the messages loads more of them; the tools stay where they were (never pushed away).
    page.mouse.move(width / 4, height / 2)
    for loaded in (100, 200):
        page.mouse.wheel(0, 30000)
        expect(page.locator("li.msg").nth(loaded)).to_be_attached()
    if width > 900:
        assert in_viewport(page, confirm)
    # By keyboard: Tab from the last tool before it reaches the confirm button, and it is in view.
    page.focus("button:has-text('Preview prune')")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").startswith("Confirm: remove 444 messages")
    assert in_viewport(page, confirm)
    # And by mouse: a real click at its place confirms.
    box = page.locator(confirm).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator("#session-detail")).to_have_attribute("data-count", "6")
    assert off_loop(s.len) == 6


def focused_row_band(page) -> tuple[str, float]:  # noqa: ANN001
    """The focused row's id and where its middle is, as a fraction of the window's height."""
    return page.evaluate(
        """() => { const el = document.activeElement, r = el.getBoundingClientRect();
                   return [el.id, (r.top + r.height / 2) / innerHeight]; }"""
    )


def test_jump_to_an_index_lands_it_in_the_middle_of_the_window_and_marks_it(signed_in):
    page = signed_in
    open_long_session(page, 1000)
    page.fill("#jump-at", "950")
    page.press("#jump-at", "Enter")
    expect(page.locator("#message-950")).to_be_focused()
    row_id, middle = focused_row_band(page)
    assert row_id == "message-950" and 0.25 < middle < 0.75, middle
    assert "landed" in page.get_attribute("#message-950", "class")


def test_last_opens_at_the_newest_message(signed_in):
    page = signed_in
    open_long_session(page, 1000)
    page.click(".window-nav a:has-text('Last')")
    expect(page.locator("#message-999")).to_be_focused()
    assert in_viewport(page, "#message-999 .msg-head")
    assert "landed" in page.get_attribute("#message-999", "class")


def test_drag_and_drop_keeps_the_page_in_place_and_marks_the_moved_message(signed_in):
    page = signed_in
    s = open_long_session(page, 250)
    # Scrolling loaded the second window under the first: the page shows #0-#199.
    page.locator("li.more.after").scroll_into_view_if_needed()
    page.wait_for_selector("#message-152")
    v = off_loop(s.version)
    source, target = page.locator("#message-152"), page.locator("#message-149")
    page.evaluate("document.getElementById('message-149').scrollIntoView({block: 'center'})")
    before = page.evaluate("document.getElementById('message-149').getBoundingClientRect().top")
    # Onto the top half of #149: the message lands above it, at index 149.
    source.drag_to(target, target_position={"x": 40, "y": 3})
    expect(page.locator("#session-detail")).to_have_attribute("data-version", str(v + 1))
    assert off_loop(lambda: s.at(149).content).startswith("message 152.")
    expect(page.locator("#message-149")).to_be_focused()
    assert "message 152." in page.locator("#message-149").inner_text()
    assert "landed" in page.get_attribute("#message-149", "class")
    assert in_viewport(page, "#message-149 .msg-head")
    # The page did not jump: the row at the drop place is where it was (within a row's height).
    after = page.evaluate("document.getElementById('message-149').getBoundingClientRect().top")
    assert abs(after - before) < 120, (before, after)

"""Feedback after a write, in real Chromium.

- The notice ("Message #2 removed · saved as v3 · Undo") appears in the status region the page had from the
  start, fades after some seconds but never while hovered or focused; its Undo restores the version before.
- A refusal of an htmx request (a 403 once the operator's role was taken away) is said in a notice; the row
  stays as it was instead of holding a whole error page.
- On a long session, the append form stays within reach while more messages load.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from sessions_app.domain.types import Message
from sessions_app.roles import VIEWERS
from sessions_app.services import SessionService

from .conftest import off_loop
from .test_reach_and_jumps import in_viewport, long_session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
# Waits are locator assertions, not page.wait_for_function (the Content-Security-Policy refuses it).

CONVO = [
    Message("system", "You decide refunds."),
    Message("user", "Order 88213 arrived damaged"),
    Message("assistant", '{"decision": true}'),
    Message("user", "Thanks, and the mugs?"),
    Message("assistant", "Both mugs are covered."),
]


@pytest.fixture
def convo() -> SessionService:
    s = off_loop(SessionService.new, name="refund-gate #7")
    off_loop(s.set_messages, CONVO)
    return s


def contents(s: SessionService) -> list[str]:
    return [m.content for m in off_loop(s.messages)]


def remove_row(page, index: int) -> None:  # noqa: ANN001
    page.locator(f"#message-{index} a[data-mode=remove]").click()
    page.locator(f"#message-{index} button.danger", has_text=f"Yes, remove #{index}").click()


def test_a_write_is_confirmed_in_the_live_region_and_undo_restores_the_version_before(signed_in, convo):
    page = signed_in
    page.goto(f"/sessions/{convo.id}/")
    region = page.locator("#notices")
    expect(region).to_have_attribute("role", "status")
    expect(region).to_have_attribute("aria-live", "polite")
    # Marked before the write: the notice must go into this region, not a new one (a new live region is
    # not announced).
    page.evaluate("document.getElementById('notices').dataset.mark = 'from-the-start'")
    v = off_loop(convo.version)

    remove_row(page, 2)
    notice = page.locator("#notices .notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(f"Message #2 removed · saved as v{v + 1} · Undo")
    expect(region).to_have_attribute("data-mark", "from-the-start")
    assert contents(convo) == [m.content for i, m in enumerate(CONVO) if i != 2]
    expect(page.locator("#notices .notice")).to_have_count(1)

    notice.get_by_role("button", name="Undo").click()
    page.wait_for_url(re.compile(rf"/sessions/{convo.id}/$"))
    expect(page.locator("#session-header .version")).to_have_text(f"v{v + 2}")
    assert contents(convo) == [m.content for m in CONVO]  # back as it was before the write
    again = page.locator("#notices .notice")
    expect(again).to_contain_text(f"Restored version {v} (1 added, 0 removed, 0 changed) · saved as v{v + 2}")
    expect(again.get_by_role("button", name="Undo")).to_be_visible()


def test_the_notice_fades_but_not_before_it_can_be_read_nor_while_hovered_or_focused(signed_in, convo):
    page = signed_in
    page.clock.install()
    page.goto(f"/sessions/{convo.id}/")
    notice = page.locator("#notices .notice")

    remove_row(page, 1)
    expect(notice).to_be_visible()
    page.clock.fast_forward(5_000)  # read at leisure
    expect(notice).to_be_visible()
    page.clock.fast_forward(6_000)  # then it goes by itself
    expect(notice).to_have_count(0)

    # Hovered: it stays, however long; it goes some seconds after the pointer leaves.
    remove_row(page, 1)
    expect(notice).to_be_visible()
    notice.hover()
    page.clock.fast_forward(60_000)
    expect(notice).to_be_visible()
    page.mouse.move(5, 5)
    page.clock.fast_forward(2_000)
    expect(notice).to_be_visible()
    page.clock.fast_forward(4_000)
    expect(notice).to_have_count(0)

    # Focused (a keyboard user on its Undo): it stays; Esc dismisses it and focus goes back to the message.
    remove_row(page, 1)
    expect(page.locator("#message-0")).to_be_focused()  # where the write landed, once settled
    undo = notice.get_by_role("button", name="Undo")
    undo.focus()
    page.clock.fast_forward(60_000)
    expect(undo).to_be_focused()
    page.keyboard.press("Escape")
    expect(notice).to_have_count(0)
    expect(page.locator("#message-0")).to_be_focused()

    # And × dismisses it at once.
    remove_row(page, 1)
    notice.get_by_role("link", name="Dismiss this notice").click()
    expect(notice).to_have_count(0)
    assert len(contents(convo)) == 1


def test_a_403_on_an_htmx_request_is_a_notice_and_the_row_stays(signed_in, editor_user, convo):
    page = signed_in
    page.goto(f"/sessions/{convo.id}/")
    row = page.locator("#message-1")
    expect(row).to_contain_text("Order 88213 arrived damaged")
    # Meanwhile the operator is made a viewer: the page still shows the edit controls.
    off_loop(lambda: (editor_user.groups.clear(), editor_user.groups.add(Group.objects.get(name=VIEWERS))))

    row.locator("a[data-mode=edit]").click()
    error = page.locator("#request-error")
    expect(error).to_be_visible()
    expect(error).to_have_text(
        "Not allowed (403): Editing needs the editor role (the change_session permission)."
        " Nothing was changed."
    )
    # The row is as it was: no error page swapped into it.
    expect(row).to_contain_text("Order 88213 arrived damaged")
    expect(page.locator("#session-detail h1")).to_have_text("refund-gate #7")
    expect(page.locator("#session-detail").get_by_text("Not allowed")).to_have_count(0)

    # A write is refused the same way; what was typed stays in its form.
    page.fill("#append-content", "Typed before the editor role was taken away.")
    page.click("#append-form button[type=submit]")
    expect(error).to_contain_text("Not allowed (403)")
    expect(page.locator("#append-content")).to_have_value("Typed before the editor role was taken away.")
    expect(page.locator("#session-detail")).to_have_attribute("data-count", "5")
    assert len(contents(convo)) == 5


def test_form_errors_and_conflicts_are_still_swapped_in(signed_in, convo):
    """The 400 of a bad form and the 409 of a stale version are parts of the page, not refusals."""
    page = signed_in
    page.goto(f"/sessions/{convo.id}/")
    page.evaluate("document.getElementById('append-content').removeAttribute('required')")
    page.fill("#append-content", "   ")
    page.click("#append-form button[type=submit]")
    expect(page.locator("#append-form .error")).to_contain_text("Content is empty")
    off_loop(convo.append, "user", "written elsewhere")
    page.fill("#append-content", "mine")
    page.click("#append-form button[type=submit]")
    expect(page.locator(".banner.conflict")).to_contain_text("This session changed")
    expect(page.locator("#request-error")).to_have_count(0)


@pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)], ids=["1280x800", "phone"])
def test_append_form_is_reachable_on_a_long_session_by_mouse_and_keyboard(signed_in, width, height):
    page = signed_in
    page.set_viewport_size({"width": width, "height": height})
    s = long_session(10_000)
    page.goto(f"/sessions/{s.id}/?page=50")  # a window in the middle: #5000-#5099
    expect(page.locator("#message-5000")).to_be_attached()
    # Scrolling the messages loads more of them, again and again.
    page.mouse.move(width / 4, height / 2)
    for loaded in (100, 200, 300):
        page.mouse.wheel(0, 40_000)
        expect(page.locator("li.msg").nth(loaded)).to_be_attached()
    field = "#append-content"
    if width > 900:
        assert in_viewport(page, field)  # in the tools column, beside the messages
    # By keyboard: "a" brings it into view, and it stays there (no more messages load under it).
    page.locator("body").press("a")
    expect(page.locator(field)).to_be_focused()
    page.wait_for_timeout(1_000)
    expect(page.locator("li.msg")).to_have_count(400)
    assert in_viewport(page, field)
    page.keyboard.type("Typed by keyboard.")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#notices .notice")).to_contain_text("Message #10000 appended")
    assert off_loop(s.len) == 10_001 and off_loop(lambda: s.at(10_000).content) == "Typed by keyboard."

    # By mouse, from a middle window scrolled as far as loading goes on: clicks at its place.
    page.goto(f"/sessions/{s.id}/?page=50")
    page.mouse.move(width / 4, height / 2)
    for loaded in (100, 200):
        page.mouse.wheel(0, 40_000)
        expect(page.locator("li.msg").nth(loaded)).to_be_attached()
    if width <= 900:
        page.mouse.wheel(0, -200_000)  # at phone width the tools come first, above the messages
        expect(page.locator(field)).to_be_in_viewport(ratio=1)
    assert in_viewport(page, field) and in_viewport(page, "#append-form button[type=submit]")
    box = page.locator(field).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.keyboard.type("Typed after a click.")
    box = page.locator("#append-form button[type=submit]").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator("#notices .notice")).to_contain_text("Message #10001 appended")
    assert off_loop(lambda: s.at(10_001).content) == "Typed after a click."

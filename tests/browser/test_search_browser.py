"""Search shows where it found the words, in Chromium: the snippet with the words
marked, its link to the message with the words marked there, previous/next between the matches, and the
reset link after a search as you type."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from sessions_app.domain.types import Message
from sessions_app.services import SessionService

from .conftest import off_loop, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MATCHES = (30, 150, 160)  # the second and third in the next window of 100
HOSTILE = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>'


@pytest.fixture
def signed_in(page, viewer_user):  # noqa: ANN001, ANN201
    """A page signed in as a viewer: search needs no more."""
    return sign_in(page, viewer_user)


@pytest.fixture
def sessions() -> tuple[SessionService, SessionService]:
    found = off_loop(SessionService.new, name="export helper")
    messages = [
        Message("user" if i % 2 else "assistant", f"message {i}: the customer writes about the invoice.")
        for i in range(200)
    ]
    for i in MATCHES:
        messages[i] = Message("user", f"{HOSTILE} The export button does nothing on Safari 17 (message {i}).")
    off_loop(found.set_messages, messages)
    other = off_loop(SessionService.new, name="billing bot")
    off_loop(other.append, "user", "I was charged twice")
    return found, other


def test_snippet_leads_to_the_message_with_the_words_marked_and_steps_between_matches(signed_in, sessions):
    page = signed_in
    page.set_viewport_size({"width": 1280, "height": 800})
    found, other = sessions
    page.goto("/")
    page.fill("#q", "safari")  # searched as it is typed: htmx swaps the table
    row = page.locator(f"#session-{found.id}")
    expect(page.locator(f"#session-{other.id}")).to_have_count(0)
    expect(row.locator(".snippet mark")).to_have_text("Safari")
    expect(row.locator(".snippet")).to_contain_text("The export button does nothing on")
    expect(row.locator(".snippet img, .snippet script")).to_have_count(0)
    expect(row.locator("a.hit-link")).to_have_text(f"#{MATCHES[0]}")

    row.locator("a.hit-link").click()
    expect(page).to_have_url(re.compile(rf"/sessions/{found.id}/\?q=safari&at={MATCHES[0]}$"))
    landed = page.locator(f"#message-{MATCHES[0]}")
    expect(landed).to_be_focused()
    expect(landed).to_have_class(re.compile(r"\blanded\b"))
    expect(landed).to_be_in_viewport()
    expect(landed.locator("mark")).to_have_text("Safari")
    expect(page.locator("li.msg mark")).to_have_count(1)  # only the matches in this window are marked
    nav = page.locator("#search-matches")
    expect(nav).to_contain_text("3 matches in this session")
    expect(nav).to_contain_text("match 1 of 3")
    assert page.title() != "pwned"

    nav.locator("a[rel=next]").click()  # to the next window of messages
    expect(page.locator(f"#message-{MATCHES[1]}")).to_be_focused()
    expect(page.locator(f"#message-{MATCHES[1]} mark")).to_have_text("Safari")
    expect(page.locator("#search-matches")).to_contain_text("match 2 of 3")
    page.locator("#search-matches a[rel=next]").click()
    expect(page.locator(f"#message-{MATCHES[2]}")).to_be_focused()
    expect(page.locator("#search-matches")).to_contain_text("match 3 of 3")
    expect(page.locator("#search-matches a[rel=next]")).to_have_count(0)
    page.locator("#search-matches a[rel=prev]").click()
    expect(page.locator(f"#message-{MATCHES[1]}")).to_be_focused()
    expect(page.locator("#search-matches")).to_contain_text("match 2 of 3")

    page.locator("#search-matches a:has-text('Clear search')").click()
    expect(page.locator("#search-matches")).to_have_count(0)
    expect(page.locator("li.msg mark")).to_have_count(0)
    assert page.title() != "pwned"


def test_reset_works_after_a_search_as_you_type(signed_in, sessions):
    page = signed_in
    found, other = sessions
    page.goto("/")
    expect(page.locator("#search-reset a")).to_have_count(0)
    page.fill("#q", "charged")
    expect(page.locator(f"#session-{found.id}")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"\?q=charged$"))
    reset = page.locator("#search-reset a")
    expect(reset).to_have_text("Reset")  # arrived with the table, out of band
    reset.click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#q")).to_have_value("")
    expect(page.locator(f"#session-{found.id}")).to_be_visible()
    expect(page.locator(f"#session-{other.id}")).to_be_visible()
    expect(page.locator("#search-reset a")).to_have_count(0)

    # Opened with a search, then the words deleted by typing: the reset link goes with them.
    page.goto("/?q=charged")
    expect(page.locator("#search-reset a")).to_have_count(1)
    page.fill("#q", "")
    expect(page.locator(f"#session-{found.id}")).to_be_visible()
    expect(page.locator("#search-reset a")).to_have_count(0)

"""Search shows where it found the words: snippets with the words marked on the list,
the detail page opened at the match with the words marked, "n matches" and previous/next, the reset link
after a search as you type. Run on SQLite and on PostgreSQL (ts_headline); the PostgreSQL-only tests are
marked ``postgres``."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sessions_app.domain.types import Message
from sessions_app.selectors import search
from sessions_app.selectors.sessions import ListFilters
from sessions_app.services import SessionService
from sessions_app.web import presenters

pytestmark = pytest.mark.django_db

HOSTILE = (
    '<script>alert("x")</script> The export fails on Safari 17 <img src=x onerror=alert(2)> '
    "<mark>fake</mark> \ue000evil\ue001 & <b>bold</b>"
)


def list_url(**query: str) -> str:
    from urllib.parse import urlencode

    return reverse("sessions_app:session_list") + "?" + urlencode(query)


def detail_url(s: SessionService, **query: object) -> str:
    from urllib.parse import urlencode

    return reverse("sessions_app:session_detail", args=[s.id]) + "?" + urlencode(query)


def row_of(body: str, s: SessionService) -> str:
    row = body[body.index(f'id="session-{s.id}"') :]
    return row[: row.index("</tr>")]


def snippet_of(row: str) -> str:
    return re.search(r'<span class="snippet">(.*?)</span></td>', row, re.S).group(1)


def message_html(body: str, index: int) -> str:
    start = body.index(f'<li id="message-{index}"')
    return body[start : body.index("</li>", start)]


def assert_only_marks_are_markup(html: str) -> None:
    """Everything stored came out as text: the only tags are balanced <mark> pairs around plain text."""
    assert html.count("<mark>") == html.count("</mark>") >= 1
    assert not re.search(r"<mark>[^<]*<mark>", html)  # never nested
    assert "<" not in html.replace("<mark>", "").replace("</mark>", "")
    assert "\ue000" not in html and "\ue001" not in html


@pytest.fixture
def found() -> SessionService:
    s = SessionService.new(name="export helper")
    s.set_messages(
        [
            Message("system", "Answer with JSON only."),
            Message("user", "The export button does nothing on Safari 17."),
            Message("assistant", '{"primary": "bug", "browser": "Safari"}'),
            Message("user", "Still broken on safari, and on Chrome too."),
            Message("assistant", "Thanks, noted."),
        ]
    )
    return s


# ---------------------------------------------------------------- the list


def test_list_row_shows_the_first_matching_message_with_the_words_marked(viewer, found):
    body = viewer.get(list_url(q="safari")).content.decode()
    row = row_of(body, found)
    assert "<th>Found in</th>" in body
    link = re.search(r'<a class="hit-link" href="([^"]+)"[^>]*>#1</a>', row)
    assert link and link.group(1) == f"/sessions/{found.id}/?q=safari&amp;at=1"
    assert '<span class="badge user">user</span>' in row
    snippet = snippet_of(row)
    assert "<mark>Safari</mark>" in snippet and "export button does nothing" in snippet
    assert_only_marks_are_markup(snippet)


def test_list_snippet_of_hostile_content_is_escaped_text(viewer):
    s = SessionService.new(name="hostile")
    s.append("user", HOSTILE)
    body = viewer.get(list_url(q="Safari")).content.decode()
    snippet = snippet_of(row_of(body, s))
    assert_only_marks_are_markup(snippet)
    assert "<mark>Safari</mark>" in snippet and "<mark>fake" not in snippet and "<mark>evil" not in snippet
    assert "<script" not in body.split("<main", 1)[1] and "onerror=alert(2)>" not in body


def test_list_snippet_of_a_long_message_is_cut_around_the_words(viewer):
    s = SessionService.new(name="long")
    before, after = (" ".join(f"{w}{i}" for i in range(300)) for w in ("before", "after"))
    s.append("user", f"{before} the Safari words {after}")
    snippet = snippet_of(row_of(viewer.get(list_url(q="safari")).content.decode(), s))
    assert snippet.startswith("… ") and snippet.endswith(" …") and "the <mark>Safari</mark> words" in snippet
    assert len(snippet) < 400


def test_list_row_matching_by_name_only_keeps_its_last_message(viewer, found):
    named = SessionService.new(name="Safari triage")
    named.append("user", "nothing relevant here")
    row = row_of(viewer.get(list_url(q="safari")).content.decode(), named)
    assert "c-hit" not in row and "name or id matches" in row and "nothing relevant here" in row


def test_list_without_words_shows_last_messages(viewer, found):
    body = viewer.get(reverse("sessions_app:session_list")).content.decode()
    assert "<th>Last message</th>" in body and "c-hit" not in body and "<mark>" not in body
    by_id = viewer.get(list_url(q=str(found.id))).content.decode()  # an id is looked up, not searched for
    assert "c-hit" not in row_of(by_id, found) and "Thanks, noted." in row_of(by_id, found)
    assert "<th>Last message</th>" in by_id


def test_list_snippets_take_one_query_for_the_page(found):
    for i in range(30):
        SessionService.new(name=f"n{i}").set_messages(
            [Message("user", f"hello {i}"), Message("user", f"safari again {i}")]
        )
    with CaptureQueriesContext(connection) as queries:
        context = presenters.session_list_context(ListFilters(q="safari"), can_edit=False)
    hits = [row.hit for row in context["rows"]]
    assert len(hits) == 31 and all(hits) and {h.position for h in hits} == {1}
    # The page, then the hits with their snippets (SQLite: positions, then rows); rows with a hit show it
    # instead of their last message, so no preview is read for them.
    assert len(queries) == (2 if connection.vendor == "postgresql" else 3)


def test_search_as_you_type_sends_the_reset_link_out_of_band(viewer, found):
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "session-table"}
    response = viewer.get(list_url(q="safari", key="", since=""), **htmx)
    assert response["HX-Push-Url"] == "/?q=safari"  # the address bar without the form's empty fields
    typed = response.content.decode()
    assert typed.lstrip().startswith('<div id="session-table"')
    reset = re.search(r'<span id="search-reset"([^>]*)>(.*?)</span>', typed)
    assert reset and 'hx-swap-oob="true"' in reset.group(1) and reset.group(2) == '<a href="/">Reset</a>'
    response = viewer.get(reverse("sessions_app:session_list") + "?q=", **htmx)
    assert response["HX-Push-Url"] == "/"
    cleared = response.content.decode()
    assert re.search(r'<span id="search-reset" hx-swap-oob="true"></span>', cleared)  # no stale Reset
    page = viewer.get(list_url(q="safari")).content.decode()  # the whole page: in the form, not out of band
    assert '<span id="search-reset"><a href="/">Reset</a></span>' in page and "hx-swap-oob" not in page


# ---------------------------------------------------------------- the detail page


def test_detail_opened_at_a_match_marks_the_words_and_steps_between_matches(viewer, found):
    body = viewer.get(detail_url(found, q="safari", at=2)).content.decode()
    nav = body[body.index('id="search-matches"') : body.index("</nav>", body.index('id="search-matches"'))]
    assert "<strong>3</strong> matches in this session" in nav and "match 2 of 3" in nav
    assert 'href="?q=safari&amp;at=1" rel="prev"' in nav and 'href="?q=safari&amp;at=3" rel="next"' in nav
    assert f'href="/sessions/{found.id}/">Clear search</a>' in nav
    assert re.search(r'<li id="message-2" [^>]*data-focus', body)
    for index in (1, 2, 3):
        html = message_html(body, index)
        assert re.search(r"<mark>safari</mark>", html, re.I), index
    for index in (0, 4):
        assert "<mark>" not in message_html(body, index)
    assert "match 1 of 3" in viewer.get(detail_url(found, q="safari", at=1)).content.decode()


def test_detail_first_and_last_match_have_no_previous_or_next(viewer, found):
    first = viewer.get(detail_url(found, q="safari", at=1)).content.decode()
    assert '<span class="muted" aria-disabled="true">‹ Previous match</span>' in first
    assert 'href="?q=safari&amp;at=2" rel="next"' in first
    last = viewer.get(detail_url(found, q="safari", at=3)).content.decode()
    assert 'href="?q=safari&amp;at=2" rel="prev"' in last
    assert '<span class="muted" aria-disabled="true">Next match ›</span>' in last
    between = viewer.get(detail_url(found, q="safari", at=0)).content.decode()  # not a match itself
    assert "match 1 of" not in between and 'href="?q=safari&amp;at=1" rel="next"' in between
    none = viewer.get(detail_url(found, q="zebra")).content.decode()
    assert "<strong>0</strong> matches in this session" in none and "<mark>zebra</mark>" in none


def test_detail_marks_in_hostile_and_json_content_are_the_only_markup(viewer):
    s = SessionService.new(name="hostile")
    s.set_messages([Message("user", HOSTILE), Message("assistant", '{"note": "<b>Safari</b> & \\u003c"}')])
    body = viewer.get(detail_url(s, q="safari", at=0)).content.decode()
    text = re.search(r'<div class="text">(.*?)</div>', message_html(body, 0), re.S).group(1)
    assert_only_marks_are_markup(text)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "&lt;mark&gt;fake&lt;/mark&gt;" in text
    assert "evil" in text and "<mark>evil" not in text  # stored marker characters are not marks
    # While it is marked, JSON is shown as its pretty text (the highlighter's markup cannot hold the marks).
    json_row = message_html(body, 1)
    assert '<div class="content json">' in json_row and '<pre class="hl">' not in json_row
    pretty = re.search(r'<div class="text">(.*?)</div>', json_row, re.S).group(1)
    assert_only_marks_are_markup(pretty)
    assert "&lt;b&gt;<mark>Safari</mark>&lt;/b&gt;" in pretty and "\\u003c" in pretty  # JSON shown as written


def test_detail_marks_words_in_a_prompts_folded_schema_and_opens_it(viewer):
    prompt = (
        "Task: Classify the ticket.\n\nInput: Safari 17 export fails\n\nResponse JSON Schema:\n"
        '{"type": "object", "properties": {"browser": {"description": "e.g. Safari"}}}\n\nRespond with JSON.'
    )
    s = SessionService.new(name="prompt")
    s.set_messages([Message("user", prompt)])
    row = message_html(viewer.get(detail_url(s, q="safari", at=0)).content.decode(), 0)
    assert row.count("<mark>Safari</mark>") == 2  # in the input and inside the schema
    assert '<details class="fold schema" open>' in row and '<pre class="hl">' not in row
    plain = message_html(viewer.get(detail_url(s, at=0)).content.decode(), 0)
    assert '<details class="fold schema">' in plain and '<pre class="hl">' in plain  # folded, highlighted


def test_detail_opens_a_match_past_the_fold_in_full(viewer):
    s = SessionService.new(name="long")
    s.set_messages([Message("user", "filler words " * 400 + "the word Safari at the end")])
    body = viewer.get(detail_url(s, q="safari", at=0)).content.decode()
    assert "<mark>Safari</mark> at the end" in body and "Show all" not in message_html(body, 0)
    plain = viewer.get(detail_url(s, at=0)).content.decode()  # without a search it stays folded
    assert "Show all" in message_html(plain, 0)


def test_detail_paging_and_loading_more_keep_the_words_marked(viewer):
    s = SessionService.new(name="long")
    words = ["safari" if i % 50 == 7 else "other" for i in range(250)]
    s.set_messages([Message("user", f"message {i} {word}") for i, word in enumerate(words)])
    body = viewer.get(detail_url(s, q="safari", at=107)).content.decode()
    assert "<strong>5</strong> matches" in body and "match 3 of 5" in body
    assert 'href="?page=2&amp;q=safari" data-key="next-page"' in body
    assert '<input type="hidden" name="q" value="safari">' in body  # the jump form
    chunk_url = re.search(r'<li class="more after"><a [^>]*hx-get="([^"]+)"', body).group(1)
    assert "q=safari" in chunk_url
    chunk = viewer.get(chunk_url.replace("&amp;", "&"), HTTP_HX_REQUEST="true").content.decode()
    assert "<mark>safari</mark>" in message_html(chunk, 207) and "<mark>" not in message_html(chunk, 208)


@pytest.mark.parametrize(
    ("q", "error"),
    [("a" * 201, "at most 200 characters"), ("safari\x00", "must not contain NUL")],
)
def test_detail_bad_search_words_are_a_400_that_says_why(viewer, found, q, error):
    before = found.version()
    response = viewer.get(detail_url(found, q=q))
    assert response.status_code == 400 and error in response.content.decode()
    chunk = viewer.get(
        reverse("sessions_app:message_chunk", args=[found.id]) + "?" + f"page=0&q={q}".replace("\x00", "%00"),
        HTTP_HX_REQUEST="true",
    )
    assert chunk.status_code == 400 and error in chunk.content.decode()
    assert found.version() == before


# ---------------------------------------------------------------- marking itself


def test_marked_html_escapes_everything_and_drops_stray_marks():
    s, e = search.MARK_START, search.MARK_STOP
    html = search.marked_html(f"<i>a</i> {s}<b>x</b>{e} {e}y{s}z")
    assert str(html) == "&lt;i&gt;a&lt;/i&gt; <mark>&lt;b&gt;x&lt;/b&gt;</mark> y<mark>z</mark>"


@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite marks the words as typed")
def test_sqlite_marks_each_word_any_case():
    (marked,) = search.mark_words(["Export on SAFARI, export again"], "export safari")
    assert str(marked) == "<mark>Export</mark> on <mark>SAFARI</mark>, <mark>export</mark> again"


@pytest.mark.postgres
def test_postgres_marks_what_full_text_search_matched_stems_included(viewer):
    s = SessionService.new(name="billing")
    s.set_messages([Message("user", "I was charged twice"), Message("user", "charging again, recharge")])
    row = row_of(viewer.get(list_url(q="charge")).content.decode(), s)
    assert "<mark>charged</mark> twice" in snippet_of(row)  # "charge" and "charged" share the stem
    body = viewer.get(detail_url(s, q="charge", at=1)).content.decode()
    assert "<strong>2</strong> matches" in body and "<mark>charging</mark> again, recharge" in body
    phrase = viewer.get(detail_url(s, q='"charged twice"', at=0)).content.decode()
    assert "<strong>1</strong> match in this session" in phrase

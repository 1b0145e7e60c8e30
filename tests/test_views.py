"""Dashboard views: permissions, CSRF, every edit action, version conflicts and every bad input."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from sessions_app.domain.types import Message, TokenUsage
from sessions_app.services import SessionService

pytestmark = pytest.mark.django_db

CONFLICT = re.compile(r"This session changed \(v(\d+) → v(\d+)\) since you loaded it")
HTMX = {"HTTP_HX_REQUEST": "true"}


TRIAGE = [  # the conversation the dashboard's tests edit
    Message("system", "Answer with JSON only."),
    Message("user", "first question"),
    Message("assistant", "first answer"),
    Message("user", "second question"),
    Message("assistant", "second answer"),
]


@pytest.fixture
def session() -> SessionService:
    s = SessionService.new(name="triage #1", metadata={"program": "ticket-triage", "env": "test"})
    s.set_messages(TRIAGE)
    return s


def contents(s: SessionService) -> list[str]:
    return [m.content for m in s.messages()]


def snapshot(s: SessionService) -> tuple:
    return (s.messages(), s.last_usage(), s.version())


def url(name: str, s: SessionService, *args: object) -> str:
    return reverse(f"sessions_app:{name}", args=[s.id, *args])


def text(response) -> str:  # noqa: ANN001
    return response.content.decode()


# Every write, as (url name, extra url args, valid POST data without expected_version).
WRITES = [
    ("append", (), {"role": "user", "content": "appended"}),
    ("insert", (), {"index": "1", "role": "system", "content": "inserted", "where": "above"}),
    ("replace", (2,), {"role": "assistant", "content": "replaced"}),
    ("remove", (2,), {}),
    ("move", (4,), {"to_index": "1"}),
    ("truncate", (), {"keep_first": "1", "keep_last": "2"}),
    ("prune", (), {"n": "1"}),
    ("clear", (), {}),
    ("set_messages", (), {"messages_json": '[{"role": "user", "content": "only"}]'}),
    ("set_usage", (), {"prompt": "10", "completion": "5", "total": "15"}),
]
WRITE_IDS = [w[0] for w in WRITES]


# ---------------------------------------------------------------- authentication and permissions


@pytest.mark.parametrize("path", ["list", "detail", "chunk", "row", "preview"])
def test_anonymous_reads_redirect_to_login(client, session, path):
    target = {
        "list": reverse("sessions_app:session_list"),
        "detail": url("session_detail", session),
        "chunk": url("message_chunk", session),
        "row": url("message_row", session, 0),
        "preview": url("bulk_preview", session, "truncate") + "?keep_first=1&keep_last=1",
    }[path]
    response = client.get(target)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name,args,data", WRITES, ids=WRITE_IDS)
def test_anonymous_writes_redirect_to_login_and_change_nothing(client, session, name, args, data):
    before = snapshot(session)
    response = client.post(url(name, session, *args), {**data, "expected_version": session.version()})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert snapshot(session) == before


def test_user_without_any_role_gets_403(session, nobody):
    assert nobody.get(reverse("sessions_app:session_list")).status_code == 403
    assert nobody.get(url("session_detail", session)).status_code == 403


def test_detail_page_shows_messages_once_not_as_flash_messages(viewer, session):
    body = text(viewer.get(url("session_detail", session)))
    assert 'class="notice ' not in body and body.count("first question") == 1


def test_viewer_reads_without_edit_controls(viewer, session):
    listing = viewer.get(reverse("sessions_app:session_list"))
    assert listing.status_code == 200 and "triage #1" in text(listing)
    page = viewer.get(url("session_detail", session))
    body = text(page)
    assert page.status_code == 200 and "first question" in body
    for control in ('id="append-form"', "data-mode=", "/move/", "Truncate or prune", "draggable"):
        assert control not in body, control


@pytest.mark.parametrize("name,args,data", WRITES, ids=WRITE_IDS)
def test_viewer_gets_403_on_every_write_and_nothing_changes(viewer, session, name, args, data):
    before = snapshot(session)
    response = viewer.post(url(name, session, *args), {**data, "expected_version": session.version()})
    assert response.status_code == 403
    assert snapshot(session) == before


@pytest.mark.parametrize("mode", ["edit", "insert-above", "insert-below", "remove"])
def test_viewer_cannot_open_editing_forms(viewer, session, mode):
    v = session.version()
    assert viewer.get(url("message_row", session, 1) + f"?mode={mode}&v={v}", **HTMX).status_code == 403
    assert viewer.get(url("session_detail", session) + f"?row=1&mode={mode}&v={v}").status_code == 403
    assert viewer.get(url("bulk_preview", session, "prune") + f"?n=1&v={v}").status_code == 403


@pytest.mark.parametrize("name,args,data", WRITES[:3], ids=WRITE_IDS[:3])
def test_writes_refuse_get(editor, session, name, args, data):
    assert editor.get(url(name, session, *args)).status_code == 405


def test_unknown_session_is_404(editor):
    missing = "00000000-0000-0000-0000-000000000001"
    assert editor.get(f"/sessions/{missing}/").status_code == 404
    assert editor.post(f"/sessions/{missing}/append/", {"expected_version": 0}).status_code == 404


# ---------------------------------------------------------------- CSRF


def test_post_without_csrf_token_is_refused(session, csrf_checked_editor):
    client = csrf_checked_editor
    before = snapshot(session)
    data = {"role": "user", "content": "x", "expected_version": session.version()}
    assert client.post(url("append", session), data).status_code == 403
    assert snapshot(session) == before


def test_post_with_the_pages_token_in_the_htmx_header_or_the_form_works(session, csrf_checked_editor):
    client = csrf_checked_editor
    page = text(client.get(url("session_detail", session)))
    header_token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
    form_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = {"role": "user", "content": "via htmx", "expected_version": session.version()}
    assert client.post(url("append", session), data, HTTP_X_CSRFTOKEN=header_token, **HTMX).status_code == 200
    data = {
        "role": "user",
        "content": "via form",
        "expected_version": session.version(),
        "csrfmiddlewaretoken": form_token,
    }
    assert client.post(url("append", session), data).status_code == 302
    assert contents(session)[-2:] == ["via htmx", "via form"]


# ---------------------------------------------------------------- every write, plain and htmx


EXPECTED_AFTER = {
    "append": [
        "Answer with JSON only.",
        "first question",
        "first answer",
        "second question",
        "second answer",
        "appended",
    ],
    "insert": [
        "Answer with JSON only.",
        "inserted",
        "first question",
        "first answer",
        "second question",
        "second answer",
    ],
    "replace": ["Answer with JSON only.", "first question", "replaced", "second question", "second answer"],
    "remove": ["Answer with JSON only.", "first question", "second question", "second answer"],
    "move": ["Answer with JSON only.", "second answer", "first question", "first answer", "second question"],
    "truncate": ["Answer with JSON only.", "second question", "second answer"],
    "prune": ["Answer with JSON only.", "first question", "first answer"],
    "clear": [],
    "set_messages": ["only"],
    "set_usage": [
        "Answer with JSON only.",
        "first question",
        "first answer",
        "second question",
        "second answer",
    ],
}


@pytest.mark.parametrize("name,args,data", WRITES, ids=WRITE_IDS)
def test_every_write_without_js_redirects_to_the_page(editor, session, name, args, data):
    v = session.version()
    response = editor.post(url(name, session, *args), {**data, "expected_version": v})
    assert response.status_code == 302
    assert response["Location"].startswith(url("session_detail", session))
    assert contents(session) == EXPECTED_AFTER[name]
    assert session.version() == v + 1
    event = session.events()[-1]
    assert event.actor == "erin"
    follow = editor.get(response["Location"])
    assert follow.status_code == 200 and f'data-version="{v + 1}"' in text(follow)


@pytest.mark.parametrize("name,args,data", WRITES, ids=WRITE_IDS)
def test_every_write_with_htmx_returns_the_fresh_detail_partial(editor, session, name, args, data):
    v = session.version()
    response = editor.post(url(name, session, *args), {**data, "expected_version": v}, **HTMX)
    assert response.status_code == 200
    body = text(response)
    assert body.lstrip().startswith('<div id="session-detail"') and "<html" not in body
    assert f'data-version="{v + 1}"' in body and f"v{v + 1}" in body
    assert contents(session) == EXPECTED_AFTER[name]
    if name == "set_usage":
        assert session.last_usage() == TokenUsage(10, 5, 15)
        assert "15</strong> total" in body


def test_set_usage_total_defaults_to_the_sum(editor, session):
    editor.post(
        url("set_usage", session), {"prompt": "7", "completion": "3", "expected_version": session.version()}
    )
    assert session.last_usage() == TokenUsage(7, 3, 10)


def test_insert_below_the_last_message_appends(editor, session):
    v = session.version()
    data = {"index": "5", "role": "user", "content": "at end", "where": "below", "expected_version": v}
    assert editor.post(url("insert", session), data).status_code == 302
    assert contents(session)[-1] == "at end"


def test_content_whitespace_is_kept_exactly(editor, session):
    content = "  indented\n\n\ttabbed  \n"
    editor.post(
        url("replace", session, 1),
        {"role": "user", "content": content, "expected_version": session.version()},
    )
    assert session.at(1).content == content


# ---------------------------------------------------------------- version conflicts


@pytest.mark.parametrize("name,args,data", WRITES, ids=WRITE_IDS)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_stale_version_is_a_409_with_the_message_and_nothing_is_written(
    editor, session, name, args, data, htmx
):
    stale = session.version()
    session.append("user", "someone else wrote this")
    before = snapshot(session)
    response = editor.post(
        url(name, session, *args), {**data, "expected_version": stale}, **(HTMX if htmx else {})
    )
    assert response.status_code == 409
    body = text(response)
    assert CONFLICT.search(body).groups() == (str(stale), str(stale + 1))
    assert "someone else wrote this" in body  # the fresh view
    assert f'data-version="{stale + 1}"' in body
    assert snapshot(session) == before
    if htmx:
        assert response["HX-Retarget"] == "#session-detail" and response["HX-Reswap"] == "outerHTML"


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_conflict_on_an_edit_keeps_the_typed_text_beside_the_stored_one_and_saving_again_works(
    editor, session, htmx
):
    stale = session.version()
    session.replace(2, Message("assistant", "their newer answer"))
    mine = "my careful rewrite\nsecond line"
    post = {"role": "assistant", "content": mine, "expected_version": stale}
    response = editor.post(url("replace", session, 2), post, **(HTMX if htmx else {}))
    body = text(response)
    assert response.status_code == 409 and CONFLICT.search(body)
    assert session.at(2).content == "their newer answer"  # nothing written
    # The editor is open at #2 with what the operator typed, what is stored now beside it, and a save
    # that carries the fresh version.
    editor_form = re.search(
        r'<form class="editor" method="post" action="[^"]*/messages/2/replace/".*?</form>', body, re.S
    )
    assert editor_form, "the editor of #2 is not open after the conflict"
    form_html = editor_form.group(0)
    assert ">my careful rewrite\nsecond line</textarea>" in form_html
    assert 'class="theirs"' in form_html and "their newer answer" in form_html
    fresh = session.version()
    assert f'name="expected_version" value="{fresh}"' in form_html
    assert f"Save mine again on v{fresh}" in form_html
    # Applying it again on the fresh version succeeds.
    again = editor.post(url("replace", session, 2), {**post, "expected_version": fresh})
    assert again.status_code == 302 and session.at(2).content == mine


@pytest.mark.parametrize(
    "name,args,data,typed",
    [
        ("append", (), {"role": "user", "content": "typed to append"}, ">typed to append</textarea>"),
        (
            "insert",
            (),
            {"index": "3", "role": "user", "content": "typed to insert", "where": "below"},
            ">typed to insert</textarea>",
        ),
        ("set_messages", (), {"messages_json": '[{"role": "user", "content": "pasted"}]'}, "pasted"),
        ("set_usage", (), {"prompt": "123", "completion": "45", "total": ""}, 'value="123"'),
    ],
    ids=["append", "insert", "set_messages", "set_usage"],
)
def test_conflict_keeps_what_was_typed_in_other_forms(editor, session, name, args, data, typed):
    stale = session.version()
    session.append("user", "someone else wrote this")
    response = editor.post(url(name, session, *args), {**data, "expected_version": stale}, **HTMX)
    assert response.status_code == 409 and typed in text(response)


def test_opening_an_editor_from_a_stale_page_is_a_conflict_not_another_message(editor, session):
    stale = session.version()
    session.insert(0, Message("system", "new first message"))
    response = editor.get(url("message_row", session, 1) + f"?mode=edit&v={stale}", **HTMX)
    assert response.status_code == 409 and CONFLICT.search(text(response))
    assert response["HX-Retarget"] == "#session-detail"
    assert 'name="content" rows="8"' not in text(response)  # no editor opened
    plain = editor.get(url("session_detail", session) + f"?row=1&mode=edit&v={stale}")
    assert plain.status_code == 409 and CONFLICT.search(text(plain))


def test_loading_more_rows_after_a_change_refreshes_the_whole_view(editor):
    s = SessionService.new(name="long")
    s.set_messages([Message("user", f"m{i}") for i in range(250)])
    stale = s.version()
    s.append("user", "new")
    response = editor.get(url("message_chunk", s) + f"?page=1&direction=after&v={stale}", **HTMX)
    assert response.status_code == 409 and response["HX-Retarget"] == "#session-detail"


# ---------------------------------------------------------------- bad input: 4xx inline, nothing changes

BAD_INPUTS = [
    ("append", (), {"role": "robot", "content": "x"}, "Role must be user, assistant or system"),
    ("append", (), {"role": "user", "content": ""}, "Content is empty"),
    ("append", (), {"role": "user", "content": "   \n "}, "Content is empty"),
    ("append", (), {"role": "user", "content": "nul\x00byte"}, "must not contain NUL"),
    ("append", (), {"content": "x"}, "Choose a role"),
    ("insert", (), {"index": "99", "role": "user", "content": "x"}, "index 99 out of bounds (len=5)"),
    ("insert", (), {"index": "-1", "role": "user", "content": "x"}, "Index must be at least 0"),
    ("insert", (), {"index": "one", "role": "user", "content": "x"}, "Index must be a whole number"),
    ("replace", (99,), {"role": "user", "content": "x"}, "index 99 out of bounds (len=5)"),
    ("replace", (1,), {"role": "boss", "content": "x"}, "Role must be user, assistant or system"),
    ("replace", (1,), {"role": "user", "content": ""}, "Content is empty"),
    ("remove", (5,), {}, "index 5 out of bounds (len=5)"),
    ("move", (1,), {"to_index": "5"}, "index 5 out of bounds (len=5)"),
    ("move", (1,), {"to_index": ""}, "Target index is required"),
    ("move", (9,), {"to_index": "0"}, "index 9 out of bounds (len=5)"),
    ("truncate", (), {"keep_first": "-1", "keep_last": "1"}, "Keep first must be at least 0"),
    ("truncate", (), {"keep_first": "1"}, "Keep last is required"),
    ("prune", (), {"n": "x"}, "Exchanges to remove must be a whole number"),
    ("set_messages", (), {"messages_json": "[{"}, "Not valid JSON"),
    ("set_messages", (), {"messages_json": '{"role": "user"}'}, "Expected a JSON list"),
    ("set_messages", (), {"messages_json": '["hi"]'}, "Item 0 must be an object"),
    (
        "set_messages",
        (),
        {"messages_json": '[{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}]'},
        "Item 1: role must be one of user, assistant, system",
    ),
    (
        "set_messages",
        (),
        {"messages_json": '[{"role": "user"}]'},
        "Item 0: a message must have exactly the fields",
    ),
    (
        "set_messages",
        (),
        {"messages_json": '[{"role": "user", "content": 5}]'},
        "Item 0: content must be text",
    ),
    ("set_messages", (), {"messages_json": ""}, "Paste a JSON list"),
    ("set_usage", (), {"prompt": "-1", "completion": "1"}, "Prompt tokens must be at least 0"),
    ("set_usage", (), {"prompt": "1", "completion": "many"}, "Completion tokens must be a whole number"),
]


@pytest.mark.parametrize(
    "name,args,data,message", BAD_INPUTS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_INPUTS)]
)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_bad_input_is_a_4xx_with_the_error_inline_and_nothing_changes(
    editor, session, name, args, data, message, htmx
):
    before = snapshot(session)
    response = editor.post(
        url(name, session, *args), {**data, "expected_version": session.version()}, **(HTMX if htmx else {})
    )
    # An index past the end conflicts with the session's current length (409); the rest are 400.
    assert response.status_code == (409 if "out of bounds" in message else 400)
    body = text(response)
    assert message in body.replace("&#x27;", "'").replace("&quot;", '"')
    assert 'class="error" role="alert"' in body or 'class="banner error"' in body
    assert snapshot(session) == before


@pytest.mark.parametrize("name,args,data", WRITES, ids=WRITE_IDS)
def test_missing_expected_version_is_refused(editor, session, name, args, data):
    before = snapshot(session)
    response = editor.post(url(name, session, *args), data)
    assert response.status_code == 400
    assert "did not say which version" in text(response)
    assert snapshot(session) == before


def test_oversized_content_is_refused(editor, session, settings):
    settings.ZYN_MAX_CONTENT_BYTES = 100
    before = snapshot(session)
    response = editor.post(
        url("append", session), {"role": "user", "content": "é" * 60, "expected_version": session.version()}
    )
    assert response.status_code == 400
    assert "content is 120 bytes; the limit is 100 bytes" in text(response)
    assert snapshot(session) == before


def test_a_failed_edit_keeps_what_the_operator_typed(editor, session):
    response = editor.post(
        url("replace", session, 1),
        {"role": "wizard", "content": "my careful text", "expected_version": session.version()},
    )
    body = text(response)
    assert response.status_code == 400 and "my careful text</textarea>" in body
    assert re.search(r'<li id="message-1" class="msg role-user has-error"', body)


def test_failed_insert_is_shown_in_the_row_it_was_opened_from(editor, session):
    data = {
        "index": "3",
        "where": "below",
        "role": "user",
        "content": "",
        "expected_version": session.version(),
    }
    body = text(editor.post(url("insert", session), data))
    row = body[body.index('<li id="message-2"') : body.index('<li id="message-3"')]
    assert "Content is empty" in row and 'name="where" value="below"' in row


# ---------------------------------------------------------------- previews of truncate and prune


def test_truncate_preview_shows_what_remains_and_the_boundary_messages(editor, session):
    v = session.version()
    response = editor.get(
        url("bulk_preview", session, "truncate") + f"?keep_first=1&keep_last=2&v={v}",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="bulk-preview",
    )
    body = text(response)
    assert response.status_code == 200 and body.lstrip().startswith('<div id="bulk-preview"')
    assert (
        "<strong>3</strong> of 5 messages will remain" in body
        and "<strong>2</strong> removed (#1–#2)" in body
    )
    for label, snippet in [
        ("last kept at the start", "Answer with JSON only."),
        ("first removed", "first question"),
        ("last removed", "first answer"),
        ("first kept at the end", "second question"),
    ]:
        assert re.search(
            rf"{label}</span> <span class=\"idx\">#\d+</span> <span class=\"badge \w+\">\w+</span> "
            rf"<span class=\"preview-text\">{re.escape(snippet)}",
            body,
        ), label
    assert f'name="expected_version" value="{v}"' in body and "Confirm: remove 2 messages" in body
    assert contents(session)[1] == "first question"  # a preview writes nothing


def test_prune_preview_without_js_is_the_full_page(editor, session):
    response = editor.get(url("session_detail", session) + f"?preview=prune&n=1&v={session.version()}")
    body = text(response)
    assert response.status_code == 200 and "<html" in body
    assert "<strong>3</strong> of 5 messages will remain" in body and "Confirm: remove 2 messages" in body


def test_preview_that_removes_nothing_says_so_and_offers_no_confirm(editor, session):
    body = text(
        editor.get(
            url("bulk_preview", session, "truncate") + f"?keep_first=3&keep_last=3&v={session.version()}"
        )
    )
    assert "Nothing would be removed" in body and "Confirm:" not in body


@pytest.mark.parametrize(
    "query,message",
    [
        ("keep_first=-2&keep_last=1", "Keep first must be at least 0"),
        ("keep_first=a&keep_last=1", "Keep first must be a whole number"),
    ],
)
def test_bad_preview_input_is_400(editor, session, query, message):
    response = editor.get(
        url("bulk_preview", session, "truncate") + f"?{query}&v={session.version()}",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="bulk-preview",
    )
    assert response.status_code == 400 and message in text(response)


def test_preview_of_a_stale_page_is_a_conflict(editor, session):
    stale = session.version()
    session.append("user", "more")
    response = editor.get(url("bulk_preview", session, "prune") + f"?n=1&v={stale}")
    assert response.status_code == 409 and CONFLICT.search(text(response))


def test_unknown_preview_action_is_404(editor, session):
    assert editor.get(url("bulk_preview", session, "clear")).status_code == 404


# ---------------------------------------------------------------- reading: rows, windows, rendering


def test_row_modes_render_one_row(editor, session):
    v = session.version()
    edit = text(editor.get(url("message_row", session, 2) + f"?mode=edit&v={v}", **HTMX))
    assert edit.lstrip().startswith('<li id="message-2"') and "first answer</textarea>" in edit
    assert 'action="/sessions/' in edit and "/messages/2/replace/" in edit and "Move to index" in edit
    remove = text(editor.get(url("message_row", session, 2) + f"?mode=remove&v={v}", **HTMX))
    assert "Yes, remove #2" in remove
    above = text(editor.get(url("message_row", session, 2) + f"?mode=insert-above&v={v}", **HTMX))
    assert 'name="index" value="2"' in above
    below = text(editor.get(url("message_row", session, 2) + f"?mode=insert-below&v={v}", **HTMX))
    assert 'name="index" value="3"' in below
    missing = editor.get(url("message_row", session, 7) + f"?v={v}", **HTMX)
    assert missing.status_code == 409 and "index 7 out of bounds (len=5)" in text(missing)


def test_row_link_without_js_opens_the_editor_on_the_page(editor, session):
    response = editor.get(url("message_row", session, 2) + f"?mode=edit&v={session.version()}")
    assert response.status_code == 302
    page = text(editor.get(response["Location"]))
    assert "first answer</textarea>" in page


def test_content_is_escaped_never_html(editor, session):
    session.append("user", '<script>alert("x")</script><b>bold</b>')
    body = text(editor.get(url("session_detail", session)))
    assert "<script>alert" not in body and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert "<b>bold</b>" not in body


def test_json_content_is_pretty_printed_in_a_collapsible_block(editor, session):
    session.append("assistant", '{"primary": "billing", "scores": [1, 2]}')
    body = text(editor.get(url("session_detail", session)))
    assert (  # longer than 6 lines: folded to its keys (tests/test_density.py)
        '<details class="fold json"><summary><span class="fold-kind">JSON</span> '
        '<code class="outline">{ primary, scores }</code> <span class="fold-count">2 keys</span></summary>'
        '<pre class="hl"><span class="p">{</span>\n<span class="w">  </span><span class="nt">"primary"</span>'
        in body
    )


def test_long_content_is_folded_with_show_all(editor, session):
    session.append("user", "\n".join(f"line {i}" for i in range(200)))
    index = session.len() - 1
    body = text(editor.get(url("session_detail", session)))
    assert "line 23" in body and "line 150" not in body and "Show all (" in body
    full = text(editor.get(url("message_row", session, index) + f"?full=1&v={session.version()}", **HTMX))
    assert "line 199" in full and "Show all" not in full
    plain = text(editor.get(url("session_detail", session) + f"?at={index}&full={index}"))
    assert "line 199" in plain


def test_large_session_shows_a_window_and_jumps_to_an_index(viewer):
    s = SessionService.new(name="big")
    s.set_messages(
        [Message("user" if i % 2 == 0 else "assistant", f"message number {i}") for i in range(1050)]
    )
    first = text(viewer.get(url("session_detail", s)))
    assert first.count('<li id="message-') == 100
    assert "message number 99<" in first and "message number 100<" not in first
    assert 'hx-trigger="click, revealed"' in first and "page 1 / 11" in first
    jump = text(viewer.get(url("session_detail", s) + "?at=1042"))
    assert "message number 1042<" in jump and 'id="message-1000"' in jump and "page 11 / 11" in jump
    assert "data-focus" in jump
    chunk = viewer.get(url("message_chunk", s) + f"?page=3&direction=after&v={s.version()}", **HTMX)
    body = text(chunk)
    assert chunk.status_code == 200 and body.count('<li id="message-') == 100
    assert 'id="message-300"' in body and "page=4" in body and "Show earlier" not in body
    before = text(viewer.get(url("message_chunk", s) + f"?page=2&direction=before&v={s.version()}", **HTMX))
    assert 'id="message-200"' in before and "Show earlier" in before and "Show more" not in before
    assert viewer.get(url("message_chunk", s) + "?page=2").status_code == 302  # without JS: the page


def test_header_and_chart_show_usage_from_the_event_log(viewer):
    s = SessionService.new(name="usage")
    s.record_exchange("q1", "a1", TokenUsage(100, 20, 120))
    s.set_usage(None)
    s.record_exchange("q2", "a2", TokenUsage(300, 60, 360))
    body = text(viewer.get(url("session_detail", s)))
    assert 'id="usage-chart"' in body and body.count('<li style="--p:') == 2
    assert "prompt 100 / completion 20 / total 120" in body and "peak 360 tokens" in body
    assert "300</span> prompt" in body and "<strong>360</strong> total" in body


def test_detail_links_to_the_export_downloads(viewer, session):
    body = text(viewer.get(url("session_detail", session)))
    export = reverse("session-export", args=[session.id])
    for fmt in ("json", "jsonl", "openai"):
        assert f'href="{export}?format={fmt}"' in body
    response = viewer.get(f"{export}?format=jsonl")
    assert response.status_code == 200 and b"first question" in b"".join(response.streaming_content)


def test_session_without_usage_says_so(viewer, session):
    body = text(viewer.get(url("session_detail", session)))
    assert "No usage recorded yet." in body and "none recorded" in body


def test_detail_root_and_partials_carry_the_version_and_ids(viewer, session):
    body = text(viewer.get(url("session_detail", session)))
    v = session.version()
    for element in ("session-detail", "session-header", "message-list"):
        assert re.search(rf'id="{element}"[^>]*data-version="{v}"', body), element
    assert re.search(rf'<li id="message-0"[^>]*data-version="{v}"', body)


# ---------------------------------------------------------------- the list


def test_list_rows_show_count_preview_usage_tags(viewer, session):
    session.record_exchange("what is up", "all <good>", TokenUsage(11, 22, 33))
    body = text(viewer.get(reverse("sessions_app:session_list")))
    row = body[body.index(f'id="session-{session.id}"') :]
    row = row[: row.index("</tr>")]
    assert ">7<" in row and "all &lt;good&gt;" in row and ">33<" in row
    assert "program: ticket-triage" in row and 'data-version="' in row and "<time" in row


def test_list_search_partial_for_htmx(viewer, session):
    SessionService.new(name="other")
    response = viewer.get(
        reverse("sessions_app:session_list") + "?q=triage",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="session-table",
    )
    body = text(response)
    assert (
        body.lstrip().startswith('<div id="session-table"') and "triage #1" in body and ">other<" not in body
    )


def test_list_bad_filters_are_400_with_a_message(viewer, session):
    response = viewer.get(reverse("sessions_app:session_list") + "?since=yesterday&q=triage")
    assert response.status_code == 400 and "From date must look like 2026-11-25" in text(response)
    assert "triage #1" in text(response)  # the search words still apply
    response = viewer.get(reverse("sessions_app:session_list") + "?since=2026-02-02&until=2026-01-01")
    assert response.status_code == 400 and "From date is after the To date" in text(response)
    response = viewer.get(reverse("sessions_app:session_list") + "?page=0")
    assert response.status_code == 400


def test_list_paginates_newest_first(viewer):
    made = [SessionService.new(name=f"s{i:03d}") for i in range(55)]
    made[10].append("user", "touch")  # most recently updated now
    first = text(viewer.get(reverse("sessions_app:session_list")))
    assert first.index(">s010<") < first.index(">s054<") and ">s000<" not in first and "Older ›" in first
    second = text(viewer.get(reverse("sessions_app:session_list") + "?page=2"))
    assert ">s000<" in second and "‹ Newer" in second and "Older ›" not in second


def test_oversized_form_post_gets_a_readable_400_and_changes_nothing(editor, session, settings):
    # Larger than DATA_UPLOAD_MAX_MEMORY_SIZE: Django refuses it before the view (in the CSRF check).
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    before = (session.version(), session.messages())
    url = reverse("sessions_app:append", args=[session.id])
    response = editor.post(url, {"role": "user", "content": "x" * 5000, "expected_version": before[0]})
    assert response.status_code == 400
    assert b"Nothing was changed" in response.content and b"Bad request" in response.content
    assert (session.version(), session.messages()) == before


def test_last_opens_the_window_of_the_newest_message_and_marks_it(viewer):
    s = SessionService.new(name="long")
    s.set_messages([Message("user", f"m{i}") for i in range(250)])
    page = text(viewer.get(url("session_detail", s)))
    assert 'href="?at=last"' in page  # however many messages are added meanwhile
    last = text(viewer.get(url("session_detail", s) + "?at=last"))
    assert 'id="message-249"' in last and 'id="message-199"' not in last
    assert re.search(r'<li id="message-249" [^>]*data-focus', last)

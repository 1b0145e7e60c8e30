"""History pages through the test client: permissions, CSRF, restore / undo, errors, export."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from sessions_app import history, models
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.services import SessionService

pytestmark = pytest.mark.django_db


@pytest.fixture
def session() -> SessionService:
    s = SessionService.new(name="triage")
    s.append("system", "Answer in JSON.", actor="api:triage-bot")  # v1
    s.record_exchange("Classify <b>A</b>", '{"decision": "a"}', TokenUsage(10, 5, 15), actor="api:triage-bot")
    s.truncate(0, 1, actor="erin")  # v3
    return s


def url(name: str, s: SessionService, *args: object) -> str:
    return reverse(f"history:{name}", args=[s.id, *args])


def test_history_page_lists_events_newest_first_in_words(viewer, session):
    page = viewer.get(url("list", session))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index(">v3<") < html.index(">v2<") < html.index(">v1<")
    assert "truncated to first 0 + last 1 (2 removed)" in html
    assert "api:triage-bot" in html and "erin" in html
    assert "Classify &lt;b&gt;A&lt;/b&gt;" in html  # escaped
    assert "Undo last change" not in html and "Restore" not in html  # a viewer cannot write


def test_history_is_paginated_and_htmx_gets_the_partial(viewer):
    s = SessionService.new(name="long")
    for i in range(60):
        s.append("user", f"message {i}")
    first = viewer.get(url("list", s)).content.decode()
    assert ">v60<" in first and ">v11<" in first and ">v10<" not in first and "Page 1 of 2" in first
    partial = viewer.get(url("list", s) + "?page=2", headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert partial.status_code == 200 and "<html" not in body and 'id="event-list"' in body
    assert ">v10<" in body and ">v11<" not in body


def test_version_page_shows_the_session_as_it_was(viewer, session):
    page = viewer.get(url("version", session, 2))
    html = page.content.decode()
    assert page.status_code == 200 and "as it was at v2" in html
    assert "Answer in JSON." in html and "{&quot;decision&quot;: &quot;a&quot;}" in html and "#2" in html
    assert "10 prompt + 5 completion = 15 tokens" in html
    assert viewer.get(url("version", session, 0)).status_code == 200


def test_version_that_does_not_exist_is_a_clear_400(viewer, session):
    page = viewer.get(url("version", session, 9))
    assert page.status_code == 400
    assert "version 9 does not exist: this session is at v3" in page.content.decode()


def test_diff_page(viewer, session):
    page = viewer.get(url("diff", session) + "?from=0&to=2")
    html = page.content.decode()
    assert page.status_code == 200 and "3 added" in html and "0 removed" in html
    assert "none" in html and "15 tokens" in html
    default = viewer.get(url("diff", session)).content.decode()
    assert "From" in default and "2 removed" in default  # the last change, v2 → v3
    bad = viewer.get(url("diff", session) + "?from=abc&to=2")
    assert bad.status_code == 400 and "from must be a whole number" in bad.content.decode()


def test_restore_by_an_editor_is_a_new_version_with_the_actor(
    editor, session, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = editor.post(url("restore", session, 2), {"expected_version": 3})
    assert response.status_code == 302 and len(callbacks) == 1
    assert session.version() == 4 and session.len() == 3
    event = session.events()[-1]
    assert (event.op, event.actor, event.args["restored_version"]) == ("restore", "erin", 2)
    follow = editor.get(response["Location"]).content.decode()
    assert (
        "Restored version 2 (2 added, 0 removed, 0 changed)</span> · saved as <strong>v4</strong>" in follow
    )


def test_restore_asks_first_showing_what_it_will_change(editor, session):
    """Not one click: the version page links to a confirmation that shows the
    messages added, removed and changed (from now to the restored version), and nothing is written."""
    version_page = editor.get(url("version", session, 1)).content.decode()
    confirm_url = url("restore", session, 1) + "?from=3"
    assert (
        f'href="{confirm_url}"' in version_page
        and '<button type="submit" class="restore"' not in version_page
    )
    page = editor.get(confirm_url)
    html = page.content.decode()
    expected = history.diff_versions(session.id, 3, 1)
    assert page.status_code == 200 and session.version() == 3  # asking is not restoring
    assert "Restore v1?" in html
    assert f"{expected.added} added" in html and f"{expected.removed} removed" in html
    assert f"{expected.changed} changed" in html and "1 → 1 messages" in html
    assert "Answer in JSON." in html and "{&quot;decision&quot;: &quot;a&quot;}" in html  # the entries
    assert 'name="expected_version" value="3"' in html and "Restore v1 as v4" in html
    # From a page loaded before the last change: it says so, and describes the restore from now.
    stale = editor.get(url("restore", session, 1) + "?from=2").content.decode()
    assert "This session changed (v2 → v3) since you loaded it" in stale and 'value="3"' in stale
    # A version that does not exist is a clear 400.
    assert editor.get(url("restore", session, 9)).status_code == 400


def test_restore_confirms_with_the_write_notice_whose_undo_restores_the_version_before(editor, session):
    response = editor.post(url("restore", session, 2), {"expected_version": 3}, follow=True)
    html = response.content.decode()
    assert response.status_code == 200
    start = html.index('<div id="notices"')
    notice = html[start : html.index("</main>", start)]
    assert '<div class="notice saved success">' in notice
    assert (
        "Restored version 2 (2 added, 0 removed, 0 changed)</span> · saved as <strong>v4</strong>" in notice
    )
    # Undo: straight back to v3, refused should anyone have written since v4.
    assert f'action="{url("restore", session, 3)}"' in notice
    assert '<input type="hidden" name="expected_version" value="4">' in notice
    undone = editor.post(url("restore", session, 3), {"expected_version": 4})
    assert undone.status_code == 302 and session.version() == 5 and session.len() == 1


def test_restore_with_htmx_redirects_the_client(editor, session):
    response = editor.post(
        url("restore", session, 1), {"expected_version": 3}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and response["HX-Redirect"]


def test_stale_restore_is_refused_with_409_and_changes_nothing(editor, session):
    response = editor.post(url("restore", session, 1), {"expected_version": 2})
    assert response.status_code == 409
    assert "This session changed (v2 → v3)" in response.content.decode()
    assert session.version() == 3


def test_restore_without_expected_version_is_a_400(editor, session):
    response = editor.post(url("restore", session, 1), {})
    assert (
        response.status_code == 400 and "expected_version must be a whole number" in response.content.decode()
    )
    assert session.version() == 3


def test_undo_and_undo_of_the_undo(editor, session):
    before = session.messages()
    assert editor.post(url("undo", session), {"expected_version": 3}).status_code == 302
    assert session.messages() == history.state_at(session.id, 2).messages and session.version() == 4
    assert editor.post(url("undo", session), {"expected_version": 4}).status_code == 302
    assert session.messages() == before and session.version() == 5
    stale = editor.post(url("undo", session), {"expected_version": 4})
    assert stale.status_code == 409 and session.version() == 5


def test_viewer_cannot_restore_or_undo(viewer, session):
    assert viewer.post(url("restore", session, 1), {"expected_version": 3}).status_code == 403
    assert viewer.post(url("undo", session), {"expected_version": 3}).status_code == 403
    assert session.version() == 3


def test_writes_need_post_and_csrf(session, csrf_checked_editor):
    client = csrf_checked_editor
    assert client.get(url("restore", session, 1)).status_code == 200  # the confirmation, a read
    assert client.get(url("undo", session)).status_code == 405
    assert client.post(url("restore", session, 1), {"expected_version": 3}).status_code == 403
    assert session.version() == 3


def test_pages_need_login_and_view_permission(session, nobody):
    anonymous = Client()
    response = anonymous.get(url("list", session))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    for name, args in [("list", ()), ("version", (1,)), ("diff", ()), ("export", ())]:
        assert nobody.get(url(name, session, *args)).status_code == 403


def test_unknown_session_is_404(viewer):
    missing = models.Session(name="never saved")
    assert viewer.get(reverse("history:list", args=[missing.id])).status_code == 404


def test_export_is_a_json_download_replaying_to_now(viewer, session):
    session.set_messages([Message("user", "ünï")], actor="erin")
    response = viewer.get(url("export", session))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert [e["version"] for e in data["events"]] == [1, 2, 3, 4]
    assert data["events"][-1]["args"]["messages"] == [{"role": "user", "content": "ünï"}]


def test_an_edit_in_the_history_shows_the_changed_words(viewer):
    s = SessionService.new(name="edits")
    text = 'The <b>quick</b> brown fox jumps over the lazy dog, says {"label": "bug"}.'
    s.append("assistant", text)
    s.replace(0, Message("assistant", text.replace("brown", "red").replace('"bug"', '"billing"')))
    html = viewer.get(url("list", s)).content.decode()
    row = html[html.index('data-version="2"') : html.index('data-version="1"')]
    assert "replaced message 0 (assistant)" in row and "was assistant:" not in row  # no two equal prefixes
    assert "<del>brown</del><ins>red</ins>" in row
    assert "<del>bug</del><ins>billing</ins>" in row
    assert "The &lt;b&gt;quick&lt;/b&gt; " in row  # unchanged words around it, escaped


def test_an_edit_of_markup_is_escaped_inside_the_diff(viewer):
    s = SessionService.new(name="xss")
    s.append("user", "<script>alert(1)</script> keep")
    s.replace(0, Message("system", "<img src=x onerror=alert(2)> keep"))
    html = viewer.get(url("list", s)).content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;<del>script&gt;</del><ins>img src=x onerror=</ins>alert(" in html
    assert "<del>1)&lt;/script</del><ins>2)</ins>&gt; keep" in html
    assert "replaced message 0 (user → system)" in html


def test_a_long_edit_is_folded_to_the_changed_words_with_show_all(viewer):
    before = " ".join(f"w{i}" for i in range(3000))
    s = SessionService.new(name="long edit")
    s.append("user", before)
    s.replace(0, Message("user", before.replace(" w1500 ", " CHANGED ")))
    html = viewer.get(url("list", s)).content.decode()
    compact = html[html.index('class="content word-diff-text compact"') : html.index("<details>")]
    assert "<del>w1500</del><ins>CHANGED</ins>" in compact and "w1497" in compact and "w10 " not in compact
    assert "Show all (" in html and html.count("w2999") == 1  # the whole diff once, behind <details>


def test_a_huge_edit_is_summarised_not_compared(viewer):
    import random

    rng = random.Random(5)
    s = SessionService.new(name="huge edit")
    s.append("user", " ".join(rng.choice(["red", "green", "blue"]) for _ in range(150_000)))
    s.replace(0, Message("user", " ".join(rng.choice(["red", "green", "blue"]) for _ in range(150_000))))
    page = viewer.get(url("list", s))
    html = page.content.decode()
    assert page.status_code == 200 and "Too long to compare word by word" in html
    assert len(html) < 50_000  # neither text is put in the page


def test_the_diff_page_shows_a_changed_message_as_words(viewer):
    s = SessionService.new(name="set")
    s.set_messages([Message("user", "first"), Message("assistant", "Answer: yes, ship it today.")])
    s.set_messages([Message("user", "first"), Message("assistant", "Answer: no, ship it tomorrow.")])
    for page in (viewer.get(url("diff", s)), viewer.get(url("diff", s) + "?from=1&to=2")):
        html = page.content.decode()
        assert page.status_code == 200 and "1 changed" in html
        assert "<del>yes</del><ins>no</ins>" in html and "<del>today</del><ins>tomorrow</ins>" in html


def test_the_restore_confirmation_shows_changed_messages_as_words(editor):
    s = SessionService.new(name="restore words")
    s.append("user", "keep the blue one")
    s.replace(0, Message("user", "keep the green one"))
    html = editor.get(url("restore", s, 1)).content.decode()
    assert "<del>green</del><ins>blue</ins>" in html

"""Renaming a session and editing its metadata in the admin: one service write (update_details).

It locks the row, checks the version the form was loaded at, bumps the version, records an event
in the admin's name (worded in history), and is published after commit, so watchers see it live.
"""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse

from sessions_app import history, models
from sessions_app.domain.errors import InvalidArgument, VersionConflict
from sessions_app.services import SessionService
from tests.live_support import frames_until, session_cookie, ws_headers
from tests.test_admin import Feed, change_url, consistent, contents, form_data, make
from zyn_site.asgi import application

pytestmark = pytest.mark.staff  # the editor signs in to the Django admin

db = database_sync_to_async


def details_form(s: SessionService, **changes: object) -> dict:
    data = form_data(s)
    data.update({k: json.dumps(v) if k == "metadata" else v for k, v in changes.items()})
    return data


@pytest.mark.django_db
def test_admin_rename_is_a_write_with_a_version_an_event_and_a_publish(
    editor, django_capture_on_commit_callbacks
):
    s = make("a", name="old name", metadata={"program": "triage"})
    feed = Feed(s)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = editor.post(change_url(s), details_form(s, name="new name"))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert s.row().name == "new name" and s.version() == 2 and contents(s) == ["a"]
    event = s.events()[-1]
    assert (event.op, event.actor, event.args) == (
        "update_details", "erin", {"name": "new name", "previous_name": "old name"}
    )  # fmt: skip
    assert len(callbacks) == 1
    assert feed.receive() == {
        "type": "session.changed", "session": str(s.id), "version": 2, "op": "update_details"
    }  # fmt: skip
    assert consistent(s)  # replay handles the op: it changes no messages and no usage
    page = editor.get(reverse("history:list", args=[s.id])).content.decode()
    assert "renamed &#x27;old name&#x27; → &#x27;new name&#x27;" in page
    version_page = editor.get(reverse("history:version", args=[s.id, 2]))
    assert version_page.status_code == 200 and "renamed &#x27;old name&#x27;" in version_page.content.decode()
    assert editor.get(reverse("history:export", args=[s.id])).json()["events"][-1]["description"] == (
        "renamed 'old name' → 'new name'"
    )


@pytest.mark.django_db
def test_admin_metadata_edit_is_worded_in_history(editor):
    s = make("a", metadata={"program": "triage", "owner": "ops"})
    data = details_form(s, metadata={"program": "billing", "tier": 2})
    assert editor.post(change_url(s), data).status_code == 302
    assert s.row().metadata == {"program": "billing", "tier": 2} and s.version() == 2
    event = s.events()[-1]
    assert event.args["previous_metadata"] == {"program": "triage", "owner": "ops"}
    assert history.describe_event(models.SessionEvent.objects.get(session_id=s.id, version=2)) == (
        "metadata changed: program 'triage' → 'billing', added tier = '2', removed owner"
    )
    page = editor.get(reverse("history:list", args=[s.id])).content.decode()
    assert "metadata changed: program" in page


@pytest.mark.django_db
def test_rename_with_message_edits_is_one_save_of_consecutive_versions(editor):
    s = make("a", "b", name="old")
    data = form_data(s, edit={0: {"content": "A!"}}, name="new")
    assert editor.post(change_url(s), data).status_code == 302
    assert [e.op for e in s.events()] == ["set_messages", "update_details", "replace"]
    assert s.row().name == "new" and contents(s) == ["A!", "b"] and consistent(s)


@pytest.mark.django_db
def test_stale_admin_form_is_a_conflict_and_changes_nothing(editor):
    s = make("a", name="mine")
    stale = details_form(s, name="theirs", metadata={"x": 1})
    s.append("user", "meanwhile", actor="api:bot")  # v2
    response = editor.post(change_url(s), stale)
    assert response.status_code == 200
    assert (
        "This session changed (v1 → v2) since you loaded it. Nothing was saved" in response.content.decode()
    )
    row = s.row()
    assert (row.name, row.metadata, row.version) == ("mine", {}, 2)


@pytest.mark.django_db
def test_a_write_the_form_check_missed_is_still_a_conflict(editor, monkeypatch):
    """The form's own check reads the version without a lock (a write may land right after it): the
    service's check under the lock is the one that holds."""
    from sessions_app.admin.forms import SessionAdminForm

    s = make("a", name="mine")
    data = details_form(s, name="theirs")
    s.append("user", "meanwhile", actor="api:bot")  # v2, after the form's check (simulated below)
    monkeypatch.setattr(
        SessionAdminForm, "clean_expected_version", lambda f: f.cleaned_data["expected_version"]
    )
    response = editor.post(change_url(s), data, follow=True)
    assert "Nothing was saved: " in response.content.decode()
    assert s.row().name == "mine" and s.version() == 2 and contents(s) == ["a", "meanwhile"]


@pytest.mark.django_db
def test_update_details_validates_like_new_and_import():
    s = make(name="n")
    cases = [
        ({"name": "bad\x00"}, "name must not contain NUL characters"),
        ({"name": "\ud800"}, "name is not valid Unicode text"),
        ({"name": "x" * 201}, "name is 201 characters; the limit is 200"),
        ({"metadata": {"k": "\x00"}}, "metadata.k must not contain NUL"),
        ({"metadata": {"\ud800": 1}}, "metadata key is not valid Unicode text"),
        ({"metadata": {"k": float("nan")}}, "metadata.k must be a number between"),
        ({"metadata": {"k": 10**5000}}, "metadata.k must be a number between"),
        ({"metadata": []}, "metadata must be a JSON object"),
        ({}, "give a new name, new metadata, or both"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InvalidArgument, match=message):
            s.update_details(**kwargs)
        if kwargs:  # new() checks name and metadata with the same functions
            with pytest.raises(InvalidArgument, match=message):
                SessionService.new(**kwargs)
    with pytest.raises(VersionConflict):
        s.update_details(name="late", expected_version=1)
    assert s.row().name == "n" and s.version() == 0 and s.events() == []


# ---------------------------------------------------------------- live


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("close_consumer_connections")
async def test_admin_rename_reaches_watchers_of_the_session_and_of_the_list(editor, viewer_user):
    from channels.testing import WebsocketCommunicator

    s = await db(make)("a", name="before rename")
    cookie = await db(session_cookie)(viewer_user)
    detail = WebsocketCommunicator(application, f"/ws/sessions/{s.id}/", headers=ws_headers(cookie))
    listing = WebsocketCommunicator(application, "/ws/sessions/", headers=ws_headers(cookie))
    assert (await detail.connect())[0] and (await listing.connect())[0]
    await detail.send_json_to({"type": "hello", "version": 1, "tail": True})
    await frames_until(detail, "ack")
    await listing.send_json_to({"type": "hello", "sessions": {str(s.id): 1}})
    await frames_until(listing, "ack")

    response = await db(editor.post)(change_url(s), await db(details_form)(s, name="after rename"))
    assert response.status_code == 302

    delta = await frames_until(detail, "delta")
    assert (delta.base, delta.version) == (1, 2)
    assert (
        'id="session-header"' in delta.html and "after rename" in delta.html and "message-" not in delta.html
    )
    row = await frames_until(listing, "row")
    assert row.version == 2 and "after rename" in row.html
    await detail.disconnect()
    await listing.disconnect()

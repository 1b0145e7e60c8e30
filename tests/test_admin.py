"""Django admin, through its own views: every change goes through SessionService.

Each message change made in the admin must bump the version, record an event (so replaying the
events gives the rows) and publish after commit; a stale form changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sessions_app import models
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.history.replay import replay
from sessions_app.live.events import session_group
from sessions_app.roles import ADMIN, EDITORS
from sessions_app.services import SessionService
from tests.live_support import make_user

pytestmark = [pytest.mark.django_db, pytest.mark.staff]

PREFIX = "message_rows"


def make(*contents: str, name: str = "s", metadata: dict | None = None) -> SessionService:
    s = SessionService.new(name=name, metadata=metadata or {})
    if contents:
        s.set_messages([Message("user" if i % 2 == 0 else "assistant", c) for i, c in enumerate(contents)])
    return s


def contents(s: SessionService) -> list[str]:
    return [m.content for m in s.messages()]


def consistent(s: SessionService) -> bool:
    """The rows are what the event log says: nothing wrote them behind the service's back."""
    row = s.row()
    messages, usage = replay(s.events())
    return (
        messages == s.messages()
        and usage == s.last_usage()
        and row.version == len(s.events())
        and row.message_count == len(messages)
    )


def change_url(s: SessionService) -> str:
    return reverse("admin:sessions_app_session_change", args=[s.id])


def form_data(
    s: SessionService,
    *,
    edit: dict[int, dict[str, Any]] | None = None,
    delete: set[int] = frozenset(),
    new: list[dict[str, Any]] = (),
    expected_version: int | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """What the change form posts for the session as loaded now, with the given changes."""
    row = s.row()
    rows = list(models.Message.objects.filter(session_id=s.id).order_by("order_key"))
    data: dict[str, Any] = {
        "name": row.name if name is None else name,
        "metadata": json.dumps(row.metadata),
        "expected_version": row.version if expected_version is None else expected_version,
        f"{PREFIX}-TOTAL_FORMS": len(rows) + len(new),
        f"{PREFIX}-INITIAL_FORMS": len(rows),
        f"{PREFIX}-MIN_NUM_FORMS": 0,
        f"{PREFIX}-MAX_NUM_FORMS": 1000,
        "_save": "Save",
    }
    for i, m in enumerate(rows):  # i: the row's index (its rank by order key)
        fields = {"id": m.pk, "session": s.id, "position": i, "role": m.role, "content": m.content}
        fields.update((edit or {}).get(i, {}))
        if i in delete:
            fields["DELETE"] = "on"
        data.update({f"{PREFIX}-{i}-{k}": v for k, v in fields.items()})
    for j, fields in enumerate(new, start=len(rows)):
        data.update({f"{PREFIX}-{j}-{k}": v for k, v in {"session": s.id, "position": "", **fields}.items()})
    return data


class Feed:
    """A real channel-layer subscriber to one session's group."""

    def __init__(self, s: SessionService) -> None:
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(session_group(s.id), self.channel)

    def receive(self) -> dict[str, Any]:
        return async_to_sync(self.layer.receive)(self.channel)


def test_inline_edit_is_a_replace_with_version_event_and_publish(editor, django_capture_on_commit_callbacks):
    s = make("a", "b", "c")
    feed = Feed(s)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = editor.post(change_url(s), form_data(s, edit={1: {"content": "B!"}}))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert contents(s) == ["a", "B!", "c"] and s.version() == 2
    event = s.events()[-1]
    assert (event.op, event.actor, event.args["index"], event.args["previous"]["content"]) == (
        "replace", "erin", 1, "b"
    )  # fmt: skip
    assert len(callbacks) == 1
    assert feed.receive() == {"type": "session.changed", "session": str(s.id), "version": 2, "op": "replace"}
    assert consistent(s)


def test_inline_delete_is_a_remove(editor):
    s = make("a", "b", "c")
    assert editor.post(change_url(s), form_data(s, delete={0})).status_code == 302
    assert contents(s) == ["b", "c"] and s.events()[-1].op == "remove" and s.events()[-1].args["index"] == 0
    assert consistent(s)


def test_inline_new_row_is_an_insert_at_its_position_or_an_append(editor):
    s = make("a", "b")
    data = form_data(s, new=[{"position": 0, "role": "system", "content": "first"}])
    assert editor.post(change_url(s), data).status_code == 302
    assert contents(s) == ["first", "a", "b"] and s.events()[-1].op == "insert"
    assert (
        editor.post(change_url(s), form_data(s, new=[{"role": "user", "content": "last"}])).status_code == 302
    )
    assert contents(s) == ["first", "a", "b", "last"] and s.version() == 3
    assert consistent(s)


@pytest.mark.parametrize(
    ("moves", "expected"),
    [
        ({1: 3}, ["a", "c", "d", "b", "e"]),  # down
        ({4: 1}, ["a", "e", "b", "c", "d"]),  # up
        ({0: 1, 1: 0}, ["b", "a", "c", "d", "e"]),  # swap
        ({0: 4}, ["b", "c", "d", "e", "a"]),
    ],
)
def test_inline_reorder_is_moves(editor, moves, expected):
    s = make("a", "b", "c", "d", "e")
    data = form_data(s, edit={old: {"position": new} for old, new in moves.items()})
    assert editor.post(change_url(s), data).status_code == 302
    assert contents(s) == expected
    assert {e.op for e in s.events()[1:]} == {"move"}
    assert consistent(s)


def test_one_save_with_every_kind_of_change(editor, django_capture_on_commit_callbacks):
    s = make("a", "b", "c", "d", "e")
    data = form_data(
        s,
        delete={1},
        edit={2: {"content": "C!"}, 4: {"position": 0}},
        new=[{"position": 2, "role": "system", "content": "new"}],
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert editor.post(change_url(s), data).status_code == 302
    assert contents(s) == ["e", "a", "new", "C!", "d"]
    ops = [e.op for e in s.events()[1:]]
    assert ops == ["remove", "replace", "move", "insert"] and len(callbacks) == len(ops)
    assert {e.actor for e in s.events()[1:]} == {"erin"}
    assert consistent(s)


def test_stale_form_gets_a_clear_error_and_changes_nothing(editor):
    s = make("a", "b")
    stale = form_data(s, edit={0: {"content": "mine"}})
    s.append("user", "meanwhile", actor="api:bot")  # v2
    response = editor.post(change_url(s), stale)
    html = response.content.decode()
    assert (
        response.status_code == 200
        and "This session changed (v1 → v2) since you loaded it. Nothing was saved" in html
    )
    assert contents(s) == ["a", "b", "meanwhile"] and s.version() == 2


def test_invalid_rows_are_form_errors_and_change_nothing(editor):
    s = make("a", "b")
    nul = editor.post(change_url(s), form_data(s, edit={0: {"content": "bad\x00"}}))
    assert nul.status_code == 200 and "Null characters are not allowed" in nul.content.decode()
    far = editor.post(change_url(s), form_data(s, edit={0: {"position": 5}}))
    assert far.status_code == 200 and "position must be between 0 and 1" in far.content.decode()
    role = editor.post(change_url(s), form_data(s, edit={0: {"role": "robot"}}))
    assert role.status_code == 200 and "Select a valid choice" in role.content.decode()
    assert contents(s) == ["a", "b"] and s.version() == 1


def test_renaming_is_one_write_and_keeps_the_messages(editor):
    s = make("a", name="old")
    response = editor.post(change_url(s), form_data(s, name="new name"))
    assert response.status_code == 302
    assert s.row().name == "new name" and s.version() == 2 and contents(s) == ["a"]


def test_add_session_with_messages_goes_through_the_service(editor):
    data = {
        "name": "made in admin",
        "metadata": '{"program": "triage"}',
        f"{PREFIX}-TOTAL_FORMS": 2,
        f"{PREFIX}-INITIAL_FORMS": 0,
        f"{PREFIX}-MIN_NUM_FORMS": 0,
        f"{PREFIX}-MAX_NUM_FORMS": 1000,
        f"{PREFIX}-0-role": "system",
        f"{PREFIX}-0-content": "Be brief.",
        f"{PREFIX}-0-position": "",
        f"{PREFIX}-1-role": "user",
        f"{PREFIX}-1-content": "Hi",
        f"{PREFIX}-1-position": "",
        "_save": "Save",
    }
    response = editor.post(reverse("admin:sessions_app_session_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    row = models.Session.objects.get(name="made in admin")
    s = SessionService(row.pk)
    assert row.metadata == {"program": "triage"} and contents(s) == ["Be brief.", "Hi"]
    assert [e.op for e in s.events()] == ["insert", "insert"] and consistent(s)


def test_viewer_sees_the_session_but_cannot_change_it(viewer):
    s = make("a")
    assert viewer.get(change_url(s)).status_code == 200
    assert viewer.post(change_url(s), form_data(s, edit={0: {"content": "x"}})).status_code == 403
    assert contents(s) == ["a"]


def test_sessions_cannot_be_deleted_in_the_admin(editor):
    s = make("a")
    response = editor.post(reverse("admin:sessions_app_session_delete", args=[s.id]), {"post": "yes"})
    assert response.status_code == 403 and models.Session.objects.filter(pk=s.id).exists()


def test_change_list_search_filters_and_counts(editor):
    a = make("x", "y", "z", name="alpha triage", metadata={"program": "triage", "tier": 2})
    b = make("x", name="beta", metadata={"program": "summarise"})
    changelist = reverse("admin:sessions_app_session_changelist")
    page = editor.get(changelist).content.decode()
    assert "alpha triage" in page and "beta" in page and 'class="field-message_count">3<' in page
    assert "program = triage" in page  # the metadata filter offers recent key/value pairs
    found = editor.get(changelist, {"q": "alpha"}).content.decode()
    assert "alpha triage" in found and "beta" not in found
    by_id = editor.get(changelist, {"q": str(b.id)}).content.decode()
    assert "beta" in by_id and "alpha triage" not in by_id
    by_meta = editor.get(changelist, {"metadata": json.dumps(["program", "triage"])}).content.decode()
    assert "alpha triage" in by_meta and "beta" not in by_meta
    by_number = editor.get(changelist, {"metadata": json.dumps(["tier", 2])}).content.decode()
    assert "alpha triage" in by_number and "beta" not in by_number
    bad = editor.get(changelist, {"metadata": "nonsense"})
    assert bad.status_code == 302 and "e=1" in bad["Location"]
    # The date filter's own links carry aware datetimes ("2026-11-25 00:00:00+00:00"), as here.
    midnight = timezone.localtime(a.row().updated_at).replace(hour=0, minute=0, second=0, microsecond=0)
    today = editor.get(changelist, {"updated_at__gte": str(midnight)})
    assert "alpha triage" in today.content.decode()


def action(client: Client, name: str, sessions: list[SessionService], **fields: Any) -> Any:
    changelist = reverse("admin:sessions_app_session_changelist")
    data: dict[str, Any] = {"action": name, "_selected_action": [str(s.id) for s in sessions]}
    if fields:
        data.update(fields, apply="yes")
        data.update({f"version_{s.id}": s.version() for s in sessions if f"version_{s.id}" not in fields})
    else:
        data["index"] = 0
    return client.post(changelist, data)


def test_actions_show_an_intermediate_form_then_go_through_the_service(
    editor, django_capture_on_commit_callbacks
):
    a = make(*"abcdefgh", name="a")
    b = make(*"abcdef", name="b")
    confirm = action(editor, "truncate_messages", [a, b])
    html = confirm.content.decode()
    assert confirm.status_code == 200 and "Keep first" in html and f'name="version_{a.id}" value="1"' in html
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        done = action(editor, "truncate_messages", [a, b], keep_first=1, keep_last=2)
    assert done.status_code == 302 and len(callbacks) == 2
    assert contents(a) == ["a", "g", "h"] and contents(b) == ["a", "e", "f"]
    assert a.events()[-1].args == {"keep_first": 1, "keep_last": 2, "removed_count": 5}
    assert a.events()[-1].actor == "erin"
    action(editor, "prune_messages", [a], n=1)
    assert contents(a) == ["a"] and a.events()[-1].op == "prune"
    action(editor, "clear_messages", [a, b], apply="yes")
    assert contents(a) == [] and contents(b) == [] and b.events()[-1].op == "clear"
    assert consistent(a) and consistent(b)


def test_action_with_bad_numbers_or_a_stale_version_changes_nothing(editor):
    a = make(*"abcd", name="a")
    b = make(*"abcd", name="b")
    bad = action(editor, "truncate_messages", [a], keep_first=-1, keep_last=1)
    assert bad.status_code == 200 and "greater than or equal to 0" in bad.content.decode()
    assert a.version() == 1
    stale_version = a.version()
    a.append("user", "meanwhile")
    response = action(editor, "prune_messages", [a, b], n=1, **{f"version_{a.id}": stale_version})
    follow = editor.get(response["Location"]).content.decode()
    assert "This session changed (v1 → v2)" in follow
    assert contents(a) == ["a", "b", "c", "d", "meanwhile"] and contents(b) == ["a", "b"]


def test_viewer_gets_no_actions(viewer):
    a = make("a")
    response = action(viewer, "clear_messages", [a], apply="yes")
    assert response.status_code in (200, 302, 403) and contents(a) == ["a"]


def test_session_events_are_read_only(editor):
    s = make("a")
    s.set_usage(TokenUsage(1, 2, 3))
    event = models.SessionEvent.objects.filter(session_id=s.id).first()
    changelist = editor.get(reverse("admin:sessions_app_sessionevent_changelist"))
    assert changelist.status_code == 200 and "set usage to 1 prompt + 2 completion = 3 tokens" in (
        changelist.content.decode()
    )
    found = editor.get(reverse("admin:sessions_app_sessionevent_changelist"), {"q": str(s.id)})
    assert found.status_code == 200 and "set all messages" in found.content.decode()
    assert editor.get(reverse("admin:sessions_app_sessionevent_add")).status_code == 403
    change = reverse("admin:sessions_app_sessionevent_change", args=[event.pk])
    assert editor.get(change).status_code == 200  # a read-only view
    assert editor.post(change, {"op": "clear", "version": 1}).status_code == 403
    delete = reverse("admin:sessions_app_sessionevent_delete", args=[event.pk])
    assert editor.post(delete, {"post": "yes"}).status_code == 403
    assert models.SessionEvent.objects.filter(pk=event.pk, op="set_messages").exists()


def test_large_sessions_have_no_inline(editor, settings):
    from sessions_app.admin import sessions as session_admin

    s = make(*[str(i) for i in range(session_admin.ADMIN_INLINE_LIMIT + 1)])
    page = editor.get(change_url(s)).content.decode()
    assert "Use the dashboard to edit its messages" in page and f"{PREFIX}-TOTAL_FORMS" not in page


def test_untouched_rows_are_not_edits_even_with_browser_newlines(editor):
    s = make("  padded  \n", "two\nlines", "three\r\nlines")
    data = form_data(s, edit={1: {"content": "two\r\nlines"}}, name="renamed")
    assert editor.post(change_url(s), data).status_code == 302
    assert contents(s) == ["  padded  \n", "two\nlines", "three\r\nlines"]
    assert [e.op for e in s.events()] == ["set_messages", "update_details"]  # the rename only
    edited = form_data(s, edit={1: {"content": "2\r\nlines "}})
    assert editor.post(change_url(s), edited).status_code == 302
    assert contents(s)[1] == "2\nlines " and s.version() == 3


# ---------------------------------------------------------------- accounts and roles


@pytest.fixture
def people(viewer_user, editor_user, admin_user, nobody_user) -> None:
    """One user in each role (the admins: "root" and "ada") and one in none."""
    make_user("ada", ADMIN)


def _usernames(html: str) -> set[str]:
    import re

    return set(re.findall(r'<th class="field-username"><a href="[^"]+">([^<]+)</a>', html))


def test_the_user_list_shows_each_users_role_and_filters_by_role(admin_client, people):
    url = reverse("admin:auth_user_changelist")
    html = admin_client.get(url).content.decode()
    assert '<th scope="col" class="column-role">' in html
    row = html[html.index(">erin<") :]
    assert "editor (Session editors)" in row[: row.index("</tr>")]
    assert "viewer (Session viewers)" in html and "admin (superuser)" in html
    assert 'data-filter-title="role"' in html and '<a href="?role=none">no role</a>' in html
    assert _usernames(admin_client.get(url + "?role=editor").content.decode()) == {"erin"}
    assert _usernames(admin_client.get(url + "?role=viewer").content.decode()) == {"vic"}
    assert _usernames(admin_client.get(url + "?role=admin").content.decode()) == {"ada", "root"}
    assert _usernames(admin_client.get(url + "?role=none").content.decode()) == {"nobody"}


def test_the_role_groups_say_what_they_allow_and_who_is_in_them(admin_client, people):
    listing = admin_client.get(reverse("admin:auth_group_changelist")).content.decode()
    assert "What it allows" in listing and "Members" in listing
    assert "read every session, its messages and its history (view_session)" in listing
    assert "every Session API write from the dashboard and the admin" in listing
    editors = Group.objects.get(name=EDITORS)
    page = admin_client.get(reverse("admin:auth_group_change", args=[editors.pk])).content.decode()
    assert "session | Can change session" in page and "session event | Can view session event" in page
    erin = User.objects.get(username="erin")
    assert f'<a href="{reverse("admin:auth_user_change", args=[erin.pk])}">erin</a>' in page
    assert ">vic<" not in page
    empty = Group.objects.create(name="Auditors")
    assert (
        "nobody yet (manage.py create_account"
        in admin_client.get(reverse("admin:auth_group_change", args=[empty.pk])).content.decode()
    )

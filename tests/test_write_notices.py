"""The notice after every write from the dashboard: "Message #3 removed · saved as v41 · Undo".

One mechanism: the write queues a django.contrib.messages notice; a plain POST's
redirected page shows it in the #notices status region, an htmx answer swaps it in out of band and names
the write in HX-Trigger-After-Settle.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from sessions_app.services import SessionService

from .test_views import HTMX, TRIAGE, WRITE_IDS, WRITES, contents, snapshot, text, url

pytestmark = pytest.mark.django_db

WORDS = {
    "append": "Message #5 appended",
    "insert": "Message inserted at #1",
    "replace": "Message #2 edited",
    "remove": "Message #2 removed",
    "move": "Message #4 moved to #1",
    "truncate": "Truncated to the first 1 and the last 2 messages",
    "prune": "Pruned the last 1 exchange",
    "clear": "All messages cleared",
    "set_messages": "All messages replaced (1 message now)",
    "set_usage": "Usage set to 10 + 5 = 15 tokens",
}


class Region(HTMLParser):
    """The element with id ``wanted``: its attributes, its text, and the forms in it (action, fields)."""

    def __init__(self, wanted: str) -> None:
        super().__init__()
        self.wanted, self.depth, self.found = wanted, 0, 0
        self.attrs: dict[str, str | None] = {}
        self.words: list[str] = []
        self.forms: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if self.depth:
            if tag not in ("input", "br", "img"):
                self.depth += 1
            if tag == "form":
                self.forms.append({"action": a.get("action"), "method": a.get("method"), "fields": {}})
            if tag == "input" and self.forms:
                self.forms[-1]["fields"][a.get("name")] = a.get("value")
            if tag == "button" and self.forms:
                self.forms[-1]["button"] = True
        elif a.get("id") == self.wanted:
            self.depth, self.attrs = 1, a
            self.found += 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in ("input", "br", "img"):
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.words.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.words).split())


def region(html: str, wanted: str = "notices") -> Region:
    parser = Region(wanted)
    parser.feed(html)
    return parser


@pytest.fixture
def session() -> SessionService:
    s = SessionService.new(name="triage #1")
    s.set_messages(TRIAGE)
    return s


def restore_url(s: SessionService, version: int) -> str:
    return reverse("history:restore", args=[s.id, version])


def test_every_page_has_the_empty_status_region_from_the_start(viewer, editor, session):
    """Screen readers announce what is put into a live region that was already there, not a new one."""
    for client, path in (
        (viewer, url("session_detail", session)),
        (editor, reverse("sessions_app:session_list")),
    ):
        notices = region(text(client.get(path)))
        assert notices.found == 1
        assert notices.attrs["role"] == "status" and notices.attrs["aria-live"] == "polite"
        assert notices.text == "" and notices.forms == []


@pytest.mark.parametrize("name,args,data", WRITES, ids=WRITE_IDS)
def test_every_write_without_js_shows_its_notice_with_undo_on_the_redirected_page(
    editor, session, name, args, data
):
    v = session.version()
    response = editor.post(url(name, session, *args), {**data, "expected_version": v})
    assert response.status_code == 302
    notices = region(text(editor.get(response["Location"])))
    assert notices.text == f"{WORDS[name]} · saved as v{v + 1} · Undo ×"
    (undo,) = notices.forms
    # Undo restores the version before the write, and only if the session is still at the written version.
    assert undo["action"] == restore_url(session, v) and undo["method"] == "post"
    assert undo["fields"]["expected_version"] == str(v + 1) and undo["fields"]["csrfmiddlewaretoken"]
    # Shown once: the next page has no notice.
    assert region(text(editor.get(url("session_detail", session)))).text == ""


@pytest.mark.parametrize("name,args,data", WRITES, ids=WRITE_IDS)
def test_every_write_with_htmx_swaps_its_notice_in_and_names_the_version_and_op(
    editor, session, name, args, data
):
    v = session.version()
    response = editor.post(url(name, session, *args), {**data, "expected_version": v}, **HTMX)
    assert response.status_code == 200
    trigger = json.loads(response["HX-Trigger-After-Settle"])
    assert trigger == {"zyn:saved": {"session": str(session.id), "version": v + 1, "op": name}}
    body = text(response)
    assert body.lstrip().startswith('<div id="session-detail"')  # the fresh view, then the notice
    notices = region(body)
    assert notices.attrs["hx-swap-oob"] == "innerHTML"
    assert notices.text == f"{WORDS[name]} · saved as v{v + 1} · Undo ×"
    assert notices.forms[0]["action"] == restore_url(session, v)
    assert notices.forms[0]["fields"]["expected_version"] == str(v + 1)
    # Used up by the htmx answer: a later page load does not show it again.
    assert region(text(editor.get(url("session_detail", session)))).text == ""


def test_dismiss_without_js_is_a_link_to_the_page_the_operator_is_on(editor, session):
    v = session.version()
    page = url("session_detail", session) + "?page=0"
    response = editor.post(
        url("remove", session, 1),
        {"expected_version": v},
        HTTP_HX_CURRENT_URL=f"http://testserver{page}",
        **HTMX,
    )
    assert f'class="notice-dismiss" href="{page}"' in text(response)
    # An htmx request that does not say where it came from: the session's page.
    bare = editor.post(url("remove", session, 1), {"expected_version": v + 1}, **HTMX)
    assert f'class="notice-dismiss" href="{url("session_detail", session)}"' in text(bare)
    plain = editor.post(url("remove", session, 1), {"expected_version": v + 2}, follow=True)
    assert f'class="notice-dismiss" href="{plain.request["PATH_INFO"]}' in text(plain)


@pytest.mark.parametrize("name,args,data", WRITES, ids=WRITE_IDS)
def test_undo_from_the_notice_restores_the_version_before_the_write(editor, session, name, args, data):
    before, v = snapshot(session), session.version()
    response = editor.post(url(name, session, *args), {**data, "expected_version": v}, **HTMX)
    (undo,) = region(text(response)).forms
    undone = editor.post(undo["action"], undo["fields"], follow=True)
    assert undone.status_code == 200 and undone.redirect_chain[-1][0] == url("session_detail", session)
    assert snapshot(session)[:2] == before[:2] and session.version() == v + 2
    event = session.events()[-1]
    assert (event.op, event.args["restored_version"], event.actor) == ("restore", v, "erin")
    # The undo's own notice, with its own Undo (back to what the write made).
    notices = region(text(undone))
    assert (
        notices.text.startswith(f"Restored version {v} (") and f"· saved as v{v + 2} · Undo" in notices.text
    )
    assert notices.forms[0]["action"] == restore_url(session, v + 1)
    assert notices.forms[0]["fields"]["expected_version"] == str(v + 2)


def test_undo_after_someone_else_wrote_is_a_clear_conflict_and_changes_nothing(editor, session):
    v = session.version()
    response = editor.post(url("remove", session, 1), {"expected_version": v}, **HTMX)
    (undo,) = region(text(response)).forms
    session.append("user", "written by someone else meanwhile")  # v + 2
    after = snapshot(session)
    refused = editor.post(undo["action"], undo["fields"])
    assert refused.status_code == 409
    assert f"This session changed (v{v + 1} → v{v + 2}) since you loaded it" in text(refused)
    assert snapshot(session) == after


@pytest.mark.parametrize(
    "data,status",
    [({"role": "user", "content": ""}, 400), ({"role": "user", "content": "late"}, 409)],
    ids=["invalid", "stale"],
)
def test_a_refused_write_has_no_notice(editor, session, data, status):
    stale = session.version() - 1 if status == 409 else session.version()
    response = editor.post(url("append", session), {**data, "expected_version": stale}, **HTMX)
    assert response.status_code == status
    assert "HX-Trigger-After-Settle" not in response and region(text(response)).found == 0
    plain = editor.post(url("append", session), {**data, "expected_version": stale})
    assert plain.status_code == status and region(text(plain)).text == ""


def test_history_undo_confirms_with_the_same_notice(editor, session):
    session.append("user", "to be undone")
    v = session.version()
    response = editor.post(reverse("history:undo", args=[session.id]), {"expected_version": v}, follow=True)
    assert contents(session)[-1] == "second answer" and session.version() == v + 1
    notices = region(text(response))
    assert (
        notices.text == f"Undid v{v}: the session is back as it was at v{v - 1} · saved as v{v + 1} · Undo ×"
    )
    assert notices.forms[0]["action"] == restore_url(session, v)

"""Dashboard form input that cannot be stored as sent: a 400 a person understands (never a 500, never
stored altered), with nothing changed (no message, no version, no event)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

from sessions_app.models import ApiKey, SessionEvent
from sessions_app.services import SessionService, apikeys
from tests.test_views import HTMX, WRITE_IDS, WRITES, snapshot, text, url

pytestmark = pytest.mark.django_db

URLENCODED = "application/x-www-form-urlencoded"
NOT_UTF8 = (
    "The form&#x27;s text is not valid UTF-8, so it cannot be stored as it was sent. Nothing was changed."
)


@pytest.fixture
def session() -> SessionService:
    s = SessionService.new(name="forms")
    s.append("user", "question")
    s.append("assistant", "answer")
    return s


def unchanged(s: SessionService, before: tuple) -> bool:
    return snapshot(s) == before and SessionEvent.objects.filter(session_id=s.id).count() == before[2]


# ---------------------------------------------------------------- replace all from pasted JSON

PASTES = {
    "deep list": ("[" * 5000 + "]" * 5000, "The JSON is nested too deeply to read"),
    "deep object": ('{"a":' * 5000 + "1" + "}" * 5000, "The JSON is nested too deeply to read"),
    "deep inside an item": (
        '[{"role": "user", "content": ' + "[" * 5000 + "]" * 5000 + "}]",
        "The JSON is nested too deeply to read",
    ),
    "5,000-digit integer": ("[" + "9" * 5000 + "]", "The JSON holds a number with 5,000 digits"),
    "5,000-digit content": (
        '[{"role": "user", "content": -' + "1" * 5000 + "}]",
        "The JSON holds a number with 5,000 digits",
    ),
    "NaN": ('[{"role": "user", "content": NaN}]', "Not valid JSON: NaN is not a JSON value"),
    "Infinity": (
        '[{"role": "user", "content": "x"}, Infinity]',
        "Not valid JSON: Infinity is not a JSON value",
    ),
    "-Infinity": ("[-Infinity]", "Not valid JSON: -Infinity is not a JSON value"),
    "1e400": ('[{"role": "user", "content": 1e400}]', "Item 0: content must be text"),
}


@pytest.mark.parametrize("name", list(PASTES))
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_replace_all_refuses_unreadable_json_with_a_400_and_changes_nothing(editor, session, name, htmx):
    paste, message = PASTES[name]
    before = snapshot(session)
    response = editor.post(
        url("set_messages", session),
        {"messages_json": paste, "expected_version": session.version()},
        **(HTMX if htmx else {}),
    )
    assert response.status_code == 400
    assert message in text(response).replace("&quot;", '"')
    assert unchanged(session, before)


# ---------------------------------------------------------------- form bytes that are not UTF-8

BAD_BYTES = {
    "escaped byte FF": b"note=%FF",
    "escaped surrogate": b"note=%ED%A0%80",  # UTF-8 has no surrogates
    "truncated sequence": b"note=caf%C3",
    "overlong encoding": b"note=%C0%AF",
    "raw byte": b"note=caf\xe9",  # unescaped and not UTF-8: Django would guess Latin-1 for the whole body
}


@pytest.mark.parametrize("name,args,data", WRITES, ids=WRITE_IDS)
@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_every_write_refuses_a_form_that_is_not_utf8_and_changes_nothing(
    editor, session, name, args, data, encoding
):
    before = snapshot(session)
    fields = {**data, "expected_version": str(session.version())}
    if encoding == "urlencoded":
        body, content_type = urlencode(fields).encode() + b"&note=%FF", URLENCODED
    else:
        body = encode_multipart(BOUNDARY, fields)
        # A field whose bytes are not UTF-8, in a part of its own.
        extra = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\n'.encode() + b"\xff\xfe\r\n"
        )
        body = extra + body
        content_type = MULTIPART_CONTENT
    response = editor.generic("POST", url(name, session, *args), body, content_type=content_type)
    assert response.status_code == 400 and NOT_UTF8 in text(response)
    assert unchanged(session, before)


@pytest.mark.parametrize("name", list(BAD_BYTES))
def test_no_undecodable_byte_is_stored_as_a_replacement_character(editor, session, name):
    before = snapshot(session)
    body = f"role=user&expected_version={session.version()}&content=hello&".encode() + BAD_BYTES[name]
    response = editor.generic("POST", url("append", session), body, content_type=URLENCODED, **HTMX)
    assert response.status_code == 400 and NOT_UTF8 in text(response)
    content_only = f"role=user&expected_version={session.version()}&".encode() + BAD_BYTES[name].replace(
        b"note=", b"content="
    )
    assert (
        editor.generic("POST", url("append", session), content_only, content_type=URLENCODED).status_code
        == 400
    )
    assert unchanged(session, before)


def test_history_writes_refuse_a_form_that_is_not_utf8(editor, session):
    before = snapshot(session)
    for name, args in (("history:restore", [session.id, 1]), ("history:undo", [session.id])):
        body = f"expected_version={session.version()}&note=%FF".encode()
        response = editor.generic("POST", reverse(name, args=args), body, content_type=URLENCODED)
        assert response.status_code == 400 and NOT_UTF8 in text(response), name
    assert unchanged(session, before)


def test_valid_utf8_is_accepted_exactly_including_a_real_replacement_character(editor, session):
    typed = "caf\u00e9 \ufffd € 👋"
    fields = {"role": "user", "content": typed, "expected_version": str(session.version())}
    response = editor.generic(
        "POST", url("append", session), urlencode(fields).encode(), content_type=URLENCODED
    )
    assert response.status_code == 302
    fields["expected_version"] = str(session.version())
    response = editor.generic(
        "POST", url("append", session), encode_multipart(BOUNDARY, fields), content_type=MULTIPART_CONTENT
    )
    assert response.status_code == 302
    assert [m.content for m in session.messages()[-2:]] == [typed, typed]


def test_the_api_words_its_own_errors_for_form_bodies(session):
    key = apikeys.create_key("writer", ApiKey.Scope.WRITE)[1]
    before = snapshot(session)
    response = Client().generic(
        "POST",
        f"/api/v1/sessions/{session.id}/append",
        b"content=%FF",
        content_type=URLENCODED,
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert 400 <= response.status_code < 500 and response["Content-Type"] == "application/json"
    assert unchanged(session, before)

"""The JSON API answers every client mistake with a 4xx in its error shape, a message worded
for a person, and nothing changed; name and metadata are checked by one function for every caller."""

from __future__ import annotations

import json
import math
import uuid

import pytest
from django.test import Client

from sessions_app.domain.checks import MAX_METADATA_DEPTH
from sessions_app.domain.errors import InvalidArgument
from sessions_app.domain.types import MAX_BIGINT, Message
from sessions_app.models import ApiKey, Session, SessionEvent
from sessions_app.services import SessionService, apikeys, transfer
from tests.test_api import BASE, assert_error, call, make_session, snapshot
from tests.test_views import HTMX, url

pytestmark = pytest.mark.django_db


@pytest.fixture
def write_key() -> str:
    return apikeys.create_key("writer", ApiKey.Scope.WRITE)[1]


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"k": value}
    return value


# ---------------------------------------------------------------- one check of name and metadata

# (name, metadata, the message) — each refused by SessionService.new, POST /sessions and import alike.
BAD_NEW_SESSIONS = {
    "lone surrogate in name": ("a\ud800", {}, "name is not valid Unicode text (unpaired surrogate)"),
    "NUL in name": ("a\x00b", {}, "name must not contain NUL characters (\\x00)"),
    "name too long": ("x" * 201, {}, "name is 201 characters; the limit is 200"),
    "name not text": (5, {}, "name must be text (got 5)"),
    "name null": (None, {}, "name must be text (got null)"),
    "metadata an array": ("", [], "metadata must be a JSON object (got an array)"),
    "NUL in a metadata key": ("", {"k\x00": 1}, "metadata key must not contain NUL characters (\\x00)"),
    "lone surrogate in a metadata value": (
        "",
        {"k": ["\udc00"]},
        "metadata.k[0] is not valid Unicode text (unpaired surrogate)",
    ),
    "NaN in metadata": (
        "",
        {"x": math.nan},
        f"metadata.x must be a number between -{MAX_BIGINT} and {MAX_BIGINT}",
    ),
    "Infinity in metadata": (
        "",
        {"x": -math.inf},
        f"metadata.x must be a number between -{MAX_BIGINT} and {MAX_BIGINT}",
    ),
    "integer past 64 bits": (
        "",
        {"x": 2**63},
        f"metadata.x must be a number between -{MAX_BIGINT} and {MAX_BIGINT}",
    ),
    "5000-digit integer": (
        "",
        {"x": [10**4999]},
        f"metadata.x[0] must be a number between -{MAX_BIGINT} and {MAX_BIGINT}",
    ),
    "nested too deep": (
        "",
        nested(MAX_METADATA_DEPTH + 1),
        f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels",
    ),
}


@pytest.mark.parametrize("case", list(BAD_NEW_SESSIONS))
def test_service_new_and_import_refuse_the_same_names_and_metadata_with_the_same_message(case):
    name, metadata, message = BAD_NEW_SESSIONS[case]
    with pytest.raises(InvalidArgument) as raised:
        SessionService.new(name=name, metadata=metadata)
    assert raised.value.message == message
    record = {"name": name, "metadata": metadata, "messages": []}
    # The import reads JSON text; Python's json writes NaN/Infinity, which the import's parser refuses
    # before the record check, so those two are checked on the parsed record directly.
    with pytest.raises(InvalidArgument) as imported:
        transfer._record(record, 1, "jsonl")
    assert imported.value.message == message
    assert Session.objects.count() == 0


def test_the_deepest_allowed_metadata_and_the_largest_numbers_are_accepted():
    metadata = {"deep": nested(MAX_METADATA_DEPTH - 1), "big": [MAX_BIGINT, -MAX_BIGINT, 1.5e18, -0.0]}
    s = SessionService.new(name="x" * 200, metadata=metadata)
    assert s.row().metadata == metadata and s.row().name == "x" * 200


@pytest.mark.parametrize(
    "body,message",
    [
        ('{"name": "a\\ud800"}', "name is not valid Unicode text (unpaired surrogate)"),
        ('{"name": "a\\udfff b"}', "name is not valid Unicode text (unpaired surrogate)"),
        ('{"name": "a\\u0000"}', "name must not contain NUL characters (\\x00)"),
        ('{"name": null}', "name must be text (got null)"),
        ('{"name": true}', "name must be text (got a boolean)"),
        ('{"metadata": {"k": "\\ud800"}}', "metadata.k is not valid Unicode text (unpaired surrogate)"),
        ('{"metadata": {"x": 1e400}}', f"metadata.x must be a number between -{MAX_BIGINT} and {MAX_BIGINT}"),
        (
            '{"metadata": {"x": 99999999999999999999}}',
            f"metadata.x must be a number between -{MAX_BIGINT} and {MAX_BIGINT}",
        ),
        (
            json.dumps({"metadata": nested(MAX_METADATA_DEPTH + 1)}),
            f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels",
        ),
        ('{"metadata": "x"}', 'metadata must be a JSON object (got "x")'),
    ],
)
def test_create_session_refuses_what_the_service_refuses_with_its_message(write_key, body, message):
    """Refused before the database: a lone surrogate in the name must not become a 500 there."""
    response = call("POST", "/sessions", body, key=write_key)
    err = assert_error(response, 400, "invalid_argument")
    assert err["message"] == message
    assert Session.objects.count() == 0


# ---------------------------------------------------------------- unmatched paths


def test_a_write_with_a_trailing_slash_is_a_json_404_that_says_remove_it(write_key):
    """Not Django's HTML CSRF failure page (403): the API's catch-all view is CSRF-exempt."""
    s = make_session("a")
    before = snapshot(s)
    client = Client(enforce_csrf_checks=True)
    response = call(
        "POST", f"/sessions/{s.id}/append/", {"role": "user", "content": "x"}, key=write_key, client=client
    )
    err = assert_error(response, 404, "not_found")
    assert err["message"] == f"remove the trailing slash: POST {BASE}/sessions/{s.id}/append"
    assert snapshot(s) == before
    # Without the slash, the same request writes.
    fixed = call(
        "POST", f"/sessions/{s.id}/append", {"role": "user", "content": "x"}, key=write_key, client=client
    )
    assert fixed.status_code == 200


@pytest.mark.parametrize(
    "method,path,status,message",
    [
        ("POST", "/sessions/", 404, "remove the trailing slash: POST /api/v1/sessions"),
        ("GET", "/sessions/{id}/len/", 404, "remove the trailing slash: GET /api/v1/sessions/{id}/len"),
        (
            "POST",
            "/sessions/{id}/messages/",
            404,
            "no API endpoint at /api/v1/sessions/{id}/messages/; /api/v1/sessions/{id}/messages "
            "(without the trailing slash) answers GET",
        ),
        ("POST", "/sessions/{id}/nonsense", 404, "no API endpoint at /api/v1/sessions/{id}/nonsense"),
        ("POST", "/nothing/here/", 404, "no API endpoint at /api/v1/nothing/here/"),
        (
            "DELETE",
            "/sessions/{id}/append/",
            404,
            "no API endpoint at /api/v1/sessions/{id}/append/; "
            "/api/v1/sessions/{id}/append (without the trailing slash) answers POST",
        ),
        ("POST", "/sessions/{id}/messages", 405, "POST is not allowed here; use GET"),
        ("PUT", "/sessions/{id}/append", 405, "PUT is not allowed here; use POST"),
    ],
)
def test_unmatched_api_paths_answer_json_404_or_405_and_change_nothing(
    write_key, method, path, status, message
):
    s = make_session("a")
    before = snapshot(s)
    client = Client(enforce_csrf_checks=True)
    body = None if method == "GET" else {}
    response = call(method, path.format(id=s.id), body, key=write_key, client=client)
    err = assert_error(response, status, "not_found" if status == 404 else "method_not_allowed")
    assert err["message"] == message.format(id=s.id)
    assert snapshot(s) == before and Session.objects.count() == 1


# ---------------------------------------------------------------- wording


def test_a_future_expected_version_says_it_does_not_exist_yet(write_key):
    s = make_session("a", "b")  # at v1
    s.append("user", "c")
    s.append("user", "d")  # at v3
    before = snapshot(s)
    for extra, body in [
        ({}, {"index": 0, "expected_version": 99}),
        ({"HTTP_IF_MATCH": '"99"'}, {"index": 0}),
    ]:
        err = assert_error(
            call("POST", f"/sessions/{s.id}/remove", body, key=write_key, **extra), 409, "version_conflict"
        )
        assert err["message"] == "This session has no version v99 yet: it is at v3"
        assert err["details"] == {"expected_version": 99, "current_version": 3}
    # A stale one still says what happened.
    err = assert_error(
        call("POST", f"/sessions/{s.id}/remove", {"index": 0, "expected_version": 1}, key=write_key),
        409,
        "version_conflict",
    )
    assert err["message"] == "This session changed (v1 → v3) since you loaded it"
    assert snapshot(s) == before


@pytest.mark.parametrize(
    "header,message",
    [
        ('"9223372036854775808"', f"If-Match is too large: versions go up to {MAX_BIGINT}"),
        ("9" * 40, f"If-Match is too large: versions go up to {MAX_BIGINT}"),
        ('"12', 'If-Match must be a session version such as "12" (got "\\"12")'),
        ("v1", 'If-Match must be a session version such as "12" (got "v1")'),
    ],
)
def test_a_bad_if_match_is_reported_as_if_match(write_key, header, message):
    """Not reported as expected_version, a field the caller did not send."""
    s = make_session("a")
    before = snapshot(s)
    err = assert_error(
        call("POST", f"/sessions/{s.id}/clear", {}, key=write_key, HTTP_IF_MATCH=header),
        400,
        "invalid_argument",
    )
    assert err["message"] == message and err["details"] == {"field": "If-Match"}
    assert snapshot(s) == before


@pytest.mark.parametrize("header", ['"1"', "1", 'W/"1"', "*"])
def test_if_match_forms_the_document_allows_are_accepted(write_key, header):
    s = make_session("a")  # at v1
    assert call("POST", f"/sessions/{s.id}/clear", {}, key=write_key, HTTP_IF_MATCH=header).json() == {
        "version": 2
    }


@pytest.mark.parametrize(
    "op,body,message",
    [
        ("remove", {"index": True}, "index must be an integer (got a boolean)"),
        ("remove", {"index": None}, "index must be an integer (got null)"),
        ("remove", {"index": []}, "index must be an integer (got an array)"),
        ("remove", {"index": {}}, "index must be an integer (got an object)"),
        ("remove", {"index": "0"}, 'index must be an integer (got "0")'),
        ("remove", {"index": 1.5}, "index must be an integer (got 1.5)"),
        ("append", {"role": None, "content": "x"}, "role must be one of user, assistant, system (got null)"),
        (
            "append",
            {"role": "robot", "content": "x"},
            'role must be one of user, assistant, system (got "robot")',
        ),
        ("append", {"role": "user", "content": None}, "content must be text (got null)"),
        ("append", {"role": "user", "content": 5}, "content must be text (got 5)"),
        (
            "insert",
            {"index": 0, "message": []},
            "a message must be a Message or {role, content} (got an array)",
        ),
        ("clear", {"expected_version": True}, "expected_version must be an integer (got a boolean)"),
        ("clear", {"expected_version": 2**63}, f"expected_version is too large: at most {MAX_BIGINT}"),
        ("prune", {"n": -1}, "n must be at least 0 (got -1)"),
    ],
)
def test_messages_name_the_json_type_not_a_python_repr(write_key, op, body, message):
    """Not Python's words: "got True", "got None", "got []", "got NoneType"."""
    s = make_session("a", "b")
    before = snapshot(s)
    err = assert_error(call("POST", f"/sessions/{s.id}/{op}", body, key=write_key), 400, "invalid_argument")
    assert err["message"] == message
    assert snapshot(s) == before


def test_an_integral_json_number_is_an_integer_as_json_schema_says(write_key):
    """JSON has one number type and JSON Schema's "integer" includes 1.0: the API takes it as 1."""
    s = make_session("a", "b", "c")
    assert call(
        "POST", f"/sessions/{s.id}/remove", '{"index": 1.0, "expected_version": 1e0}', key=write_key
    ).json() == {"version": 2}
    assert [m.content for m in s.messages()] == ["a", "c"]


def test_the_dashboard_words_a_future_version_the_same_way(editor):
    s = make_session(*[f"m{i}" for i in range(250)])  # at v1
    page = editor.get(url("message_chunk", s) + "?page=1&direction=after&v=99", **HTMX)
    text = page.content.decode()
    assert page.status_code == 409
    assert "This session has no version v99 yet: it is at v1" in text and "This session changed" not in text
    stale = editor.get(url("message_chunk", s) + "?page=1&direction=after&v=0", **HTMX)
    assert "This session changed (v0 → v1) since you loaded it" in stale.content.decode()


def test_history_restore_words_a_future_version_without_saying_it_changed(editor):
    from tests.test_history_views import url as history_url

    s = make_session("a")
    s.append("user", "b")  # at v2
    before = snapshot(s)
    response = editor.post(history_url("restore", s, 1), {"expected_version": 9})
    page = response.content.decode()
    assert response.status_code == 409
    assert "This session has no version v9 yet: it is at v2" in page and "This session changed" not in page
    assert snapshot(s) == before


# ---------------------------------------------------------------- export and import


def test_export_names_each_session_once_and_re_imports_into_an_empty_database(write_key):
    """?session=X&session=X exports X once: a file with X twice could not be imported."""
    a, b = make_session("a1", "a2"), make_session("b1")
    SessionService(a.id).set_messages([Message("user", "héllo"), Message("assistant", "👋")])
    path = f"/export?format=jsonl&session={a.id}&session={b.id}&session={a.id}"
    response = call("GET", path, key=write_key)
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    ids = [json.loads(line)["id"] for line in text.splitlines()]
    assert ids == [str(a.id), str(b.id)]
    expected = {str(x.id): (x.row().name, x.messages()) for x in (a, b)}
    Session.objects.all().delete()
    imported = call("POST", "/import?format=jsonl", text, key=write_key, CONTENT_TYPE="application/x-ndjson")
    # (call() sends application/json; the CONTENT_TYPE override makes it a JSONL body)
    assert imported.status_code == 201, imported.content
    assert {
        i: (SessionService(i).row().name, SessionService(i).messages()) for i in imported.json()["ids"]
    } == expected


def test_a_jsonl_import_keeps_line_separators_that_json_strings_hold_raw(write_key):
    """Lines end at \n only: str.splitlines would cut a record whose content holds a raw U+2028, U+2029 or
    U+0085 (valid JSON, written so by other tools) into two broken lines."""
    content = "one\u2028two\u2029three\x85four"
    record = {
        "id": str(uuid.uuid4()),
        "name": "raw",
        "metadata": {},
        "messages": [{"role": "user", "content": content}],
    }
    text = json.dumps(record, ensure_ascii=False) + "\n"
    assert "\u2028" in text  # raw in the file, not escaped
    imported = call("POST", "/import?format=jsonl", text, key=write_key, CONTENT_TYPE="application/x-ndjson")
    assert imported.status_code == 201, imported.content
    assert SessionService(record["id"]).messages() == [Message("user", content)]


@pytest.mark.parametrize(
    "query,body,status,message",
    [
        ("?format=json&skip_invalid=true", "[null, null]", 400, "skip_invalid is for the line formats"),
        ("?format=json", "[null, null]", 400, "line 1: each session must be a JSON object"),
        ("", '{"sessions": [], "extra": 1}', 400, 'a JSON import is {"sessions": [...]}'),
        ("?format=jsonl", '{"messages": []}', 415, "a jsonl import is one JSON object per line"),
        (
            "",
            '{"sessions": [{"id": "00000000000000000000000000000000", "messages": []}]}',
            400,
            "id must be a UUID",
        ),
    ],
)
def test_import_refuses_bodies_the_document_does_not_describe(write_key, query, body, status, message):
    """E.g. [null, null] with skip_invalid is refused, not "imported" (201, nothing imported, two skipped)."""
    response = call("POST", f"/import{query}", body, key=write_key)
    err = assert_error(response, status, response.json()["error"])
    assert message in err["message"]
    assert Session.objects.count() == 0 and SessionEvent.objects.count() == 0


def test_a_json_body_is_a_json_import_by_default(write_key):
    body = {"sessions": [{"name": "n", "metadata": None, "messages": [{"role": "user", "content": "x"}]}]}
    response = call("POST", "/import", body, key=write_key)
    assert response.status_code == 201 and response.json()["format"] == "json"
    assert SessionService(response.json()["ids"][0]).messages() == [Message("user", "x")]

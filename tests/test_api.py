"""JSON API: every Session API call over HTTP, auth by API key or login (+CSRF), and clear 4xx errors."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from sessions_app.domain.ops import API_WRITES
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.models import ApiKey, SessionEvent
from sessions_app.services import SessionService, apikeys

pytestmark = pytest.mark.django_db

BASE = "/api/v1"


@pytest.fixture
def write_key() -> str:
    return apikeys.create_key("writer", ApiKey.Scope.WRITE)[1]


@pytest.fixture
def read_key() -> str:
    return apikeys.create_key("reader", ApiKey.Scope.READ)[1]


def call(
    method: str, path: str, body: object = None, *, key: str | None, client: Client | None = None, **extra
):
    client = client or Client()
    headers = {} if key is None else {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    headers.update(extra)
    data = body if isinstance(body, str | bytes) else (None if body is None else json.dumps(body))
    kwargs = {"content_type": "application/json"} if data is not None else {}
    if data is not None:
        kwargs["data"] = data
    return getattr(client, method.lower())(f"{BASE}{path}", **kwargs, **headers)


def make_session(*contents: str) -> SessionService:
    s = SessionService.new(name="t")
    if contents:
        s.set_messages([Message("user" if i % 2 == 0 else "assistant", c) for i, c in enumerate(contents)])
    return s


def snapshot(s: SessionService) -> tuple:
    return (s.messages(), s.last_usage(), s.version())


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "message", "details"} and body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return body


# ---------------------------------------------------------------- the whole API, end to end


def test_every_operation_over_http_matches_the_service_and_records_the_key_as_actor(write_key):
    created = call("POST", "/sessions", {"name": "triage", "metadata": {"program": "p"}}, key=write_key)
    assert created.status_code == 201
    sid = created.json()["id"]
    assert created.json()["version"] == 0 and created["Location"].endswith(f"/sessions/{sid}")
    s = f"/sessions/{sid}"
    steps = [
        ("append", {"role": "system", "content": "Be brief."}),
        (
            "record_exchange",
            {"prompt": "héllo 👋", "response": "hi", "usage": {"prompt": 3, "completion": 1, "total": 4}},
        ),
        ("insert", {"index": 0, "message": {"role": "user", "content": "first"}}),
        ("replace", {"index": 1, "message": {"role": "system", "content": "Be very brief."}}),
        ("move", {"from_index": 0, "to_index": 3}),
        ("remove", {"index": 0}),
        ("set_usage", {"usage": None}),
        ("append", {"role": "user", "content": "again"}),
        ("truncate", {"keep_first": 1, "keep_last": 2}),
        ("prune", {"n": 1}),
    ]
    for version, (op, body) in enumerate(steps, start=1):
        response = call("POST", f"{s}/{op}", body, key=write_key)
        assert response.status_code == 200, (op, response.content)
        assert response.json() == {"version": version} and response["ETag"] == f'"{version}"'
    service = SessionService.get(sid)
    assert service.messages() == [Message("user", "héllo 👋")]
    assert service.last_usage() == TokenUsage(3, 1, 4)
    msgs = call("GET", f"{s}/messages", key=write_key).json()
    assert msgs == {"version": 10, "messages": [{"role": "user", "content": "héllo 👋"}]}
    assert call("GET", f"{s}/messages/0", key=write_key).json() == {"role": "user", "content": "héllo 👋"}
    assert call("GET", f"{s}/len", key=write_key).json() == {"len": 1}
    assert call("GET", f"{s}/usage", key=write_key).json() == {
        "usage": {"prompt": 3, "completion": 1, "total": 4}
    }
    assert call("GET", f"{s}/version", key=write_key).json() == {"version": 10}
    detail = call("GET", s, key=write_key).json()
    assert (detail["name"], detail["metadata"], detail["len"], detail["version"]) == (
        "triage",
        {"program": "p"},
        1,
        10,
    )
    events = call("GET", f"{s}/events?after=8", key=write_key).json()
    assert [(e["version"], e["op"], e["actor"]) for e in events["events"]] == [
        (9, "truncate", "api:writer"),
        (10, "prune", "api:writer"),
    ]
    assert set(SessionEvent.objects.filter(session_id=sid).values_list("actor", flat=True)) == {"api:writer"}
    for op, body in [("set_messages", {"messages": [{"role": "user", "content": "x"}]}), ("clear", {})]:
        assert call("POST", f"{s}/{op}", body, key=write_key).status_code == 200
    assert service.messages() == [] and service.version() == 12


def test_list_sessions_pages_most_recent_first(read_key):
    a, b, c = (SessionService.new(name=n) for n in "abc")
    b.append("user", "touch b last")
    page = call("GET", "/sessions?limit=2", key=read_key).json()
    assert page["count"] == 3 and page["limit"] == 2 and page["offset"] == 0
    assert [x["name"] for x in page["sessions"]] == ["b", "c"]
    assert [
        x["name"] for x in call("GET", "/sessions?limit=2&offset=2", key=read_key).json()["sessions"]
    ] == ["a"]


# ---------------------------------------------------------------- expected versions


@pytest.mark.parametrize("how", ["If-Match header", "expected_version field"])
def test_stale_expected_version_is_409_with_the_current_version_and_changes_nothing(write_key, how):
    s = make_session("a", "b")
    before = snapshot(s)
    body: dict = {"index": 0}
    extra = {}
    if how == "If-Match header":
        extra["HTTP_IF_MATCH"] = '"0"'
    else:
        body["expected_version"] = 0
    response = call("POST", f"/sessions/{s.id}/remove", body, key=write_key, **extra)
    err = assert_error(response, 409, "version_conflict")
    assert err["details"] == {"expected_version": 0, "current_version": 1}
    assert snapshot(s) == before


def test_matching_expected_version_writes(write_key):
    s = make_session("a", "b")
    r = call("POST", f"/sessions/{s.id}/remove", {"index": 0}, key=write_key, HTTP_IF_MATCH='"1"')
    assert r.json() == {"version": 2}
    r = call("POST", f"/sessions/{s.id}/remove", {"index": 0, "expected_version": 2}, key=write_key)
    assert r.json() == {"version": 3} and s.messages() == []


# ---------------------------------------------------------------- authentication and authorisation


def test_no_key_is_401_with_a_bearer_challenge():
    s = make_session("a")
    for method, path in [("GET", f"/sessions/{s.id}/messages"), ("POST", f"/sessions/{s.id}/clear")]:
        response = call(method, path, {} if method == "POST" else None, key=None)
        assert_error(response, 401, "unauthorized")
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert s.len() == 1


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer zyn_nope_nope",
        "Basic dXNlcjpwYXNz",
        "Bearer zyn_",
        "Bearer garbage",
        "Token x",
        "Bearer zyn_\x00\x00_" + "a" * 43,
        "Bearer zyn_0123456789ab_" + "é" * 43,
    ],
)
def test_malformed_or_unknown_keys_are_401(header):
    s = make_session("a")
    response = Client().get(f"{BASE}/sessions/{s.id}/len", HTTP_AUTHORIZATION=header)
    assert_error(response, 401, "unauthorized")


def test_wrong_secret_for_a_real_prefix_is_401(write_key):
    prefix = write_key.split("_")[1]
    response = call("GET", "/sessions", key=f"zyn_{prefix}_{'A' * 43}")
    assert_error(response, 401, "unauthorized")


def test_revoked_key_is_401(write_key):
    assert call("GET", "/sessions", key=write_key).status_code == 200
    apikeys.revoke(ApiKey.objects.get(name="writer"))
    assert_error(call("GET", "/sessions", key=write_key), 401, "unauthorized")


def test_read_only_key_reads_but_writing_is_403_and_changes_nothing(read_key):
    s = make_session("a")
    before = snapshot(s)
    assert call("GET", f"/sessions/{s.id}/messages", key=read_key).status_code == 200
    assert_error(
        call("POST", f"/sessions/{s.id}/append", {"role": "user", "content": "x"}, key=read_key),
        403,
        "forbidden",
    )
    assert_error(call("POST", "/sessions", {"name": "x"}, key=read_key), 403, "forbidden")
    assert snapshot(s) == before


def test_keys_are_stored_hashed_and_have_the_documented_shape(write_key):
    row = ApiKey.objects.get(name="writer")
    assert write_key.startswith(f"zyn_{row.prefix}_") and len(write_key) > 50
    secret = write_key.split("_", 2)[2]
    assert secret not in row.secret_hash and row.secret_hash == apikeys.hash_secret(secret)
    assert apikeys.verify(write_key) == row and apikeys.verify(write_key + "x") is None


def test_duplicate_key_name_is_refused():
    apikeys.create_key("dup", "write")
    with pytest.raises(ValueError, match="already exists"):
        apikeys.create_key("dup", "read")


def test_login_session_works_for_same_origin_calls_with_csrf(csrf_checked_editor):
    s = make_session("a")
    client = csrf_checked_editor
    assert call("GET", f"/sessions/{s.id}/len", key=None, client=client).json() == {"len": 1}
    # No CSRF token: refused, nothing written.
    no_token = call(
        "POST", f"/sessions/{s.id}/append", {"role": "user", "content": "x"}, key=None, client=client
    )
    assert_error(no_token, 403, "csrf_failed")
    assert s.len() == 1
    # With the token from the dashboard page (cookie + header): accepted, actor is the user.
    client.get("/accounts/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    ok = call(
        "POST",
        f"/sessions/{s.id}/append",
        {"role": "user", "content": "x"},
        key=None,
        client=client,
        HTTP_X_CSRFTOKEN=token,
    )
    assert ok.status_code == 200, ok.content
    assert s.events(after=1)[0].actor == "erin"


def test_login_session_without_change_permission_cannot_write(viewer, nobody):
    s = make_session("a")
    assert call("GET", f"/sessions/{s.id}/len", key=None, client=viewer).status_code == 200
    assert_error(call("POST", f"/sessions/{s.id}/clear", {}, key=None, client=viewer), 403, "forbidden")
    assert_error(call("GET", f"/sessions/{s.id}/len", key=None, client=nobody), 403, "forbidden")
    assert s.len() == 1


def test_api_key_requests_need_no_csrf_token(write_key):
    s = make_session()
    client = Client(enforce_csrf_checks=True)
    assert (
        call(
            "POST", f"/sessions/{s.id}/append", {"role": "user", "content": "x"}, key=write_key, client=client
        ).status_code
        == 200
    )


# ---------------------------------------------------------------- rate limiting


def test_rate_limit_per_key_is_429_with_retry_after(settings, write_key, read_key):

    settings.ZYN_API_RATE_LIMIT = 3
    settings.ZYN_API_RATE_WINDOW = 60
    for _ in range(3):
        assert call("GET", "/sessions", key=write_key).status_code == 200
    limited = call("GET", "/sessions", key=write_key)
    err = assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited["Retry-After"]) <= 60 and err["details"]["limit"] == 3
    # Another key has its own budget.
    assert call("GET", "/sessions", key=read_key).status_code == 200


def test_retry_after_is_the_wait_until_the_request_passes():
    key, _ = apikeys.create_key("windowed", "read")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("django.conf.settings.ZYN_API_RATE_LIMIT", 1, raising=False)
        mp.setattr("django.conf.settings.ZYN_API_RATE_WINDOW", 10, raising=False)
        assert apikeys.check_rate(key, now=1000.0).allowed
        second = apikeys.check_rate(key, now=1004.5)
        # The request at 1000.0 counts until 1010.0 included: whole seconds round up.
        assert not second.allowed and second.retry_after == 6
        assert not apikeys.check_rate(key, now=1004.5 + second.retry_after - 1).allowed
        assert apikeys.check_rate(key, now=1004.5 + second.retry_after).allowed


# ---------------------------------------------------------------- client mistakes → 4xx, nothing changes

HUGE = "9" * 5000

BAD_REQUESTS = {
    "malformed JSON": ("append", '{"role": "user", "content": ', 400, "invalid_json"),
    "body is an array": ("append", "[1, 2]", 400, "invalid_body"),
    "body is a string": ("append", '"hello"', 400, "invalid_body"),
    "NaN is not JSON": ("remove", '{"index": NaN}', 400, "invalid_json"),
    "integer with 5000 digits": ("remove", '{"index": ' + HUGE + "}", 400, "invalid_json"),
    "integer past 64 bits": ("remove", '{"index": ' + str(2**70) + "}", 400, "invalid_argument"),
    "bool as index": ("remove", {"index": True}, 400, "invalid_argument"),
    "fraction as index": ("remove", {"index": 1.5}, 400, "invalid_argument"),
    "string as index": ("remove", {"index": "0"}, 400, "invalid_argument"),
    "negative index": ("remove", {"index": -1}, 400, "index_out_of_range"),
    "index past the end": ("remove", {"index": 9}, 409, "index_out_of_range"),
    "missing field": ("append", {"role": "user"}, 400, "invalid_body"),
    "unknown field": ("append", {"role": "user", "content": "x", "colour": "red"}, 400, "invalid_body"),
    "unknown role": ("append", {"role": "robot", "content": "x"}, 400, "invalid_argument"),
    "NUL in content": ("append", {"role": "user", "content": "a\x00b"}, 400, "invalid_argument"),
    "escaped lone surrogate": ("append", '{"role": "user", "content": "\\ud800"}', 400, "invalid_argument"),
    "invalid UTF-8 bytes": ("append", b'{"role": "user", "content": "\xff"}', 400, "invalid_json"),
    "deeply nested JSON": ("append", "[" * 100_000 + "]" * 100_000, 400, "invalid_json"),
    "message not an object": ("insert", {"index": 0, "message": "hi"}, 400, "invalid_argument"),
    "messages not an array": (
        "set_messages",
        {"messages": {"role": "user", "content": "x"}},
        400,
        "invalid_argument",
    ),
    "negative usage": (
        "set_usage",
        {"usage": {"prompt": -1, "completion": 0, "total": 0}},
        400,
        "invalid_argument",
    ),
    "usage with a float": (
        "set_usage",
        {"usage": {"prompt": 1.5, "completion": 0, "total": 0}},
        400,
        "invalid_argument",
    ),
    "expected_version as text": ("clear", {"expected_version": "1"}, 400, "invalid_argument"),
    "negative prune": ("prune", {"n": -1}, 400, "invalid_argument"),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_client_mistakes_are_4xx_json_and_change_nothing(write_key, name):
    op, body, status, code = BAD_REQUESTS[name]
    s = make_session("a", "b")
    s.set_usage(TokenUsage(1, 1, 2))
    before = snapshot(s)
    assert_error(call("POST", f"/sessions/{s.id}/{op}", body, key=write_key), status, code)
    assert snapshot(s) == before


def test_oversized_body_is_413_before_reading(settings, write_key):
    settings.ZYN_API_MAX_BODY_BYTES = 1000
    s = make_session("a")
    err = assert_error(
        call("POST", f"/sessions/{s.id}/append", {"role": "user", "content": "x" * 2000}, key=write_key),
        413,
        "payload_too_large",
    )
    assert err["details"]["limit"] == 1000 and s.len() == 1


def test_oversized_content_is_400_from_the_service(settings, write_key):
    settings.ZYN_MAX_CONTENT_BYTES = 10
    s = make_session()
    err = assert_error(
        call("POST", f"/sessions/{s.id}/append", {"role": "user", "content": "x" * 11}, key=write_key),
        400,
        "invalid_argument",
    )
    assert "11 bytes; the limit is 10" in err["message"]


def test_non_json_content_type_is_415(write_key):
    s = make_session()
    response = Client().post(
        f"{BASE}/sessions/{s.id}/append",
        data="role=user",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Bearer {write_key}",
    )
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("if_match", ['"abc"', "1.5", '"' + "9" * 30 + '"', "-1"])
def test_bad_if_match_is_400(write_key, if_match):
    s = make_session("a")
    assert_error(
        call("POST", f"/sessions/{s.id}/clear", {}, key=write_key, HTTP_IF_MATCH=if_match),
        400,
        "invalid_argument",
    )
    assert s.len() == 1


@pytest.mark.parametrize("header,field,stale", [('"1"', 0, 0), ('"0"', 1, 0), ('"7"', 9, 7)])
def test_if_match_and_field_must_agree(write_key, header, field, stale):
    """Two preconditions naming different versions cannot both hold: a version conflict (409) that
    names the one the session is not at, and nothing is written."""
    s = make_session("a")  # at v1
    before = snapshot(s)
    r = call(
        "POST", f"/sessions/{s.id}/clear", {"expected_version": field}, key=write_key, HTTP_IF_MATCH=header
    )
    err = assert_error(r, 409, "version_conflict")
    assert err["details"] == {"expected_version": stale, "current_version": 1}
    version = header.strip('"')
    assert err["message"] == (
        f"If-Match (v{version}) and expected_version (v{field}) disagree and the session is at v1: "
        "send one of them"
    )
    assert snapshot(s) == before


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x\x00"},
        {"name": 5},
        {"name": "x" * 201},
        {"metadata": []},
        {"metadata": {"k": "v\x00"}},
        {"metadata": {"k\x00": 1}},
        {"metadata": {"k": "\ud800"}},
        {"color": "x"},
    ],
    ids=[
        "NUL name",
        "int name",
        "long name",
        "list metadata",
        "NUL in metadata",
        "NUL key",
        "surrogate",
        "unknown",
    ],
)
def test_create_session_with_bad_fields_is_400_and_creates_nothing(write_key, body):
    from sessions_app.models import Session

    response = call("POST", "/sessions", json.dumps(body), key=write_key)
    assert response.status_code == 400 and response.json()["error"] in {"invalid_argument", "invalid_body"}
    assert Session.objects.count() == 0


@pytest.mark.parametrize(
    "path",
    [
        "/sessions/00000000-0000-0000-0000-000000000000",
        "/sessions/not-a-uuid/messages",
        "/sessions/00000000-0000-0000-0000-000000000000/append",
        "/nothing/here",
    ],
)
def test_unknown_things_are_json_404(write_key, path):
    method = "POST" if path.endswith("append") else "GET"
    assert_error(
        call(method, path, {"role": "user", "content": "x"} if method == "POST" else None, key=write_key),
        404,
        "not_found",
    )


@pytest.mark.parametrize(
    "index,status",
    [("5", 409), ("9223372036854775807", 409), ("-1", 400), ("x", 400), ("1.0", 400), ("9" * 40, 400)],
)
def test_message_by_bad_index_is_4xx(read_key, index, status):
    """Past the end is a conflict with the session's length (409): the schema allows any index up to
    2^63-1 and cannot know the length. Negative or not an integer: 400."""
    s = make_session("a")
    response = call("GET", f"/sessions/{s.id}/messages/{index}", key=read_key)
    assert response.status_code == status and response.json()["error"] in {
        "index_out_of_range",
        "invalid_argument",
    }


@pytest.mark.parametrize("query", ["after=x", "after=-1", "limit=0", "after=" + "9" * 30])
def test_events_with_bad_query_are_400(read_key, query):
    s = make_session("a")
    assert_error(call("GET", f"/sessions/{s.id}/events?{query}", key=read_key), 400, "invalid_argument")


def test_wrong_method_is_405_with_allow(write_key):
    s = make_session()
    response = call("GET", f"/sessions/{s.id}/append", key=write_key)
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


# ---------------------------------------------------------------- schema and docs


def test_openapi_document_describes_every_route_and_needs_auth(read_key):
    assert call("GET", "/openapi.json", key=None).status_code == 401
    doc = call("GET", "/openapi.json", key=read_key).json()
    assert doc["openapi"].startswith("3.1")
    for op in API_WRITES:
        assert "post" in doc["paths"][f"/sessions/{{session_id}}/{op}"]
    for path in ["/sessions", "/sessions/{session_id}/messages", "/sessions/{session_id}/events", "/import"]:
        assert path in doc["paths"]


def test_docs_page_needs_login_and_loads_swagger_ui_from_the_package(editor):
    assert Client().get(f"{BASE}/docs").status_code == 302
    page = editor.get(f"{BASE}/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui-dist/swagger-ui-bundle.js" in html and "/api/v1/openapi.json" in html
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert finders.find("sessions_app/api_docs.js")


# ---------------------------------------------------------------- admin: the raw key is shown once


def test_admin_creates_a_key_shows_it_once_and_can_revoke_it(admin_user, admin_client):
    client = admin_client
    page = client.post("/admin/sessions_app/apikey/add/", {"name": "ci-bot", "scope": "write"})
    assert page.status_code == 200, page.content[:500]
    html = page.content.decode()
    row = ApiKey.objects.get(name="ci-bot")
    assert row.created_by == admin_user and row.scope == "write"
    import re

    raw = re.search(r'id="raw-api-key"[^>]*>([^<]+)<', html).group(1)
    assert apikeys.verify(raw) == row
    # Never shown again: the change page has only the prefix.
    change = client.get(f"/admin/sessions_app/apikey/{row.pk}/change/").content.decode()
    assert raw.split("_", 2)[2] not in change and row.prefix in change
    s = make_session()
    assert (
        call("POST", f"/sessions/{s.id}/append", {"role": "user", "content": "x"}, key=raw).status_code == 200
    )
    assert s.events()[0].actor == "api:ci-bot"
    client.post(
        "/admin/sessions_app/apikey/",
        {"action": "revoke_keys", "_selected_action": [row.pk]},
    )
    row.refresh_from_db()
    assert row.revoked_at is not None
    assert call("GET", "/sessions", key=raw).status_code == 401


def test_operator_role_groups_get_no_api_key_permissions():
    from django.contrib.auth.models import Group

    from sessions_app.roles import EDITORS, VIEWERS, ensure_role_groups

    ensure_role_groups()
    for name in (VIEWERS, EDITORS):
        codenames = set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))
        assert "view_session" in codenames and not {c for c in codenames if c.endswith("apikey")}
    assert "change_session" in set(
        Group.objects.get(name=EDITORS).permissions.values_list("codename", flat=True)
    )


def test_create_api_key_command_prints_the_key_once():
    import io

    from django.core.management import CommandError, call_command

    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", "deploy-bot", "--scope", "write", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    assert apikeys.verify(raw).name == "deploy-bot" and "shown once" in err.getvalue()
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_api_key", "deploy-bot", stdout=io.StringIO(), stderr=io.StringIO())

"""Import/export: JSON, JSONL and OpenAI formats round-trip exactly; bad input imports nothing."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client

from sessions_app import models
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.services import SessionService, apikeys, transfer

pytestmark = pytest.mark.django_db


def seed() -> list[SessionService]:
    unicode = SessionService.new(
        name="ünïcødé 🚀", metadata={"program": "triage", "nested": {"k": [1, "二", None]}}
    )
    unicode.set_messages(
        [
            Message("system", "Réponds en JSON. 日本語も OK."),
            Message("user", 'emoji 👩‍👩‍👧 and\nnewlines\tand "quotes" and \\ backslashes'),
            Message("assistant", ""),
        ]
    )
    unicode.set_usage(TokenUsage(12, 3, 15))
    empty = SessionService.new(name="")
    exchange = SessionService.new(name="exchanges", metadata={})
    exchange.record_exchange("ping", "pong", TokenUsage(1, 1, 2))
    return [unicode, empty, exchange]


def export_text(fmt: str, ids=None) -> str:
    out = io.StringIO()
    args = ["--format", fmt, "--verbosity", "0"]
    for i in ids or []:
        args += ["--session", str(i)]
    call_command("export_sessions", *args, stdout=out)
    return out.getvalue()


def state() -> list[tuple]:
    rows = []
    for row in models.Session.objects.order_by("id"):
        s = SessionService(row.id)
        rows.append((str(row.id), row.name, row.metadata, s.messages(), s.last_usage()))
    return rows


def reimport(tmp_path, text: str, fmt: str, name: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    models.Session.objects.all().delete()
    call_command("import_sessions", str(path), "--format", fmt, "--verbosity", "0", stdout=io.StringIO())


@pytest.mark.parametrize("fmt,name", [("jsonl", "all.jsonl"), ("json", "all.json")])
def test_export_import_round_trips_exactly(tmp_path, fmt, name):
    seed()
    before, text = state(), export_text(fmt)
    reimport(tmp_path, text, fmt, name)
    assert state() == before
    assert export_text(fmt) == text


def test_jsonl_has_one_session_per_line_with_the_documented_fields():
    seed()
    lines = export_text("jsonl").splitlines()
    assert len(lines) == 3
    records = [json.loads(line) for line in lines]
    assert all(set(r) == {"id", "name", "metadata", "messages", "usage"} for r in records)
    assert records[0]["name"] == "ünïcødé 🚀" and "ünïcødé 🚀" in lines[0]  # not \\u-escaped
    assert records[1] == {"id": records[1]["id"], "name": "", "metadata": {}, "messages": [], "usage": None}


def test_ten_thousand_message_session_round_trips(tmp_path):
    big = SessionService.new(name="big")
    big.set_messages([Message("user" if i % 2 else "assistant", f"message {i} · ✓") for i in range(10_000)])
    big.set_usage(TokenUsage(10_000, 20_000, 30_000))
    before, text = state(), export_text("jsonl")
    reimport(tmp_path, text, "jsonl", "big.jsonl")
    assert state() == before and SessionService(big.id).len() == 10_000
    assert export_text("jsonl") == text


def test_openai_format_carries_messages_only_and_round_trips(tmp_path):
    sessions = seed()
    text = export_text("openai", [s.id for s in sessions])
    lines = [json.loads(line) for line in text.splitlines()]
    assert [set(x) for x in lines] == [{"messages"}] * 3
    assert lines[2] == {
        "messages": [{"role": "user", "content": "ping"}, {"role": "assistant", "content": "pong"}]
    }
    path = tmp_path / "chat.openai.jsonl"
    path.write_text(text, encoding="utf-8")
    models.Session.objects.all().delete()
    call_command(
        "import_sessions", str(path), "--verbosity", "0", stdout=io.StringIO()
    )  # format from the name
    imported = models.Session.objects.order_by("created_at", "id")
    assert [SessionService(r.id).messages() for r in imported] == [
        s_messages for s_messages in _messages(lines)
    ]
    assert export_text("openai", [r.id for r in imported]) == text


def _messages(lines: list[dict]) -> list[list[Message]]:
    return [[Message(m["role"], m["content"]) for m in line["messages"]] for line in lines]


GOOD = json.dumps({"name": "ok", "messages": [{"role": "user", "content": "hi"}]})

BAD_LINES = {
    "unknown role": ('{"messages": [{"role": "robot", "content": "x"}]}', "messages[0]: role must be one of"),
    "not JSON": ('{"messages": [', "not valid JSON"),
    "NUL in content": ('{"messages": [{"role": "user", "content": "a\\u0000b"}]}', "NUL"),
    "bad usage": ('{"messages": [], "usage": {"prompt": -1, "completion": 0, "total": 0}}', "usage.prompt"),
    "not an object": ("[1, 2]", "must be a JSON object"),
    "unknown field": ('{"messages": [], "colour": "red"}', "unknown field(s): colour"),
    "bad id": ('{"id": "nope", "messages": []}', "id must be a UUID"),
    "NUL in metadata": ('{"messages": [], "metadata": {"k": "\\u0000"}}', "NUL"),
    "missing messages": ('{"name": "x"}', "missing field: messages"),
    "metadata not an object": ('{"messages": [], "metadata": []}', "metadata must be a JSON object"),
    "name not text": ('{"messages": [], "name": 5}', "name must be text"),
}


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_one_bad_line_imports_nothing_and_names_the_line(tmp_path, case):
    bad, expected = BAD_LINES[case]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join([GOOD, GOOD, bad, GOOD]) + "\n", encoding="utf-8")
    with pytest.raises(CommandError) as err:
        call_command("import_sessions", str(path), "--verbosity", "0", stdout=io.StringIO())
    assert "line 3" in str(err.value) and expected in str(err.value) and "nothing imported" in str(err.value)
    assert models.Session.objects.count() == 0


def test_skip_invalid_imports_the_good_lines_and_reports_the_bad(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(
        "\n".join([GOOD, BAD_LINES["unknown role"][0], "", GOOD, "{oops"]) + "\n", encoding="utf-8"
    )
    out, errors = io.StringIO(), io.StringIO()
    call_command(
        "import_sessions", str(path), "--skip-invalid", "--verbosity", "0", stdout=out, stderr=errors
    )
    assert models.Session.objects.count() == 2
    assert "Imported 2 session(s) with 2 message(s)" in out.getvalue() and "skipped 2" in out.getvalue()
    assert "skipped line 2: messages[0]: role" in errors.getvalue()
    assert "skipped line 5: not valid JSON" in errors.getvalue()


def test_existing_or_repeated_ids_are_refused(tmp_path):
    s = SessionService.new(name="here")
    line = json.dumps({"id": str(s.id), "messages": []})
    with pytest.raises(transfer.ImportFailed, match="line 1: a session with id .* already exists"):
        transfer.import_sessions([line], "jsonl")
    fresh = json.dumps({"id": "6b1f7a52-6c1c-4a7e-9d2e-0c5f0c1f8e11", "messages": []})
    with pytest.raises(transfer.ImportFailed, match="line 2: id .* already appears on line 1"):
        transfer.import_sessions([fresh, fresh], "jsonl")
    assert models.Session.objects.count() == 1


def test_a_failure_while_writing_rolls_back_every_session(monkeypatch):
    lines = [
        json.dumps({"name": f"s{i}", "messages": [], "usage": {"prompt": 1, "completion": 1, "total": 2}})
        for i in range(3)
    ]
    calls = {"n": 0}
    real = SessionService.import_session

    def flaky(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(*args, **kw)

    monkeypatch.setattr(SessionService, "import_session", flaky)
    with pytest.raises(RuntimeError):
        transfer.import_sessions(lines, "jsonl")
    assert models.Session.objects.count() == 0 and models.SessionEvent.objects.count() == 0


def test_json_import_must_be_a_sessions_document(tmp_path):
    with pytest.raises(transfer.ImportFailed, match='"sessions"'):
        transfer.import_sessions(['{"messages": []}'], "json")
    result = transfer.import_sessions(
        ['{"sessions": [{"messages": []}, ', '{"name": "b", "messages": []}]}'], "json"
    )
    assert len(result.ids) == 2


def test_unreadable_file_and_unknown_session_are_command_errors(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_sessions", str(tmp_path / "missing.jsonl"), stdout=io.StringIO())
    (tmp_path / "latin1.jsonl").write_bytes(b'{"name": "\xe9", "messages": []}\n')
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("import_sessions", str(tmp_path / "latin1.jsonl"), stdout=io.StringIO())
    with pytest.raises(CommandError, match="no session"):
        call_command("export_sessions", "--session", "nope", stdout=io.StringIO())


def test_export_to_a_file_with_progress(tmp_path, capsys):
    seed()
    out = tmp_path / "out.json"
    call_command("export_sessions", "--format", "json", "--output", str(out), stdout=io.StringIO())
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert len(doc["sessions"]) == 3
    assert "exporting" in capsys.readouterr().err  # the tqdm progress bar


# ---------------------------------------------------------------- the same through the API and the dashboard


def test_api_import_and_export_round_trip(client):
    raw = apikeys.create_key("porter", "write")[1]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    seed()
    exported = client.get("/api/v1/export?format=jsonl", **auth)
    assert exported.status_code == 200 and exported["Content-Type"].startswith("application/x-ndjson")
    assert 'filename="sessions.jsonl"' in exported["Content-Disposition"]
    text = b"".join(exported.streaming_content).decode()
    before = state()
    models.Session.objects.all().delete()
    response = client.post(
        "/api/v1/import?format=jsonl", data=text, content_type="application/x-ndjson", **auth
    )
    assert response.status_code == 201, response.content
    assert response.json()["imported"] == 3 and response.json()["skipped"] == []
    assert state() == before
    assert {e.actor for e in models.SessionEvent.objects.all()} == {"api:porter"}


def test_api_import_bad_line_is_400_with_the_line_and_imports_nothing(client):
    raw = apikeys.create_key("porter", "write")[1]
    body = "\n".join([GOOD, BAD_LINES["unknown role"][0]])
    response = client.post(
        "/api/v1/import?format=jsonl",
        data=body,
        content_type="application/x-ndjson",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_import" and response.json()["details"] == {"line": 2}
    assert models.Session.objects.count() == 0
    skipped = client.post(
        "/api/v1/import?format=jsonl&skip_invalid=true",
        data=body,
        content_type="application/x-ndjson",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert skipped.json()["imported"] == 1 and skipped.json()["skipped"][0]["line"] == 2


def test_api_import_needs_a_write_key(client):
    raw = apikeys.create_key("reader", "read")[1]
    response = client.post(
        "/api/v1/import", data=GOOD, content_type="application/x-ndjson", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert response.status_code == 403 and models.Session.objects.count() == 0


def test_api_session_export_and_bad_format(client):
    raw = apikeys.create_key("reader", "read")[1]
    s = seed()[0]
    one = client.get(f"/api/v1/sessions/{s.id}/export", HTTP_AUTHORIZATION=f"Bearer {raw}")
    doc = json.loads(b"".join(one.streaming_content))
    assert [x["id"] for x in doc["sessions"]] == [str(s.id)]
    bad = client.get(f"/api/v1/sessions/{s.id}/export?format=xml", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_argument"


def test_dashboard_download_needs_login_and_view_permission(nobody_user):
    s = seed()[0]
    url = f"/sessions/{s.id}/export?format=openai"
    client = Client()
    assert client.get(url).status_code == 302
    client.force_login(nobody_user)
    assert client.get(url).status_code == 403
    nobody_user.user_permissions.add(
        Permission.objects.get(codename="view_session", content_type__app_label="sessions_app")
    )
    client.force_login(User.objects.get(pk=nobody_user.pk))
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="session-{s.id}.openai.jsonl"'
    assert (
        json.loads(b"".join(response.streaming_content))["messages"][0]["content"]
        == "Réponds en JSON. 日本語も OK."
    )
    assert client.get(f"/sessions/{s.id}/export?format=xml").status_code == 400
    from django.urls import reverse

    assert reverse("session-export", args=[s.id]) == f"/sessions/{s.id}/export"


# ---------------------------------------------------------------- import as new sessions, one version each


def import_one(record: dict, actor: str = "erin") -> SessionService:
    """The session made by importing ``record`` as a line of JSON Lines."""
    (new_id,) = transfer.import_sessions([json.dumps(record)], "jsonl", actor=actor).ids
    return SessionService.get(new_id)


def test_an_import_is_one_version_in_history_with_its_messages_and_usage():
    s = import_one(
        {
            "name": "n",
            "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
            "usage": {"prompt": 1, "completion": 2, "total": 3},
        }
    )
    (event,) = s.events()
    assert (s.version(), event.version, event.op, event.actor) == (1, 1, "import", "erin")
    assert event.args == {
        "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
        "usage": {"prompt": 1, "completion": 2, "total": 3},
    }
    assert s.last_usage() == TokenUsage(1, 2, 3) and s.len() == 2


def test_skip_invalid_reads_on_after_a_line_that_is_not_json(tmp_path):
    # A bad JSON line must not end the reading: the good lines after it are not silently left out.
    result = transfer.import_sessions([GOOD, "{oops", GOOD, GOOD], "jsonl", skip_invalid=True)
    assert len(result.ids) == 3 and result.skipped == [
        (2, "not valid JSON: Expecting property name enclosed in double quotes (column 2)")
    ]


def existing_and_file(tmp_path):  # noqa: ANN201
    original = SessionService.new(name="here", metadata={"k": "v"})
    original.append("user", "kept as it is")
    text = export_text("jsonl", [original.id]).replace('"name":"here"', '"name":"from the file"')
    path = tmp_path / "again.jsonl"
    path.write_text(text + GOOD + "\n", encoding="utf-8")
    return original, path


def test_command_as_new_imports_an_existing_id_under_a_fresh_one_and_leaves_the_original(tmp_path):
    original, path = existing_and_file(tmp_path)
    before = (original.version(), original.messages(), original.row().name)
    with pytest.raises(CommandError, match="line 1: a session with id .* already exists"):
        call_command("import_sessions", str(path), "--verbosity", "0", stdout=io.StringIO())
    assert models.Session.objects.count() == 1
    out = io.StringIO()
    call_command("import_sessions", str(path), "--as-new", "--verbosity", "0", stdout=out)
    assert (
        "Imported 2 session(s) with 2 message(s)" in out.getvalue()
        and "1 as new session(s)" in out.getvalue()
    )
    (renamed,) = re.findall(rf"imported {original.id} as a new session: ([0-9a-f-]{{36}})", out.getvalue())
    copy = SessionService.get(renamed)
    assert copy.id != original.id and copy.row().name == "from the file"
    assert copy.messages() == [Message("user", "kept as it is")] and copy.row().metadata == {"k": "v"}
    assert [(e.op, e.args.get("imported_from")) for e in copy.events()] == [("import", str(original.id))]
    assert (original.version(), original.messages(), original.row().name) == before


def test_a_failed_import_prints_its_error_on_a_line_of_its_own_after_complete_bars(tmp_path):
    # The command as an operator runs it (its own process and SQLite file): tqdm draws on a real stream.
    env_db = f"sqlite:///{tmp_path / 'child.sqlite3'}"
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join([GOOD] * 50 + ['{"messages": [{"role": "robot", "content": "x"}]}']) + "\n")
    env = {**os.environ, "DJANGO_DEBUG": "1", "DATABASE_URL": env_db}
    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=root, check=True, timeout=300
    )
    failed = subprocess.run(
        [sys.executable, "manage.py", "import_sessions", str(path)],
        capture_output=True, text=True, env=env, cwd=root, timeout=120,
    )  # fmt: skip
    assert failed.returncode == 1
    err = failed.stderr
    assert "\x1b[" not in err  # no cursor movement between two bars drawn at once
    lines = err.split("\n")
    (error,) = [line for line in lines if "CommandError" in line]
    assert error.startswith("CommandError: ") and "line 51: messages[0]: role" in error
    bars = [line for line in lines if "validating" in line or "writing" in line]
    assert all("CommandError" not in line for line in bars)
    assert not any("writing" in line for line in lines)  # nothing was written: no writing bar
    assert lines.index(error) > max(lines.index(line) for line in bars)  # after the finished bar
    ok = subprocess.run(
        [sys.executable, "manage.py", "import_sessions", str(path), "--skip-invalid"],
        capture_output=True, text=True, env=env, cwd=root, timeout=120,
    )  # fmt: skip
    assert ok.returncode == 0 and "Imported 50 session(s)" in ok.stdout
    assert "\x1b[" not in ok.stderr and "skipped line 51" in ok.stderr
    assert re.search(r"writing: 100%.*50/50", ok.stderr)


def test_api_import_as_new(client):
    raw = apikeys.create_key("porter", "write")[1]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    original = SessionService.new(name="here")
    original.append("user", "mine")
    body = json.dumps(
        {"id": str(original.id), "name": "theirs", "messages": [{"role": "user", "content": "x"}]}
    )
    refused = client.post("/api/v1/import", data=body, content_type="application/x-ndjson", **auth)
    assert refused.status_code == 400 and "already exists" in refused.json()["message"]
    assert models.Session.objects.count() == 1
    bad = client.post("/api/v1/import?as_new=yes", data=body, content_type="application/x-ndjson", **auth)
    assert bad.status_code == 400 and bad.json()["details"] == {"field": "as_new"}
    response = client.post(
        "/api/v1/import?as_new=true", data=body, content_type="application/x-ndjson", **auth
    )
    assert response.status_code == 201, response.content
    (new_id,) = response.json()["ids"]
    assert new_id != str(original.id)
    assert response.json()["renamed"] == [{"from": str(original.id), "to": new_id}]
    assert SessionService.get(new_id).messages() == [Message("user", "x")]
    assert original.messages() == [Message("user", "mine")] and original.row().name == "here"
    schema = client.get("/api/v1/openapi.json", **auth).json()
    params = {p["name"] for p in schema["paths"]["/import"]["post"]["parameters"]}
    assert "as_new" in params and "renamed" in schema["components"]["schemas"]["ImportResult"]["required"]

"""zyn_client.RemoteSession against a live server behaves exactly like SessionService.

The same seeded random op sequences (valid and invalid calls) run on a SessionService session and on a
RemoteSession session; every call must give the same result or the same error class and code, and
the two sessions must stay identical (messages, usage, version) after every call.
"""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread

import zyn_client
from sessions_app import services
from sessions_app.models import ApiKey
from sessions_app.services import SessionService, apikeys
from tests.live_servers import free_port


def _free_port() -> int:
    """A free port from ZYN_TEST_PORTS ("8200-8299") when set, else one the OS picks."""
    spec = os.environ.get("ZYN_TEST_PORTS", "")
    if not spec:
        return 0
    low, _, high = spec.partition("-")
    return free_port(range(int(low), int(high or low) + 1))


class _NoDelayServer(ThreadedWSGIServer):
    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        # wsgiref writes headers and body separately: without TCP_NODELAY, Nagle + the client's
        # delayed ACK add ~40 ms to every request on a kept-alive connection.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


class _LiveServer(LiveServerThread):
    server_class = _NoDelayServer


@pytest.fixture
def api_server(transactional_db) -> Iterator[str]:
    """A real HTTP server (Django's threaded WSGI live server) on the test database; yields its URL."""
    thread = _LiveServer("127.0.0.1", StaticFilesHandler, port=_free_port())
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()


@pytest.fixture
def remote(api_server: str) -> zyn_client.Connection:
    raw = apikeys.create_key("client-test", ApiKey.Scope.WRITE)[1]
    connection = zyn_client.connect(api_server, raw)
    yield connection
    connection.close()


# ---------------------------------------------------------------- random op sequences

ROLES = ["user", "assistant", "system", "robot"]
TEXTS = ["", "hi", "héllo 👋", "多语言", "a\x00b", "x" * 50, "line\nbreak", "\ud800"]


def _index(rng: random.Random, length: int) -> Any:
    return rng.choice(
        [
            rng.randint(0, max(0, length - 1)),
            rng.randint(0, max(0, length - 1)),
            length,
            length + rng.randint(1, 3),
            -1,
            rng.choice([True, "0", 1.0, 2**64, 2**62]),
        ]
    )


def _message(rng: random.Random) -> Any:
    role = rng.choice(ROLES[:3] * 4 + ROLES[3:])
    content = rng.choice(TEXTS[:4] * 3 + TEXTS)
    return rng.choice([zyn_client.Message(role, content)] * 4 + [{"role": role, "content": content}])


def _usage(rng: random.Random) -> Any:
    return rng.choice(
        [
            None,
            zyn_client.TokenUsage(rng.randint(0, 500), rng.randint(0, 500), rng.randint(0, 1000)),
            zyn_client.TokenUsage(-1, 0, 0),
            {"prompt": 1, "completion": 2, "total": 3},
            {"prompt": 1},
        ]
    )


def random_op(rng: random.Random, length: int, version: int) -> tuple[str, tuple, dict]:
    kw: dict[str, Any] = {}
    if rng.random() < 0.25:
        kw["expected_version"] = rng.choice([version, version, version - 1, version + 1, "1"])
    op = rng.choice(
        ["append"] * 4
        + ["record_exchange"] * 3
        + ["insert", "replace", "remove", "move", "prune", "truncate", "clear", "set_messages", "set_usage"]
        + ["at", "len", "messages", "last_usage", "version"]
    )
    if op == "append":
        m = _message(rng)
        m = m if isinstance(m, dict) else m.as_dict()
        return op, (m["role"], m["content"]), kw
    if op == "record_exchange":
        usage = _usage(rng) if rng.random() < 0.3 else zyn_client.TokenUsage(rng.randint(0, 9), 1, 10)
        return op, (rng.choice(TEXTS[:4] * 4 + TEXTS), rng.choice(TEXTS[:4]), usage), kw
    if op in ("insert", "replace"):
        return op, (_index(rng, length), _message(rng)), kw
    if op == "remove":
        return op, (_index(rng, length),), kw
    if op == "move":
        return op, (_index(rng, length), _index(rng, length)), kw
    if op == "prune":
        return op, (rng.choice([0, 1, 2, 5, -1]),), kw
    if op == "truncate":
        return op, (rng.choice([0, 1, 2, -1]), rng.choice([0, 1, 3])), kw
    if op == "clear":
        return op, (), kw
    if op == "set_messages":
        return op, ([_message(rng) for _ in range(rng.randint(0, 4))],), kw
    if op == "set_usage":
        return op, (_usage(rng),), kw
    if op == "at":
        return op, (_index(rng, length),), {}
    return op, (), {}


def _to_service_arg(value: Any) -> Any:
    """The same argument in the service's own types (the client's types are plain look-alikes)."""
    if isinstance(value, zyn_client.Message):
        return services.Message(value.role, value.content)
    if isinstance(value, zyn_client.TokenUsage):
        return services.TokenUsage(value.prompt, value.completion, value.total)
    if isinstance(value, list):
        return [_to_service_arg(v) for v in value]
    return value


def outcome(target: Any, op: str, args: tuple, kw: dict) -> tuple:
    try:
        result = getattr(target, op)(*args, **kw)
    except (services.SessionError, zyn_client.SessionError) as exc:
        detail = str(exc) if exc.code in {"index_out_of_range", "version_conflict"} else ""
        return ("error", type(exc).__name__, exc.code, detail)
    if hasattr(result, "role"):
        return ("ok", (result.role, result.content))
    if hasattr(result, "total"):
        return ("ok", (result.prompt, result.completion, result.total))
    if isinstance(result, list):
        return ("ok", [(m.role, m.content) for m in result])
    return ("ok", result)


def state(target: Any) -> tuple:
    usage = target.last_usage()
    return (
        [(m.role, m.content) for m in target.messages()],
        None if usage is None else (usage.prompt, usage.completion, usage.total),
        target.version(),
        target.len(),
    )


@pytest.mark.parametrize("seed", range(12))
def test_remote_session_behaves_exactly_like_session_service(remote, seed):
    rng = random.Random(seed)
    local = SessionService.new(name=f"local-{seed}")
    there = zyn_client.RemoteSession.new(remote, name=f"remote-{seed}")
    errors = 0
    for step in range(40):
        length, version = local.len(), local.version()
        op, args, kw = random_op(rng, length, version)
        want = outcome(local, op, tuple(_to_service_arg(a) for a in args), kw)
        got = outcome(there, op, args, kw)
        assert got == want, f"seed {seed} step {step}: {op}{args!r} {kw}"
        assert state(there) == state(local), f"seed {seed} step {step}: {op}{args!r} {kw}"
        errors += want[0] == "error"
    assert errors, "the sequence should include failing calls"


SERVICE_ERRORS = ["SessionError", "IndexOutOfRange", "InvalidArgument", "SessionNotFound", "VersionConflict"]


def test_error_classes_mirror_the_service_by_name_bases_and_code():
    for name in SERVICE_ERRORS:
        mine, theirs = getattr(zyn_client, name), getattr(services, name)
        assert mine.code == theirs.code and mine.http_status == theirs.http_status
        assert [b.__name__ for b in mine.__mro__[:-1]] == [b.__name__ for b in theirs.__mro__[:-1]]


def test_the_client_uses_the_services_own_types_and_errors():
    for name in ["Message", "TokenUsage", "Role", "Event", *SERVICE_ERRORS]:
        assert getattr(zyn_client, name) is getattr(services, name), name


def test_importing_the_client_does_not_import_django():
    import subprocess
    import sys

    check = "import sys, zyn_client; assert 'django' not in sys.modules, sorted(sys.modules)"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


def test_unknown_session_and_auth_errors(api_server, remote):
    with pytest.raises(zyn_client.SessionNotFound):
        zyn_client.RemoteSession.get(remote, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(zyn_client.SessionNotFound):
        zyn_client.RemoteSession(remote, "not-a-uuid").len()
    with pytest.raises(zyn_client.AuthenticationFailed):
        zyn_client.RemoteSession.new(zyn_client.connect(api_server, "zyn_bad_key"))
    read_only = zyn_client.connect(api_server, apikeys.create_key("ro", "read")[1])
    s = zyn_client.RemoteSession.new(remote, name="x")
    with pytest.raises(zyn_client.PermissionDenied):
        zyn_client.RemoteSession(read_only, s.id).append("user", "no")
    assert zyn_client.RemoteSession(read_only, s.id).len() == 0


def test_version_conflict_carries_both_versions(remote):
    s = zyn_client.RemoteSession.new(remote)
    s.append("user", "a")
    with pytest.raises(zyn_client.VersionConflict) as err:
        s.clear(expected_version=0)
    assert (err.value.expected, err.value.current) == (0, 1) and s.len() == 1


def test_rate_limited_calls_are_retried_after_retry_after(api_server, settings):

    settings.ZYN_API_RATE_LIMIT = 2
    settings.ZYN_API_RATE_WINDOW = 1
    raw = apikeys.create_key("limited", "write")[1]
    patient = zyn_client.connect(api_server, raw, rate_limit_retries=5)
    s = zyn_client.RemoteSession.new(patient)
    for i in range(4):  # the 3rd and 4th call wait for the next one-second window
        s.append("user", str(i))
    assert s.len() == 4
    impatient = zyn_client.connect(api_server, raw, rate_limit_retries=0)
    with pytest.raises(zyn_client.RateLimited) as err:
        for _ in range(5):
            zyn_client.RemoteSession(impatient, s.id).len()
    assert err.value.retry_after >= 1


def test_events_and_actor(remote):
    s = zyn_client.RemoteSession.new(remote)
    s.record_exchange("p", "r", zyn_client.TokenUsage(1, 2, 3))
    s.append("user", "next")
    events = s.events()
    assert [(e.version, e.op, e.actor) for e in events] == [
        (1, "record_exchange", "api:client-test"),
        (2, "append", "api:client-test"),
    ]
    assert [e.version for e in s.events(after=1)] == [2]


def test_unreachable_server_is_a_transport_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", _free_port()))
        port = s.getsockname()[1]
    dead = zyn_client.connect(f"http://127.0.0.1:{port}", "zyn_x_y", timeout=2)
    with pytest.raises(zyn_client.TransportError):
        zyn_client.RemoteSession(dead, "00000000-0000-0000-0000-000000000000").len()


def test_the_readme_example_runs_against_a_live_server(api_server, remote, capsys):
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in readme.split("```python\n")[1:]]
    example = next(b for b in blocks if "from zyn_client import" in b)
    code = example.replace('"http://127.0.0.1:8000"', repr(api_server)).replace(
        '"zyn_…"', repr(remote.api_key)
    )
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 (our own README)
    assert capsys.readouterr().out.strip() == "now at 3"
    from sessions_app.models import Session

    row = Session.objects.get(name="ticket-triage")
    assert row.message_count == 5 and row.usage_total == 150

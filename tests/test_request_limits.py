"""Request bodies are bounded at the server (zyn_site/server.py), on a real daphne, over raw sockets.

A body larger than ZYN_MAX_REQUEST_BYTES gets 413 before it is read (daphne's memory does not grow), a
chunked one as soon as it passes the limit, and a body that stops arriving gets 408 within
ZYN_REQUEST_BODY_TIMEOUT_SECONDS. Uses daphne on port 8560 (this worktree's range).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_servers import Daphne

PORT = 8560
LIMIT = 1024 * 1024
BODY_TIMEOUT = 2.0
HEAD = (
    b"POST /accounts/login/ HTTP/1.1\r\nHost: localhost\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n"
)


@pytest.fixture(scope="module")
def daphne(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daphne]:
    """One daphne for the module (starting one takes seconds). The requests here never reach the
    database (the refused ones not even Django; the others stop at the CSRF check), so it gets an
    empty SQLite file of its own: no connection to the test database outlives the module."""
    server = Daphne(
        PORT,
        extra_env={
            "DATABASE_URL": "",
            "SQLITE_PATH": str(tmp_path_factory.mktemp("daphne") / "unused.sqlite3"),
            "ZYN_MAX_REQUEST_BYTES": str(LIMIT),
            "ZYN_REQUEST_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        },
    ).start()
    try:
        yield server
    finally:
        server.stop()
        print(server.output()[-3000:])  # shown by pytest only when a test failed


def connect() -> socket.socket:
    return socket.create_connection(("127.0.0.1", PORT), timeout=10)


def read_response(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def timed_answer(sock: socket.socket, request: bytes) -> tuple[bytes, float]:
    """Send ``request``: the server's whole answer, and the seconds from sending to the end of it."""
    started = time.monotonic()
    sock.sendall(request)
    return read_response(sock), time.monotonic() - started


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(daphne):
    before = rss_kib(daphne.pid())
    with connect() as sock:
        response, elapsed = timed_answer(
            sock, HEAD + b"Content-Length: 300000000\r\n\r\nusername=a&password=b"
        )
        assert response.startswith(b"HTTP/1.1 413 "), response[:300]
        assert b"The request body is 300000000 bytes; this server accepts at most 1048576." in response
        assert elapsed < 2, f"the 413 took {elapsed:.1f} s"
        # The server closed the connection: the rest of the body has nowhere to go.
        with pytest.raises(OSError):
            for _ in range(64):
                sock.sendall(b"x" * 1024 * 1024)
    assert rss_kib(daphne.pid()) - before < 20 * 1024, "daphne's memory grew"


def test_a_client_that_expects_100_continue_is_not_invited_to_send(daphne):
    with connect() as sock:
        sock.sendall(HEAD + b"Content-Length: 300000000\r\nExpect: 100-continue\r\n\r\n")
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in response


def test_a_chunked_body_is_refused_once_it_passes_the_limit(daphne):
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"  # 64 KiB per chunk
    with connect() as sock:
        sock.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        sent = 0
        try:
            while sent < 64 * LIMIT:  # far more than the limit, unless the server stops it
                sock.sendall(chunk)
                sent += 0x10000
        except OSError:
            pass
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 413 ") and b"over 1048576 bytes" in response, response[:300]
    assert sent < 16 * LIMIT, f"the server read {sent} bytes of a chunked body limited to {LIMIT}"


def test_a_body_that_stops_arriving_gets_408_within_the_timeout(daphne):
    with connect() as sock:
        response, elapsed = timed_answer(sock, HEAD + b"Content-Length: 100\r\n\r\n0123456789")
    assert response.startswith(b"HTTP/1.1 408 "), response[:300]
    assert b"stopped arriving (nothing for 2 seconds)" in response
    assert BODY_TIMEOUT - 0.1 <= elapsed < BODY_TIMEOUT + 3, f"answered after {elapsed:.1f} s"


def test_a_slow_body_that_keeps_arriving_is_not_cut(daphne):
    """The timeout is between reads: an upload that keeps moving reaches the application."""
    body = b"username=a&password=b"
    with connect() as sock:
        sock.sendall(HEAD + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
        for piece in (body[:8], body[8:16]):
            sock.sendall(piece)
            # Nothing comes back for a while: longer than the timeout in all, shorter between pieces.
            sock.settimeout(BODY_TIMEOUT * 0.6)
            with pytest.raises(TimeoutError):
                sock.recv(1)
        sock.settimeout(10)
        sock.sendall(body[16:])
        response = read_response(sock)
    # Django's answer (the login form without a CSRF token), not the server's.
    assert response.startswith(b"HTTP/1.1 403 ") and b"CSRF" in response, response[:300]


def test_bodies_within_the_limit_reach_the_application(daphne):
    body = b"username=a&password=" + b"b" * (LIMIT - 100)
    with connect() as sock:
        sock.sendall(HEAD + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 403 ") and b"CSRF" in response, response[:300]


def test_the_default_limit_is_above_the_application_limits():
    from django.conf import settings

    assert settings.ZYN_MAX_REQUEST_BYTES > max(
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE, settings.ZYN_API_MAX_BODY_BYTES
    )

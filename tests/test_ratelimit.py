"""The API keys' rate limit (sessions_app/ratelimit.py): a sliding window, on an injected clock.

At most ``limit`` requests pass in any window-long interval, also across the boundary where a fixed window
resets; the log is shared exactly by two clients of one Redis; while Redis cannot be reached each process
counts on its own without waiting for Redis on every request, and shares again once Redis is back.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

import pytest

from sessions_app.services import apikeys
from sessions_app.services.ratelimit import REDIS_TIMEOUT_SECONDS, RateDecision, RateLimiter
from tests.live_servers import REDIS_SERVER, RedisServer

LIMIT, WINDOW = 5, 10.0
EPOCH = 1_700_000_000.0  # a multiple of WINDOW: where a fixed window would reset
# Five requests at the end of one fixed window, a burst at the start of the next (a fixed window lets all of
# them through: 2 x LIMIT within 1.2 s), then a steady stream for a few windows.
TIMES = [EPOCH + t for t in (9.0, 9.2, 9.4, 9.6, 9.8, 10.0, 10.1, 10.2, 10.3, 10.4, 10.5)] + [
    EPOCH + 11 + 0.7 * i for i in range(60)
]


def _admitted(hit: Callable[[float], RateDecision], times: list[float]) -> list[float]:
    return [t for t in times if hit(t).allowed]


def _sliding_reference(times: list[float]) -> list[float]:
    """What an exact sliding window admits: a request passes while fewer than LIMIT passed in the window."""
    admitted: list[float] = []
    for t in times:
        if sum(1 for a in admitted if t - WINDOW <= a <= t) < LIMIT:
            admitted.append(t)
    return admitted


def _assert_at_most_limit_per_window(admitted: list[float]) -> None:
    for start in admitted:
        inside = [a for a in admitted if start <= a < start + WINDOW]
        assert len(inside) <= LIMIT, f"{len(inside)} requests passed in [{start - EPOCH:.1f}, +{WINDOW} s)"


@pytest.mark.django_db
def test_at_most_limit_requests_pass_in_any_window_across_a_boundary(settings):
    settings.ZYN_API_RATE_LIMIT, settings.ZYN_API_RATE_WINDOW = LIMIT, int(WINDOW)
    key, _ = apikeys.create_key("sliding", "read")
    admitted = _admitted(lambda t: apikeys.check_rate(key, now=t), TIMES)
    _assert_at_most_limit_per_window(admitted)
    assert admitted == _sliding_reference(TIMES)  # and no stricter than the limit
    assert len(admitted) > 2 * LIMIT


@pytest.mark.redis
def test_two_clients_of_one_redis_share_one_exact_log(settings):
    """Two limiters with their own Redis connections, like two processes, alternating requests."""
    first, second = RateLimiter(settings.REDIS_URL), RateLimiter(settings.REDIS_URL)
    name = f"shared-{time.time_ns()}"
    clients = [first, second]
    admitted = _admitted(lambda t: clients[round((t - EPOCH) * 10) % 2].hit(name, LIMIT, WINDOW, t), TIMES)
    _assert_at_most_limit_per_window(admitted)
    assert admitted == _sliding_reference(TIMES)
    # Retry-After is exact to the second: a second less is still too early, that long is enough.
    last = admitted[-1]
    full = first.hit(name, LIMIT, WINDOW, last)
    assert not full.allowed
    assert not second.hit(name, LIMIT, WINDOW, last + full.retry_after - 1).allowed
    assert second.hit(name, LIMIT, WINDOW, last + full.retry_after).allowed


class HungServer:
    """A TCP port that accepts connections and never answers: a Redis that hangs (the worst case for a
    client: every call waits for its socket timeout). Counts the connections made to it."""

    def __init__(self, port: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.listener.settimeout(0.05)  # so the accepting thread sees close() (a blocked accept would not)
        self.connections: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections.append(conn)

    def close(self) -> None:
        self._closing.set()
        self._thread.join(5)
        self.listener.close()
        for conn in self.connections:
            conn.close()


@pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server on PATH (apt-get install redis-server)")
def test_redis_down_counts_per_process_without_waiting_and_shares_again_when_back(caplog):
    port = 8552
    clock = [0.0]  # the limiter's monotonic clock for its back-off, moved by hand
    limiter = RateLimiter(f"redis://127.0.0.1:{port}/0", retry_seconds=5, monotonic=lambda: clock[0])
    name = f"fallback-{time.time_ns()}"
    now = EPOCH

    def timed_hit() -> tuple[RateDecision, float]:
        started = time.perf_counter()
        decision = limiter.hit(name, LIMIT, WINDOW, now)
        return decision, time.perf_counter() - started

    caplog.set_level(logging.INFO, logger="sessions_app.services.ratelimit")
    hung = HungServer(port)
    try:
        decision, seconds = timed_hit()  # finds Redis hung: waits for its timeouts once, then counts here
        assert decision.allowed and seconds < 4 * REDIS_TIMEOUT_SECONDS + 0.5
        tried = len(hung.connections)
        assert tried >= 1
        decisions = []
        for _ in range(2 * LIMIT):  # within the back-off: Redis is not tried, nothing waits
            decision, seconds = timed_hit()
            decisions.append(decision.allowed)
            assert seconds < 0.05, f"a request waited {seconds:.2f} s for a Redis known to be down"
        assert len(hung.connections) == tried
        assert decisions == [True] * (LIMIT - 1) + [False] * (LIMIT + 1), "the limit holds in the process"
        clock[0] += 5  # the back-off is over: one request tries Redis again, finds it still hung
        timed_hit()
        assert len(hung.connections) > tried
    finally:
        hung.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "counted per process" in warnings[0].getMessage()

    with RedisServer(port):
        clock[0] += 5
        now += 2 * WINDOW  # past the requests counted in the process
        assert timed_hit()[0].allowed
        infos = [r for r in caplog.records if r.levelno == logging.INFO]
        assert len(infos) == 1 and "shared between processes again" in infos[0].getMessage()
        other_process = RateLimiter(f"redis://127.0.0.1:{port}/0")
        for _ in range(LIMIT - 1):
            assert other_process.hit(name, LIMIT, WINDOW, now).allowed
        assert not limiter.hit(name, LIMIT, WINDOW, now).allowed, "the count is not shared again"
    assert len([r for r in caplog.records if r.levelno >= logging.INFO]) == 2

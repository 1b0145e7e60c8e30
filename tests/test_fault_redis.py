"""Fault: Redis stops under a daphne serving API keys, then starts again.

A private redis-server on port 8553 (never the shared one) and one daphne on 8554 with REDIS_URL pointing at
it. While Redis is down the API keeps answering (no 500, no wait) and the rate limit still holds, counted in
the process; once Redis is back the count is shared again, with no restart. This test process plays a second
daphne process: it counts in the same shared log through its own ``RateLimiter``.
"""

from __future__ import annotations

import json
import time

import pytest

from sessions_app.services import SessionService, apikeys
from sessions_app.services.ratelimit import REDIS_RETRY_SECONDS, RateLimiter
from tests.live_servers import REDIS_SERVER, Daphne, RedisServer, http_call
from tests.live_support import make_user, session_cookie

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        REDIS_SERVER is None, reason="needs redis-server on PATH (apt-get install redis-server)"
    ),
]

REDIS_PORT, DAPHNE_PORT = 8553, 8554
LIMIT, WINDOW = 12, 600  # a long window: nothing leaves it during the test
FAST = 1.0  # seconds: no request waits for a Redis that is down


def test_api_serves_while_redis_is_down_and_shares_the_count_again_when_back():
    key, raw = apikeys.create_key("redis-fault", "write")
    session = SessionService.new(name="redis fault")
    api = {"Authorization": f"Bearer {raw}"}
    write = {**api, "Content-Type": "application/json"}
    dashboard = {"Cookie": f"sessionid={session_cookie(make_user('redis-fault', 'editor'))}"}
    with RedisServer(REDIS_PORT) as redis_server:
        other_process = RateLimiter(redis_server.url)

        def other_process_hit() -> bool:
            return other_process.hit(key.prefix, LIMIT, WINDOW, time.time()).allowed

        env = {
            "ZYN_API_RATE_LIMIT": str(LIMIT),
            "ZYN_API_RATE_WINDOW": str(WINDOW),
            "DJANGO_LOG_LEVEL": "INFO",
        }
        with Daphne(DAPHNE_PORT, redis_url=redis_server.url, extra_env=env) as daphne:
            read = f"{daphne.url}/api/v1/sessions/{session.id}"
            append = json.dumps({"role": "user", "content": "x"}).encode()

            # Redis up: daphne's requests and the other process's share one count.
            for _ in range(4):
                assert http_call("GET", read, api).status == 200
            assert all(other_process_hit() for _ in range(LIMIT - 4))
            assert not other_process_hit()
            assert http_call("GET", read, api).status == 429

            # Redis down: the API answers, fast; the dashboard too; the limit holds in the process.
            redis_server.stop()
            appended = http_call("POST", f"{read}/append", write, append)
            page = http_call("GET", f"{daphne.url}/", dashboard)
            reads = [http_call("GET", read, api)]
            while reads[-1].status != 429 and len(reads) < LIMIT + 5:
                reads.append(http_call("GET", read, api))
            assert page.status == 200, "the dashboard"
            statuses = [appended.status] + [r.status for r in reads]
            assert statuses == [200] * LIMIT + [429], statuses
            slowest = max(a.seconds for a in [appended, page, *reads])
            assert slowest < FAST, f"a request took {slowest:.2f} s while Redis was down"
            assert session.len() == 1

            # Redis back (empty): after the back-off daphne counts in Redis again. Its own count is full for
            # the whole window, so a request that passes was counted in the shared log.
            redis_server.start()
            deadline = time.monotonic() + REDIS_RETRY_SECONDS + 10
            while http_call("GET", read, api).status == 429:
                assert time.monotonic() < deadline, "daphne did not go back to the shared count"
                time.sleep(0.2)
            assert all(other_process_hit() for _ in range(LIMIT - 1))
            assert not other_process_hit()
            assert http_call("GET", read, api).status == 429

            log = daphne.output()
            assert log.count("API rate limits are counted per process") == 1, log[-3000:]
            assert log.count("API rate limits are shared between processes again") == 1, log[-3000:]
            assert "Internal Server Error" not in log, log[-3000:]

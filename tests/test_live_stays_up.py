"""Live feeds stay up on a healthy Redis: detail and list watchers on two daphne processes (PostgreSQL +
Redis) held for over a minute, idle and then under writes, are never closed, and all end at the final
version. A deactivated user's sockets are then closed with 4403, not 1011.

(The redis client's socket timeout must exceed channels-redis's blocking read, or idle sockets are
closed with 1011 every few seconds: zyn_site/settings.py, ``redis_channel_layer``.)
"""

from __future__ import annotations

import asyncio

import pytest
from django.db import connection

from sessions_app.roles import VIEWER
from sessions_app.services import SessionService
from tests.live_servers import Daphne
from tests.live_soak import LiveSoak
from tests.live_support import Watcher, make_user, session_cookie

PORT_A, PORT_B = 8520, 8521
IDLE_SECONDS = 35  # several times the blocking read (5 s) and two periodic checks (15 s)
WRITE_SECONDS, WRITE_RATE = 30, 3


def test_the_redis_layers_reads_wait_longer_than_its_blocking_read():
    from channels_redis.core import RedisChannelLayer

    from zyn_site.settings import redis_channel_layer

    layer = RedisChannelLayer(**redis_channel_layer("redis://127.0.0.1:6379/0")["default"]["CONFIG"])
    connection = layer.create_pool(0).make_connection()  # not connected: no Redis needed
    assert connection.socket_timeout > layer.brpop_timeout
    assert connection.socket_connect_timeout <= 2  # a Redis that is down is still noticed fast


async def _refused_status(url: str) -> int | None:
    import websockets

    try:
        async with websockets.connect(url, origin=url.replace("ws://", "http://").split("/ws")[0]):
            return None
    except websockets.InvalidStatus as exc:
        return exc.response.status_code


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_watchers_on_two_processes_stay_connected_idle_and_under_writes(settings, editor_user, viewer_user):
    leaver = make_user("leaver", VIEWER)
    sessions = {}
    for name in ("first", "second"):
        s = SessionService.new(name=f"soak {name}")
        s.append("system", "Answer with JSON only.")
        sessions[str(s.id)] = s.version()

    with Daphne(PORT_A, redis_url=settings.REDIS_URL) as a, Daphne(PORT_B, redis_url=settings.REDIS_URL) as b:
        soak = LiveSoak([a, b], sessions, session_cookie(viewer_user), session_cookie(editor_user))
        leaver_cookie, first = session_cookie(leaver), next(iter(sessions))
        leavers = [
            Watcher(f"{d.ws_url}/ws/sessions/{first}/", leaver_cookie, origin=d.url, version=sessions[first])
            for d in (a, b)
        ]

        async def scenario():
            for path in ("/ws/sessions/not-a-uuid/", "/ws/nothing/"):
                assert await _refused_status(a.ws_url + path) == 403, path
            await soak.connect(others=leavers)
            try:
                await asyncio.sleep(IDLE_SECONDS)  # idle on purpose: what closed sockets was time alone
                await soak.write(WRITE_SECONDS, WRITE_RATE)
                result = await soak.settle()

                def deactivate() -> None:
                    try:
                        leaver.is_active = False
                        leaver.save()
                    finally:
                        connection.close()  # this worker thread's own: the test database must be dropped

                await asyncio.to_thread(deactivate)
                await asyncio.gather(*(w.until(lambda w: w.closes == [4403], 10) for w in leavers))
                return result
            finally:
                await soak.stop()

        result = asyncio.run(scenario())
        logs = a.output() + b.output()

    print(result.summary())
    assert not result.closes and not result.refused, f"{result.summary()}\n{logs[-3000:]}"
    assert result.seconds >= 60
    assert not result.missing, "\n".join(result.missing)
    assert result.writes == WRITE_SECONDS * WRITE_RATE
    # Most versions arrive as pushes: the feed works, it is not resyncs hiding a dead one.
    assert result.deltas >= len(soak.detail) * (result.writes // 2) // 2
    assert [w.closes for w in leavers] == [[4403], [4403]], "a deactivated user's sockets must get 4403"
    assert "Timeout reading" not in logs and "Traceback" not in logs, logs[-3000:]

"""Fault: Redis stops while a watcher is connected; writes keep succeeding; after Redis is back the
watcher converges on the final version.

Uses a private redis-server on port 8599 (never the shared one), one daphne on 8510, and this
process as the writer (a program writing through SessionService), on SQLite or PostgreSQL.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import channel_layers
from django.db import connection

from sessions_app.services import SessionService
from tests.live_servers import REDIS_SERVER, Daphne, RedisServer
from tests.live_support import Watcher, session_cookie
from zyn_site.settings import redis_channel_layer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        REDIS_SERVER is None, reason="needs redis-server on PATH (apt-get install redis-server)"
    ),
]

REDIS_PORT, DAPHNE_PORT = 8599, 8510


def _use_redis(settings, url: str) -> None:
    settings.REDIS_URL = url
    settings.CHANNEL_LAYERS = redis_channel_layer(url)
    channel_layers.backends.clear()


async def _append(session: SessionService, content: str) -> int:
    """A program's write, from a worker thread that then closes its own database connection."""

    def write() -> int:
        try:
            return session.append("user", content)
        finally:
            connection.close()

    return await asyncio.to_thread(write)


def test_watcher_converges_on_the_final_version_after_redis_comes_back(settings, editor_user):
    cookie = session_cookie(editor_user)
    session = SessionService.new(name="fault")
    redis = RedisServer(REDIS_PORT).start()
    daphne = None
    try:
        _use_redis(settings, redis.url)
        daphne = Daphne(DAPHNE_PORT, redis_url=redis.url, extra_env={"ZYN_LIVE_TICK_SECONDS": "1"}).start()
        watcher = Watcher(f"{daphne.ws_url}/ws/sessions/{session.id}/", cookie, origin=daphne.url)
        versions_during_outage: list[int] = []

        async def scenario() -> None:
            task = asyncio.ensure_future(watcher.run())
            try:
                assert await watcher.until(lambda w: w.acks, 10), "the server never answered the hello"
                for i in range(5):
                    await _append(session, f"before {i}")
                assert await watcher.until(lambda w: w.version == 5, 10), (
                    f"before the outage: v{watcher.version}"
                )

                redis.stop()
                for i in range(20):  # the writes succeed: publishing after commit is best effort
                    versions_during_outage.append(await _append(session, f"during {i}"))
                assert not await watcher.until(lambda w: w.version >= 25, 1), (
                    "the watcher saw writes made while Redis was down?"
                )

                redis.start()
                converged = await watcher.until(lambda w: w.version == 25, 30)
                assert converged, f"watcher stuck at v{watcher.version} after Redis came back (final v25)"
                # And the feed works again afterwards.
                await _append(session, "after")
                assert await watcher.until(lambda w: w.version == 26, 15), (
                    f"after the outage: v{watcher.version}"
                )
            finally:
                watcher.stop()
                task.cancel()

        asyncio.run(scenario())
        print(f"fault: reconnects={watcher.reconnects} resynced={watcher.resynced}")
        assert versions_during_outage == list(range(6, 26))
        assert session.version() == 26 and session.len() == 26
        assert watcher.covered(1, 26)
        assert watcher.order_violations == 0
    finally:
        if daphne is not None:
            daphne.stop()
        redis.stop()

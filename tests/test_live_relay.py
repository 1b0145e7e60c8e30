"""sessions_app.relay: one subscription per group per process, read on a thread of its own (channels-redis).

Needs Redis (REDIS_URL); uses groups of its own (a random suffix) in that database.
"""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
from django.conf import settings

from sessions_app.relay import get_relay

pytestmark = [pytest.mark.redis, pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def _redis_layer(settings):  # noqa: ANN001 - pytest-django's settings fixture
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [settings.REDIS_URL], "capacity": 1500},
        }
    }
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


async def test_events_arrive_in_order_through_the_reader_thread_and_it_stops_with_the_last_group():
    assert settings.REDIS_URL
    relay = get_relay()
    group = f"relay-test.{uuid.uuid4().hex}"
    first, second = asyncio.Queue(), asyncio.Queue()
    await relay.join(group, first)
    await relay.join(group, second)
    assert relay.reader is not None and relay.reader.thread.is_alive()
    assert relay.reader.thread is not threading.current_thread()
    assert relay.channels[group].startswith("live-relay.") and "!" not in relay.channels[group]

    for version in range(1, 21):
        await relay.layer.group_send(group, {"type": "session.changed", "version": version})
    for queue in (first, second):
        got = [(await asyncio.wait_for(queue.get(), 5))["version"] for _ in range(20)]
        assert got == list(range(1, 21))  # every event once per socket queue, in publish order

    thread = relay.reader.thread
    await relay.leave(group, first)
    assert relay.reader is not None  # the other socket still watches
    await relay.leave(group, second)
    assert relay.reader is None
    thread.join(timeout=5)
    assert not thread.is_alive()
    await relay.layer.group_send(group, {"type": "session.changed", "version": 21})
    await asyncio.sleep(0.2)
    assert first.empty() and second.empty()  # left: nothing is delivered any more


async def test_events_are_read_while_the_serving_loop_is_busy():
    """The reader thread takes events out of Redis while the serving loop runs a long callback (an
    iteration that writes a frame to every socket); they are handed over as soon as it is free."""
    import time

    relay = get_relay()
    group = f"relay-test.{uuid.uuid4().hex}"
    queue: asyncio.Queue = asyncio.Queue()
    await relay.join(group, queue)
    layer = relay.reader.layer
    key = layer.prefix + relay.channels[group]
    for version in range(1, 6):
        await relay.layer.group_send(group, {"type": "session.changed", "version": version})
    time.sleep(1.0)  # blocks the serving loop; the reader thread keeps receiving meanwhile
    pending = await relay.layer.connection(0).zcard(key)
    assert pending == 0  # all five were taken out of Redis while the loop was blocked
    got = [(await asyncio.wait_for(queue.get(), 5))["version"] for _ in range(5)]
    assert got == [1, 2, 3, 4, 5]
    await relay.leave(group, queue)

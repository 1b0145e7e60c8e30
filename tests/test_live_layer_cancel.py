"""A consumer's layer receive ends when it is cancelled, whenever the cancellation lands.

channels cancels the layer ``receive`` of every consumer whose socket closes. On Python 3.11 redis-py's
``wait_for``-bounded write can drop a cancellation that arrives as the write completes, and the receive
then re-issues BZPOPMIN for ever (a leaked task per unlucky close): zyn_site/redis_layer.py bounds the
write with ``asyncio.timeout`` instead.
"""

from __future__ import annotations

import asyncio

import pytest
from channels_redis.core import RedisChannelLayer
from django.conf import settings

from zyn_site.settings import redis_channel_layer

pytestmark = [pytest.mark.redis, pytest.mark.asyncio]

ROUNDS = 60


async def test_cancelled_receives_end_however_early_the_cancellation_comes():
    layer = RedisChannelLayer(**redis_channel_layer(settings.REDIS_URL)["default"]["CONFIG"])
    try:
        for round_ in range(ROUNDS):
            # A closing socket cancels its receive while the layer is still connecting, cleaning
            # its backup queue, or blocking in BZPOPMIN; one or two sockets of the process at once.
            delay = (0, 0.0005, 0.001, 0.002, 0.005, 0.05)[round_ % 6]
            channels = [await layer.new_channel() for _ in range(1 + round_ % 2)]
            receives = [asyncio.ensure_future(layer.receive(name)) for name in channels]
            await asyncio.sleep(delay)
            for receive in receives:
                receive.cancel()
            _, still_running = await asyncio.wait(receives, timeout=3)
            assert not still_running, f"round {round_}: a receive cancelled after {delay}s kept running"
    finally:
        await layer.flush()
        await layer.close_pools()

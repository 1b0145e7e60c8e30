"""The redis-py connection classes the channel layer uses: writes that a cancellation always stops.

redis-py 8 bounds each socket write with ``asyncio.wait_for``. On Python 3.11, ``wait_for`` returns
the write's result and drops a cancellation that arrives just as the write completes (fixed in 3.12,
python/cpython#86296). channels cancels a consumer's layer ``receive`` when its socket closes; a
dropped cancellation left that receive re-issuing BZPOPMIN for ever: one leaked task per unlucky
disconnect, and a test teardown that never ended. ``asyncio.timeout`` has no such race, so these
classes bound the write with it instead (tests/test_live_layer_cancel.py).
"""

from __future__ import annotations

import asyncio

from redis.asyncio.connection import Connection, SSLConnection, parse_url
from redis.exceptions import TimeoutError as RedisTimeoutError


class CancellableWrites:
    """Bounds ``send_packed_command`` with ``asyncio.timeout`` rather than redis-py's ``wait_for``."""

    socket_timeout: float | None

    async def send_packed_command(self, command, check_health: bool = True) -> None:  # noqa: ANN001
        timeout = self.socket_timeout
        if not timeout:
            return await super().send_packed_command(command, check_health)
        # With no socket timeout redis-py writes without wait_for; the connection serves one
        # command at a time, so nothing else reads the attribute meanwhile.
        self.socket_timeout = None
        try:
            async with asyncio.timeout(timeout):
                await super().send_packed_command(command, check_health)
        except TimeoutError:
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        finally:
            self.socket_timeout = timeout


class CancellableConnection(CancellableWrites, Connection):
    pass


class CancellableSSLConnection(CancellableWrites, SSLConnection):
    pass


def connection_options(url: str) -> dict:
    """redis-py connection options for ``url`` (redis:// or rediss://) with the cancellable class."""
    options = parse_url(url)
    base = options.get("connection_class", Connection)
    options["connection_class"] = {
        Connection: CancellableConnection,
        SSLConnection: CancellableSSLConnection,
    }.get(base, base)
    return options

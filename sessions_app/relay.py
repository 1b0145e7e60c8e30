"""One channel-layer subscription per group per process, fanned out to that process's sockets in memory.

Without it every socket is a member of its session's group, and each event costs one channel-layer
message per socket: with channels-redis, one Redis round trip each, received one after another. With
200 watchers at 20 writes/s that is 4,000 round trips a second and latency grows without bound
(measured in docs/benchmarks.md, "Live feeds"). Here each process joins a group once, with a channel
of its own, and hands each event to its local sockets' queues: one message per process per event.

With a networked layer (channels-redis) the subscriptions are read on a thread of their own, with its
own event loop and layer instance, and each event is handed to the serving loop with
``call_soon_threadsafe``. Receiving one message from channels-redis takes three Redis round trips
(clean-up script, BZPOPMIN, backup clean-up), each of which waits for its loop; on the serving loop
that is a whole iteration each time, and an iteration that writes one frame to 200 sockets takes tens
of milliseconds, so events queued up in Redis before any socket saw them (docs/benchmarks.md).

Group membership is re-added by every socket's periodic check (``join`` is idempotent), so a Redis
restart, which forgets all groups, heals within one period; the reader retries while Redis is down.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from channels.layers import DEFAULT_CHANNEL_LAYER, InMemoryChannelLayer, channel_layers, get_channel_layer

logger = logging.getLogger(__name__)


class ReaderThread:
    """An event loop on a daemon thread, with its own instance of the default channel layer."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        self.thread = threading.Thread(target=self._run, name="zyn-live-relay", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def submit(self, coroutine: Any) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def stop(self) -> None:
        async def close() -> None:
            with contextlib.suppress(Exception):
                await self.layer.close_pools()
            self.loop.stop()

        with contextlib.suppress(RuntimeError):  # already stopped
            self.submit(close())


class GroupRelay:
    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.members: dict[str, set[asyncio.Queue]] = {}
        self.channels: dict[str, str] = {}
        self.readers: dict[str, asyncio.Future | concurrent.futures.Future] = {}
        self.threaded = not isinstance(layer, InMemoryChannelLayer)  # in-memory queues are loop-bound
        self.reader: ReaderThread | None = None

    async def join(self, group: str, queue: asyncio.Queue) -> None:
        """Deliver ``group``'s messages to ``queue``. Raises when the channel layer is unavailable."""
        if group not in self.channels:
            if self.threaded:
                # A plain (not process-specific) name: the reader thread's layer instance receives it
                # directly, not through the serving loop's shared receive loop for specific channels.
                channel = f"live-relay.{uuid.uuid4().hex}"
                if self.reader is None:
                    self.reader = ReaderThread()
                loop = asyncio.get_running_loop()

                def deliver(message: dict[str, Any], group: str = group) -> None:
                    with contextlib.suppress(RuntimeError):  # the serving loop has closed
                        loop.call_soon_threadsafe(self._deliver, group, message)

                self.readers[group] = self.reader.submit(
                    self._read(self.reader.layer, group, channel, deliver)
                )
            else:
                # The layer's default prefix: channels-redis reads all of a process's channels through
                # one queue per prefix, and only the default one is read by its consumers' receive loop.
                channel = await self.layer.new_channel()
                self.readers[group] = asyncio.ensure_future(
                    self._read(self.layer, group, channel, lambda m, group=group: self._deliver(group, m))
                )
            self.channels[group] = channel
        self.members.setdefault(group, set()).add(queue)
        await self.layer.group_add(group, self.channels[group])

    async def leave(self, group: str, queue: asyncio.Queue) -> None:
        members = self.members.get(group)
        if members is None:
            return
        members.discard(queue)
        if members:
            return
        del self.members[group]
        channel = self.channels.pop(group)
        self.readers.pop(group).cancel()
        if not self.readers and self.reader is not None:
            self.reader.stop()  # no group left in this process: no thread either
            self.reader = None
        with contextlib.suppress(Exception):  # Redis may be down; its groups expire on their own
            await self.layer.group_discard(group, channel)

    def close(self) -> None:
        for reader in self.readers.values():
            reader.cancel()
        self.readers.clear()
        if self.reader is not None:
            self.reader.stop()
            self.reader = None

    def _deliver(self, group: str, message: dict[str, Any]) -> None:
        for queue in list(self.members.get(group, ())):
            queue.put_nowait(message)

    async def _read(
        self, layer: Any, group: str, channel: str, deliver: Callable[[dict[str, Any]], None]
    ) -> None:
        while True:
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("live relay: cannot receive %s; retrying", group, exc_info=True)
                await asyncio.sleep(1)
                continue
            deliver(message)


_relays: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupRelay] = weakref.WeakKeyDictionary()


def get_relay() -> GroupRelay:
    """This process's (event loop's) relay on the current channel layer."""
    loop = asyncio.get_running_loop()
    layer = get_channel_layer()
    relay = _relays.get(loop)
    if relay is None or relay.layer is not layer:
        if relay is not None:
            relay.close()
        relay = _relays[loop] = GroupRelay(layer)
    return relay

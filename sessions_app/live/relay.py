"""One channel-layer subscription per group per process, fanned out to that process's sockets in memory.

Without it every socket is a member of its session's group, and each event costs one channel-layer
message per socket: with channels-redis, one Redis round trip each, received one after another. With
200 watchers at 20 writes/s that is 4,000 round trips a second and latency grows without bound
(measured in docs/benchmarks.md, "Live feeds"). Here each process joins a group once, with a channel
of its own, and hands each event to its local sockets: one message per process per event.

The reader calls the sockets one after another (``member.deliver(event)``), in one task: the first
socket of a permission level awaits the shared render (live/sharing.py), every later
one finds it done and sends without yielding to the loop. 200 sockets cost one pass, not 200 task
wake-ups, queue hand-offs and awaits of the render; and every socket still gets events in order.

Group membership is re-added by every socket's periodic check (``join`` is idempotent), so a Redis
restart, which forgets all groups, heals within one period; the reader retries while Redis is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


class GroupRelay:
    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.members: dict[str, dict[int, Any]] = {}  # group → sockets (by id: insertion-ordered)
        self.channels: dict[str, str] = {}
        self.readers: dict[str, asyncio.Task] = {}

    async def join(self, group: str, member: Any) -> None:
        """Deliver ``group``'s messages to ``member.deliver``. Raises if the channel layer is down."""
        if group not in self.channels:
            # The layer's default prefix: channels-redis reads all of a process's channels through
            # one queue per prefix, and only the default one is read by its consumers' receive loop.
            self.channels[group] = await self.layer.new_channel()
            self.readers[group] = asyncio.ensure_future(self._read(group, self.channels[group]))
        self.members.setdefault(group, {})[id(member)] = member
        await self.layer.group_add(group, self.channels[group])

    async def leave(self, group: str, member: Any) -> None:
        members = self.members.get(group)
        if members is None:
            return
        members.pop(id(member), None)
        if members:
            return
        del self.members[group]
        channel = self.channels.pop(group)
        self.readers.pop(group).cancel()
        with contextlib.suppress(Exception):  # Redis may be down; its groups expire on their own
            await self.layer.group_discard(group, channel)

    async def _read(self, group: str, channel: str) -> None:
        while True:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("live relay: cannot receive %s; retrying", group, exc_info=True)
                await asyncio.sleep(1)
                continue
            for member in list(self.members.get(group, {}).values()):
                try:
                    await member.deliver(message)
                except asyncio.CancelledError:
                    raise
                except Exception:  # one socket's failure is not the others'
                    logger.warning("live relay: delivery to %r failed", member, exc_info=True)


_relays: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupRelay] = weakref.WeakKeyDictionary()


def get_relay() -> GroupRelay:
    """This process's (event loop's) relay on the current channel layer."""
    loop = asyncio.get_running_loop()
    layer = get_channel_layer()
    relay = _relays.get(loop)
    if relay is None or relay.layer is not layer:
        relay = _relays[loop] = GroupRelay(layer)
    return relay

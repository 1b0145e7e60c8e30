"""After-commit publication of session changes to the channel layer.

The channel layer is at-most-once and may reorder: the version in the event, not the
feed, is the truth; watchers resync from the database when they see a gap.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

SESSION_LIST_GROUP = "sessions"
EVENT_TYPE = "session.changed"


def session_group(session_id: object) -> str:
    return f"session.{session_id}"


def session_changed_event(session_id: object, version: int, op: str) -> dict[str, Any]:
    return {"type": EVENT_TYPE, "session": str(session_id), "version": version, "op": op}


def send_event_on_commit(event: dict[str, Any]) -> None:
    """Publish ``event`` once the surrounding transaction commits; never on rollback.

    ``robust=True`` and publish's own handling: a broken channel layer never fails a committed write.
    """
    transaction.on_commit(lambda: publish(event), robust=True)


class _LayerHealth:
    """Logs a channel-layer outage once (with its cause) and its end once, not a traceback per write:
    while Redis is down every write still commits and watchers resync when it is back."""

    def __init__(self) -> None:
        self.down = False

    def failed(self) -> None:
        if not self.down:
            self.down = True
            logger.warning(
                "the channel layer cannot be reached: writes go on, live watchers miss their events "
                "until it is back (then they resync)",
                exc_info=True,
            )
        else:
            logger.debug("channel layer still unreachable", exc_info=True)

    def sent(self) -> None:
        if self.down:
            self.down = False
            logger.info("the channel layer is reachable again: live events are published")


_health = _LayerHealth()


def publish(event: dict[str, Any]) -> None:
    try:
        _send(event)
    except Exception:  # any failure of the layer: the write has committed already
        _health.failed()
    else:
        _health.sent()


def _send(event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        if not any(layer.groups.get(g) for g in (session_group(event["session"]), SESSION_LIST_GROUP)):
            # Nobody in this process watches: there is no one to deliver to (a process-local layer
            # reaches only this process). Skipping saves async_to_sync's new thread and event loop,
            # about half a millisecond per write in programs and commands.
            return
        # Process-local queues: the send must run on the loop that serves the consumers, which
        # async_to_sync finds when called from a sync view or database_sync_to_async under daphne.
        async_to_sync(_publish)(layer, event)
    else:
        _publisher.run(_publish(layer, event))


class _PublisherLoop:
    """One long-lived event loop per process for sending to a networked channel layer.

    async_to_sync from a thread without an event loop (programs, commands, admin under WSGI) builds a new
    loop per call, and channels-redis opens a new connection per loop: about 4 ms per write
    (docs/benchmarks.md). A loop that lives as long as the process keeps its connection pool.
    """

    timeout = 5.0

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="zyn-event-publisher", daemon=True).start()
                self._loop = loop
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        # Waiting keeps one writer's events in commit order and lets on_commit(robust=True) log failures.
        asyncio.run_coroutine_threadsafe(coroutine, self._running_loop()).result(self.timeout)


_publisher = _PublisherLoop()


async def _publish(layer: Any, event: dict[str, Any]) -> None:
    await layer.group_send(session_group(event["session"]), event)
    await layer.group_send(SESSION_LIST_GROUP, event)

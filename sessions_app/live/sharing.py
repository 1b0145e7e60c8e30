"""Reads shared by the sockets of one process: a render per (session, version, level) and the periodic
checks, each started once and awaited by every socket that needs it."""

from __future__ import annotations

import asyncio
import math
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from channels.db import database_sync_to_async
from django.conf import settings

CACHE_SIZE = 512  # keys kept per event loop
T = TypeVar("T")

_Cache = OrderedDict[tuple, tuple[float, asyncio.Future]]  # key → (expires at, the read's future)
_renders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Cache] = weakref.WeakKeyDictionary()
_checks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Cache] = weakref.WeakKeyDictionary()
stats = {"renders": 0, "shared": 0}


def _shared(
    caches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Cache],
    key: tuple,
    max_age: float,
    read: Callable[..., Any],
    *args: Any,
) -> tuple[asyncio.Future, bool]:
    """The future of ``read(*args)`` in the database thread, shared by this loop's callers of ``key``
    for ``max_age`` seconds (the last CACHE_SIZE keys); True when this call started it.

    A failed read is not kept, so the next caller retries it.
    """
    loop = asyncio.get_running_loop()
    cache = caches.setdefault(loop, OrderedDict())
    now = loop.time()
    entry = cache.get(key)
    if entry is not None and entry[0] > now:
        return entry[1], False
    future = asyncio.ensure_future(database_sync_to_async(read)(*args))
    entry = cache[key] = (now + max_age, future)
    cache.move_to_end(key)
    while len(cache) > CACHE_SIZE:
        cache.popitem(last=False)

    def forget_failure(done: asyncio.Future) -> None:
        if (done.cancelled() or done.exception() is not None) and cache.get(key) is entry:
            del cache[key]

    future.add_done_callback(forget_failure)
    return future, True


async def shared_render(key: tuple, render: Callable[..., T], *args: Any) -> T:
    """Render once per ``key`` in this process; concurrent and later callers share the result."""
    if not settings.ZYN_LIVE_SHARED_RENDER:
        stats["renders"] += 1
        return await database_sync_to_async(render)(*args)
    future, started = _shared(_renders, key, math.inf, render, *args)
    stats["renders" if started else "shared"] += 1
    # shield: one watcher disconnecting mid-render must not cancel the render the others await.
    return await asyncio.shield(future)


async def shared_check(key: tuple, max_age: float, read: Callable[..., Any], *args: Any) -> Any:
    """``read(*args)`` in the database thread, shared by this process's callers for ``max_age`` seconds.

    For the sockets' periodic checks: 200 sockets of one user (or on one session) cost one permission
    (or version) read per ``max_age``, not 200, and do not queue in front of the renders.
    """
    future, _ = _shared(_checks, key, max_age, read, *args)
    return await asyncio.shield(future)


def clear() -> None:
    _renders.clear()
    _checks.clear()

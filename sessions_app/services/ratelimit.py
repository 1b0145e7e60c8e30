"""The API keys' rate limit: a sliding window, shared by every process through Redis, per process while
Redis cannot be reached.

A request passes while fewer than ``limit`` requests of its key were admitted in the last ``window``, so at
most ``limit`` pass in any window-long interval (a fixed window lets twice the limit through across a
boundary; a token bucket lets a full bucket and then its refill through within one window).

The algorithm and storage come from pyrate-limiter (maintained; already installed with schemathesis): its
``SlidingWindowLog`` with ``RedisBucket`` counts and records a request in ONE Lua script (a sorted set of
timestamps per key), so processes share one exact log; ``InMemoryBucket`` is the same log in this process.
What is left here: the Redis client (short timeouts, no retry loop), using the process's log while Redis is
down with a back-off before trying it again, re-loading the script after Redis restarts, trimming and
expiring the shared log, and whole seconds for ``Retry-After``.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from pyrate_limiter import Decision, InMemoryBucket, Rate, RateItem, RedisBucket
from pyrate_limiter.buckets.redis_bucket import LuaScript
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

# A healthy Redis answers in about a millisecond; an unreachable one must not hold a request longer.
REDIS_TIMEOUT_SECONDS = 0.25
# While Redis is unreachable, each process tries it again at most this often (the requests in between are
# counted in the process at once, without waiting for a connection).
REDIS_RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    retry_after: int  # whole seconds after which this request would pass (0 when it passed)


class RateLimiter:
    """One per process and Redis URL (``for_url``); safe to share between threads."""

    def __init__(
        self,
        redis_url: str,
        *,
        retry_seconds: float = REDIS_RETRY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = (
            redis.Redis.from_url(
                redis_url,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                # redis-py's default retries 10 times with a growing back-off: seconds per request while
                # Redis is down. One immediate retry covers a pooled connection broken by a Redis restart.
                retry=Retry(NoBackoff(), 1),
            )
            if redis_url
            else None
        )
        self._retry_seconds = retry_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._script_hash: str | None = None
        self._redis_down_until: float | None = None  # None while the shared log is in use
        self._trimmed_at: dict[str, int] = {}  # shared log key → when this process last trimmed it (ms)
        self._local: dict[str, InMemoryBucket] = {}

    def hit(self, name: str, limit: int, window_seconds: float, now: float) -> RateDecision:
        """Count one request of ``name`` at ``now`` (seconds since the epoch) if it may pass."""
        rate = Rate(limit, max(1, round(window_seconds * 1000)))
        item = RateItem(name, round(now * 1000))
        decision = self._shared(rate, item)
        if decision is None:
            decision = self._in_process(rate, item)
        if decision.allowed:
            return RateDecision(True, limit, 0)
        # Rounded up: a client that waits Retry-After seconds finds room (unless others took it meanwhile).
        retry_ms = decision.retry_after_ms if decision.retry_after_ms is not None else rate.interval
        return RateDecision(False, limit, max(1, math.ceil(retry_ms / 1000)))

    def _shared(self, rate: Rate, item: RateItem) -> Decision | None:
        """The verdict of the shared log, or None when there is no Redis or it cannot be reached."""
        if self._redis is None:
            return None
        with self._lock:
            if self._redis_down_until is not None:
                if self._monotonic() < self._redis_down_until:
                    return None
                # This request tries Redis again; the others meanwhile keep counting in the process.
                self._redis_down_until = self._monotonic() + self._retry_seconds
        key = f"zyn:api-rate:{item.name}"
        try:
            decision = self._put_shared(key, rate, item)
            self._trim_shared(key, rate, item.timestamp)
        except redis.RedisError as exc:
            with self._lock:
                degrading = self._redis_down_until is None
                self._redis_down_until = self._monotonic() + self._retry_seconds
            if degrading:
                logger.warning(
                    "Redis cannot be reached (%s): API rate limits are counted per process until it is back",
                    exc,
                )
            return None
        with self._lock:
            restored, self._redis_down_until = self._redis_down_until is not None, None
        if restored:
            logger.info("Redis is reachable again: API rate limits are shared between processes again")
        return decision

    def _put_shared(self, key: str, rate: Rate, item: RateItem) -> Decision:
        assert self._redis is not None
        if self._script_hash is None:
            self._script_hash = self._redis.script_load(LuaScript.PUT_ITEM)
        # A bucket object per request: it keeps its last verdict in attributes, which threads must not share.
        bucket = RedisBucket([rate], self._redis, key, self._script_hash)
        try:
            return bucket.put_decision(item)
        except redis.exceptions.NoScriptError:  # Redis restarted: its script cache is empty
            bucket.script_hash = self._script_hash = self._redis.script_load(LuaScript.PUT_ITEM)
            return bucket.put_decision(item)

    def _trim_shared(self, key: str, rate: Rate, now_ms: int) -> None:
        """Drop what left the window and let an idle key expire; at most once per window per process."""
        assert self._redis is not None
        if now_ms - self._trimmed_at.get(key, -rate.interval) < rate.interval:
            return
        self._trimmed_at[key] = now_ms
        pipe = self._redis.pipeline(transaction=False)
        pipe.zremrangebyscore(key, "-inf", f"({now_ms - rate.interval}")
        # Entries added until this process's next trim (within a window) still count a window later.
        pipe.pexpire(key, 2 * rate.interval)
        pipe.execute()

    def _in_process(self, rate: Rate, item: RateItem) -> Decision:
        with self._lock:
            bucket = self._local.get(item.name)
            if (
                bucket is None
                or bucket.rates[0].limit != rate.limit
                or bucket.rates[0].interval != rate.interval
            ):
                bucket = self._local[item.name] = InMemoryBucket([rate])
            bucket.leak(item.timestamp)
            return bucket.put_decision(item)


@functools.cache
def for_url(redis_url: str) -> RateLimiter:
    """This process's limiter for a Redis URL ("" = no Redis: every process counts on its own)."""
    return RateLimiter(redis_url)

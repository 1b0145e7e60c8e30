"""Who is watching a session: a small store shared by every daphne process.

Choice (see README, "Live feeds"): the store follows the channel layer. With ``REDIS_URL`` it is a
Redis sorted set per session (member = one websocket, score = expiry time), so every process sees
every watcher and a crashed process's watchers expire on their own. Without Redis the channel layer
is in-memory and only one process can serve websockets, so an in-process dict is exact.

Every change bumps a per-session revision (in the same Redis transaction), and the broadcast
carries it: consumers drop presence lists older than one they already showed, because the channel
layer may reorder messages.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

PRESENCE_TTL_SECONDS = 60  # a watcher disappears this long after its process stopped refreshing it


@dataclass(frozen=True)
class Watcher:
    user_id: int
    name: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.user_id, "name": self.name}


@dataclass(frozen=True)
class Snapshot:
    revision: int
    watchers: list[Watcher]  # one per user (two tabs of one user count once), sorted by name
    sockets: dict[int, int] = field(default_factory=dict)  # user id → open sockets

    def changed_by(self, user_id: int, action: str) -> bool:
        """Whether this join/leave changed the list people see (not so for a user's second tab)."""
        count = self.sockets.get(user_id, 0)
        return count == 1 if action == "join" else count == 0


def _member(channel: str, user_id: int, name: str) -> str:
    return f"{channel}\t{user_id}\t{name}"


def _snapshot(revision: int, members: list[str]) -> Snapshot:
    seen: dict[int, Watcher] = {}
    sockets: dict[int, int] = {}
    for member in members:
        _, user_id, name = member.split("\t", 2)
        seen.setdefault(int(user_id), Watcher(int(user_id), name))
        sockets[int(user_id)] = sockets.get(int(user_id), 0) + 1
    return Snapshot(revision, sorted(seen.values(), key=lambda w: (w.name.lower(), w.user_id)), sockets)


class MemoryPresence:
    """One process: exact, no expiry needed (the process that holds the sockets holds the store)."""

    def __init__(self) -> None:
        self._members: dict[str, dict[str, float]] = {}
        self._revisions: dict[str, int] = {}

    async def join(self, session: str, channel: str, user_id: int, name: str) -> Snapshot:
        self._members.setdefault(session, {})[_member(channel, user_id, name)] = time.time()
        return self._bump(session)

    async def leave(self, session: str, channel: str, user_id: int, name: str) -> Snapshot:
        self._members.get(session, {}).pop(_member(channel, user_id, name), None)
        return self._bump(session)

    async def refresh(self, session: str, channel: str, user_id: int, name: str) -> Snapshot:
        return _snapshot(self._revisions.get(session, 0), list(self._members.get(session, {})))

    def _bump(self, session: str) -> Snapshot:
        revision = self._revisions.get(session, 0) + 1
        self._revisions[session] = revision
        members = self._members.get(session, {})
        if not members:
            self._members.pop(session, None)
        return _snapshot(revision, list(members))


class RedisPresence:
    """Shared by every process: ZSET ``zyn:presence:<session>`` + revision counter, one MULTI per change."""

    def __init__(self, url: str) -> None:
        self._url = url
        # redis.asyncio connections belong to the event loop that opened them.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    def _client(self) -> Any:
        import redis.asyncio as redis

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = redis.from_url(
                self._url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2
            )
            self._clients[loop] = client
        return client

    @staticmethod
    def _keys(session: str) -> tuple[str, str]:
        return f"zyn:presence:{session}", f"zyn:presence:{session}:rev"

    async def _change(self, session: str, member: str, *, add: bool, bump: bool) -> Snapshot:
        key, rev_key = self._keys(session)
        now = time.time()
        pipe = self._client().pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", now)  # watchers of processes that died
        if add:
            pipe.zadd(key, {member: now + PRESENCE_TTL_SECONDS})
        else:
            pipe.zrem(key, member)
        if bump:
            pipe.incr(rev_key)
        else:
            pipe.get(rev_key)
        pipe.zrangebyscore(key, now, "+inf")
        pipe.expire(key, PRESENCE_TTL_SECONDS * 2)
        pipe.expire(rev_key, 86400)
        results = await pipe.execute()
        return _snapshot(int(results[2] or 0), list(results[3]))

    async def join(self, session: str, channel: str, user_id: int, name: str) -> Snapshot:
        return await self._change(session, _member(channel, user_id, name), add=True, bump=True)

    async def leave(self, session: str, channel: str, user_id: int, name: str) -> Snapshot:
        return await self._change(session, _member(channel, user_id, name), add=False, bump=True)

    async def refresh(self, session: str, channel: str, user_id: int, name: str) -> Snapshot:
        """Keep this watcher alive; the revision is unchanged (the caller compares the watchers)."""
        return await self._change(session, _member(channel, user_id, name), add=True, bump=False)


_store: MemoryPresence | RedisPresence | None = None
_store_key: str | None = None


def get_store() -> MemoryPresence | RedisPresence:
    global _store, _store_key
    url = settings.REDIS_URL
    if _store is None or _store_key != url:
        _store = RedisPresence(url) if url else MemoryPresence()
        _store_key = url
    return _store

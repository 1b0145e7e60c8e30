"""Events reach the channel layer after commit only: never before, never on rollback or failure.

The receiving side runs on the test's event loop and the writes run in a worker thread (as a sync view
would under daphne), so the same test works with the in-memory layer and with channels-redis, whose
connections belong to one event loop.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from sessions_app.domain.errors import IndexOutOfRange
from sessions_app.live.events import SESSION_LIST_GROUP, session_group
from sessions_app.services import SessionService


async def subscribe(group: str) -> str:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


async def received(channel: str, timeout: float = 0.3) -> list[dict]:
    layer = get_channel_layer()
    out = []
    while True:
        try:
            out.append(await asyncio.wait_for(layer.receive(channel), timeout))
        except TimeoutError:
            return out


@pytest.mark.django_db
def test_successful_write_queues_exactly_one_on_commit_publication(django_capture_on_commit_callbacks):
    s = SessionService.new()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        s.append("user", "hi")
    assert len(callbacks) == 1


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_event_goes_to_session_and_list_groups_after_commit():
    s = await sync_to_async(SessionService.new)()
    watcher, lister = await subscribe(session_group(s.id)), await subscribe(SESSION_LIST_GROUP)
    await received(lister)  # the "create" event of this session
    seen_inside: list[dict] = []

    def write_in_a_transaction() -> None:
        with transaction.atomic():
            s.append("user", "hi", actor="alice")
            # still inside the transaction: ask the loop whether anything arrived yet
            seen_inside.extend(asyncio.run_coroutine_threadsafe(received(watcher, 0.2), loop).result())

    loop = asyncio.get_running_loop()
    await sync_to_async(write_in_a_transaction, thread_sensitive=False)()
    assert seen_inside == []  # not before commit
    expected = {"type": "session.changed", "session": str(s.id), "version": 1, "op": "append"}
    assert await received(watcher) == [expected]
    assert await received(lister) == [expected]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_nothing_is_published_on_rollback_or_failure():
    s = await sync_to_async(SessionService.new)()
    watcher = await subscribe(session_group(s.id))

    def rolled_back() -> None:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                s.append("user", "rolled back")
                raise RuntimeError("caller fails after the write")
        with pytest.raises(IndexOutOfRange):
            s.remove(5)

    await sync_to_async(rolled_back)()
    assert await received(watcher) == []
    assert await sync_to_async(s.version)() == 0 and await sync_to_async(s.messages)() == []


@pytest.mark.django_db(transaction=True)
def test_a_broken_channel_layer_never_fails_a_committed_write(settings, caplog):
    # A real channels-redis layer pointed at a port where nothing listens.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:9"]},
        }
    }
    s = SessionService.new()
    with caplog.at_level(logging.INFO, logger="sessions_app.live.events"):
        assert s.append("user", "still saved") == 1
        assert s.append("user", "and this") == 2
    assert s.version() == 2 and s.len() == 2
    # One warning with its cause for the outage, not a traceback per write.
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].exc_info and "cannot be reached" in warnings[0].getMessage()
    caplog.clear()
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    with caplog.at_level(logging.INFO, logger="sessions_app.live.events"):
        assert s.append("user", "back") == 3
    assert [r.getMessage() for r in caplog.records] == [
        "the channel layer is reachable again: live events are published"
    ]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_in_memory_layer_delivers_to_either_group_and_skips_when_nobody_listens(settings, monkeypatch):
    """The in-memory layer reaches only this process: with no member in the session's group nor in
    the list group there is no one to deliver to, and publish returns without starting a loop."""
    from channels.layers import InMemoryChannelLayer

    from sessions_app.live import events

    if not isinstance(get_channel_layer(), InMemoryChannelLayer):
        pytest.skip("about the in-memory layer; this run uses REDIS_URL's channels-redis layer")
    s = await sync_to_async(SessionService.new)()
    lister = await subscribe(SESSION_LIST_GROUP)  # only the list is watched, not the session
    await received(lister)
    await sync_to_async(s.append)("user", "to the list")
    assert [e["version"] for e in await received(lister)] == [1]

    await get_channel_layer().group_discard(SESSION_LIST_GROUP, lister)
    started: list[object] = []
    monkeypatch.setattr(events, "async_to_sync", lambda fn: started.append(fn) or fn)
    await sync_to_async(s.append)("user", "nobody watches")
    assert started == []  # no loop started for a publication nobody can receive
    assert await sync_to_async(s.version)() == 2

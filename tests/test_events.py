"""Events reach the channel layer after commit only: never before, never on rollback or failure."""

from __future__ import annotations

import asyncio
import logging

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from sessions_app.events import SESSION_LIST_GROUP, session_group
from sessions_app.services import IndexOutOfRange, SessionService


def subscribe(group: str) -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return channel


def received(channel: str, timeout: float = 0.2) -> list[dict]:
    layer = get_channel_layer()

    async def drain() -> list[dict]:
        out = []
        while True:
            try:
                out.append(await asyncio.wait_for(layer.receive(channel), timeout))
            except TimeoutError:
                return out

    return async_to_sync(drain)()


@pytest.mark.django_db
def test_successful_write_queues_exactly_one_on_commit_publication(django_capture_on_commit_callbacks):
    s = SessionService.new()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        s.append("user", "hi")
    assert len(callbacks) == 1


@pytest.mark.django_db(transaction=True)
def test_event_goes_to_session_and_list_groups_after_commit():
    s = SessionService.new()
    watcher, lister = subscribe(session_group(s.id)), subscribe(SESSION_LIST_GROUP)
    with transaction.atomic():
        s.append("user", "hi", actor="alice")
        assert received(watcher) == []  # not before commit
    expected = {"type": "session.changed", "session": str(s.id), "version": 1, "op": "append"}
    assert received(watcher) == [expected]
    assert received(lister) == [expected]


@pytest.mark.django_db(transaction=True)
def test_nothing_is_published_on_rollback_or_failure():
    s = SessionService.new()
    watcher = subscribe(session_group(s.id))
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            s.append("user", "rolled back")
            raise RuntimeError("caller fails after the write")
    with pytest.raises(IndexOutOfRange):
        s.remove(5)
    assert received(watcher) == []
    assert s.version() == 0 and s.messages() == []


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
    with caplog.at_level(logging.ERROR):
        assert s.append("user", "still saved") == 1
    assert s.version() == 1 and s.len() == 1
    assert any("on_commit" in r.getMessage() or r.exc_info for r in caplog.records)

"""After-commit publication of session changes to the channel layer.

The channel layer is at-most-once and may reorder: the version in the event, not the
feed, is the truth; watchers resync from the database when they see a gap.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
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

    ``robust=True``: a broken channel layer is logged and never fails a committed write.
    """
    transaction.on_commit(lambda: publish(event), robust=True)


def publish(event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(_publish)(layer, event)


async def _publish(layer: Any, event: dict[str, Any]) -> None:
    await layer.group_send(session_group(event["session"]), event)
    await layer.group_send(SESSION_LIST_GROUP, event)

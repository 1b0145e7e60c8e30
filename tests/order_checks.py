"""The invariant of the order keys, checked after writes in the service, model and concurrency tests."""

from __future__ import annotations

import uuid

from sessions_app import models
from sessions_app.selectors.messages import messages_between


def keys_in_order(session_id: uuid.UUID) -> bool:
    """The session's order keys are unique and strictly increasing, its last_order_key is at least the
    highest, and the indexes of its rows by rank (read from either end) are 0..len-1."""
    session = models.Session.objects.get(pk=session_id)
    keys = list(
        models.Message.objects.filter(session_id=session_id)
        .order_by("order_key")
        .values_list("order_key", flat=True)
    )
    increasing = all(a < b for a, b in zip(keys, keys[1:], strict=False)) and len(set(keys)) == len(keys)
    length = session.message_count
    halves = messages_between(session_id, 0, length // 2, length)
    halves += messages_between(session_id, length // 2, length, length)
    return (
        increasing
        and (not keys or keys[-1] <= session.last_order_key)
        and [m.order_key for m in halves] == keys
        and [m.position for m in halves] == list(range(length)) == list(range(len(keys)))
    )

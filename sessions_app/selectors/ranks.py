"""A message's index is its rank by order key (domain/order_keys.py).

Finding the row at an index scans the (session_id, order_key) index from the nearer end, so no lookup
reads more than half a session's index entries; the length comes from the session row.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connection
from django.db.models.expressions import RawSQL

from sessions_app import models


def keys_sql(session_id: uuid.UUID, start: int, count: int, length: int) -> tuple[str, list[Any], bool]:
    """SELECT of the order keys at indexes start ≤ i < start + count (within 0..length), scanning
    from the nearer end, and its parameters; True when it reads them backwards (last first)."""
    backwards = start > length - start - count
    direction, offset = (" DESC", length - start - count) if backwards else ("", start)
    session = models.Message._meta.get_field("session").get_db_prep_value(session_id, connection)
    table = connection.ops.quote_name(models.Message._meta.db_table)
    return (
        f"SELECT order_key FROM {table} WHERE session_id = %s"
        f" ORDER BY order_key{direction} LIMIT %s OFFSET %s",
        [session, count, offset],
        backwards,
    )


def key_at(session_id: uuid.UUID, index: int, length: int) -> tuple[str, list[Any]]:
    """A scalar subquery and its parameters: the order key of the message at 0 ≤ ``index`` < length."""
    sql, params, _ = keys_sql(session_id, index, 1, length)
    return f"({sql})", params


def with_indexes(rows: list[models.Message], start: int) -> list[models.Message]:
    """Set each row's ``position``, its index in the session, for rows read in order from ``start``."""
    for i, row in enumerate(rows):
        row.position = start + i
    return rows


def rows_between(session_id: uuid.UUID, start: int, stop: int, length: int) -> list[models.Message]:
    """The message rows at indexes start ≤ i < stop of a session of ``length``, in order, with positions."""
    start, stop = max(0, start), min(stop, length)
    if stop <= start:
        return []
    rows = models.Message.objects.filter(session_id=session_id)
    if start <= length - stop:
        lowest = RawSQL(*key_at(session_id, start, length))
        found = list(rows.filter(order_key__gte=lowest).order_by("order_key")[: stop - start])
    else:
        highest = RawSQL(*key_at(session_id, stop - 1, length))
        found = list(rows.filter(order_key__lte=highest).order_by("-order_key")[: stop - start])
        found.reverse()
    return with_indexes(found, start)


def row_at(session_id: uuid.UUID, index: int, length: int) -> models.Message | None:
    found = rows_between(session_id, index, index + 1, length)
    return found[0] if found else None


def index_of(session_id: uuid.UUID, order_key: int) -> int:
    """The index of the message with ``order_key``: an index-only count of the keys before it."""
    return models.Message.objects.filter(session_id=session_id, order_key__lt=order_key).count()

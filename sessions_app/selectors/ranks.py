"""A message's index is its rank by order key (domain/order_keys.py).

Finding the row at an index scans the (session_id, order_key) index from the nearer end, so no lookup
reads more than half a session's index entries; the length comes from the session row.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from django.db import connection
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from sessions_app import models

_SESSION = models.Message._meta.get_field("session")


@functools.cache  # one database per process: its quoting never changes
def _table() -> str:
    return connection.ops.quote_name(models.Message._meta.db_table)


def keys_sql(session_id: uuid.UUID, start: int, count: int, length: int) -> tuple[str, list[Any], bool]:
    """SELECT of the order keys at indexes start ≤ i < start + count (within 0..length), scanning
    from the nearer end, and its parameters; True when it reads them backwards (last first)."""
    backwards = start > length - start - count
    direction, offset = (" DESC", length - start - count) if backwards else ("", start)
    session = _SESSION.get_db_prep_value(session_id, connection)
    return (
        f"SELECT order_key FROM {_table()} WHERE session_id = %s"
        f" ORDER BY order_key{direction} LIMIT %s OFFSET %s",
        [session, count, offset],
        backwards,
    )


def key_at(session_id: uuid.UUID, index: int, length: int) -> tuple[str, list[Any]]:
    """A scalar subquery and its parameters: the order key of the message at 0 ≤ ``index`` < length."""
    sql, params, _ = keys_sql(session_id, index, 1, length)
    return f"({sql})", params


def key_at_any_length(session_id: uuid.UUID, index: int) -> tuple[str, list[Any]]:
    """PostgreSQL: as ``key_at``, with the length read from the session row inside the same statement
    (a CASE runs only the scan it chooses; SQLite allows no outer column in an OFFSET)."""
    session = _SESSION.get_db_prep_value(session_id, connection)
    scan = f"SELECT order_key FROM {_table()} WHERE session_id = s.id ORDER BY order_key"
    sessions = connection.ops.quote_name(models.Session._meta.db_table)
    return (
        f"(SELECT CASE WHEN %s >= s.message_count THEN NULL"
        f" WHEN %s < s.message_count - %s THEN ({scan} LIMIT 1 OFFSET %s)"
        f" ELSE ({scan} DESC LIMIT 1 OFFSET s.message_count - 1 - %s) END"
        f" FROM {sessions} AS s WHERE s.id = %s)",
        [index, index, index, index, index, session],
    )


def index_in_session() -> Coalesce:
    """The index of each row of the outer query: an index-only count of its session's keys before its own."""
    before = (
        models.Message.objects.filter(session_id=OuterRef("session_id"), order_key__lt=OuterRef("order_key"))
        .order_by()
        .values("session_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(before), 0)

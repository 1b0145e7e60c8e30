"""The write path's SQL: the locked session row, its bump and event, and the change of its message rows.

Every function here except ``lock_row`` and ``append_in_one_statement`` requires the caller to hold the
session lock. ``apply_change`` is the one place that turns an op's ``Change`` into row writes (through
services/rows.py, which keeps the rows in order by sparse keys).
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from sessions_app import models
from sessions_app.domain import changes, order_keys
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.services.rows import Rows, insert_messages
from sessions_app.services.sql import db_cursor, db_value, query, table

__all__ = ["db_cursor", "db_value", "insert_messages", "query", "table"]  # re-exported for the callers


def usage_fields(usage: TokenUsage) -> dict[str, int]:
    return {"usage_prompt": usage.prompt, "usage_completion": usage.completion, "usage_total": usage.total}


@dataclass(frozen=True)
class LockedRow:
    """The locked session row's fields the write path needs."""

    pk: uuid.UUID
    version: int
    message_count: int
    last_key: int  # the session's last_order_key


def lock_row(session_id: uuid.UUID) -> LockedRow | None:
    """SELECT … FOR UPDATE of the session row. Caller is inside transaction.atomic().

    SQLite has no FOR UPDATE: its BEGIN IMMEDIATE (settings) already holds the write lock.
    """
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    found = query(
        f"SELECT version, message_count, last_order_key FROM {table(models.Session)} WHERE id = %s{lock}",
        [db_value(models.Session, "id", session_id)],
    )
    return None if not found else LockedRow(session_id, *found[0])


def bump_fields(fields: dict[str, Any], now: datetime) -> tuple[list[str], list[Any]]:
    """SET clauses and parameters of the session row's UPDATE (version is the caller's)."""
    columns = {"updated_at": db_value(models.Session, "updated_at", now), **fields}
    return [f"{c} = %s" for c in columns], list(columns.values())


def event_values(op: str, args: dict[str, Any], actor: str, now: datetime) -> list[Any]:
    """op, args, actor, created_at of an event row, as stored."""
    return [
        op,
        db_value(models.SessionEvent, "args", args),
        actor,
        db_value(models.SessionEvent, "created_at", now),
    ]


def bump_and_record(
    row: LockedRow, version: int, fields: dict[str, Any], op: str, args: dict[str, Any], actor: str
) -> None:
    """UPDATE the session row's fields and INSERT the event. Caller holds the session lock."""
    now = timezone.now()
    sets, values = bump_fields(fields, now)
    pk = db_value(models.Session, "id", row.pk)
    with db_cursor() as cursor:
        cursor.execute(
            f"UPDATE {table(models.Session)} SET version = %s, {', '.join(sets)} WHERE id = %s",
            [version, *values, pk],
        )
        cursor.execute(
            f"INSERT INTO {table(models.SessionEvent)} (session_id, version, op, args, actor, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [pk, version, *event_values(op, args, actor, now)],
        )


def append_in_one_statement(
    session_id: uuid.UUID,
    messages: list[Message],
    expected_version: int | None,
    op: str,
    args: dict[str, Any],
    actor: str,
    usage: TokenUsage | None,
) -> int | None:
    """PostgreSQL: lock, version check, messages at the end, bump and event as ONE statement.

    The UPDATE of the session row takes the row lock, and under concurrent writers PostgreSQL
    re-reads the newest committed row before updating it (READ COMMITTED), so the version and last
    order key it returns are the ones the lock protects. The messages' keys and the event's version
    come only from that returned row; nothing else the statement writes depends on its snapshot (a
    max(order_key) subquery would read the snapshot, not rows committed while it waited for the lock).
    Returns the new version, or None when no row matched (missing session, stale expected_version,
    or keys about to leave the 64-bit range: the locked path then respaces them).
    """
    now = timezone.now()  # uuid, datetime and ints need no preparation on PostgreSQL; args (JSON) do
    n = len(messages)
    params: list[Any] = [now]
    if usage is not None:
        params += [usage.prompt, usage.completion, usage.total]
    if n:
        params += [n, order_keys.GAP * n]
    params.append(session_id)
    if expected_version is not None:
        params.append(expected_version)
    if n:
        params += [order_keys.LARGEST - order_keys.GAP * n, session_id, now]
        for i, m in enumerate(messages):
            params += [order_keys.GAP * (n - 1 - i), m.role, m.content]
    params += [session_id, op, db_value(models.SessionEvent, "args", args), actor, now]
    cursor = db_cursor()  # (not query: this statement always returns its one column)
    cursor.execute(append_sql(n, usage is not None, expected_version is not None), params)
    found = cursor.fetchone()
    return found[0] if found else None


@functools.cache
def append_sql(n: int, usage: bool, expected: bool) -> str:
    """The text of ``append_in_one_statement`` for n messages (fixed texts: psycopg prepares them)."""
    sets = ["version = version + 1", "updated_at = %s"]
    if usage:
        sets += ["usage_prompt = %s", "usage_completion = %s", "usage_total = %s"]
    if n:
        sets += ["message_count = message_count + %s", "last_order_key = last_order_key + %s"]
    sql = (
        f"WITH s AS (UPDATE {table(models.Session)} SET {', '.join(sets)}"
        f" WHERE id = %s{' AND version = %s' if expected else ''}"
        f"{' AND last_order_key <= %s' if n else ''} RETURNING version, last_order_key)"
    )
    if n:
        sql += (
            f", m AS (INSERT INTO {table(models.Message)} (session_id, order_key, role, content, created_at)"
            " SELECT %s, s.last_order_key - g.back, g.role, g.content, %s"
            f" FROM s, (VALUES {', '.join(['(%s, %s, %s)'] * n)}) AS g(back, role, content))"
        )
    return sql + (
        f", e AS (INSERT INTO {table(models.SessionEvent)}"
        " (session_id, version, op, args, actor, created_at) SELECT %s, s.version, %s, %s, %s, %s FROM s)"
        " SELECT version FROM s"
    )


@dataclass(frozen=True)
class Applied:
    """What ``apply_change`` did beyond the rows: the message it removed or replaced, and the session's
    new last_order_key when the change wrote keys past it (None: unchanged)."""

    found: Message | None = None
    last_key: int | None = None


def apply_change(row: LockedRow, change: changes.Change | None) -> Applied:
    """Make the rows of the locked session ``row`` what ``change`` says."""
    rows, found = Rows(row.pk, row.message_count, row.last_key), None
    match change:
        case None:
            pass
        case changes.AppendRows(messages):
            rows.append(messages)
        case changes.InsertRow(index, message):
            rows.insert(index, message)
        case changes.ReplaceRow(index, message):
            found = rows.replace(index, message)
        case changes.RemoveRow(index):
            found = rows.remove(index)
        case changes.MoveRow(from_index, to_index):
            rows.move(from_index, to_index)
        case changes.DeleteRange(start, stop):
            rows.delete_range(start, stop)
        case changes.ReplaceAll(messages):
            rows.replace_all(messages)
    return Applied(found, rows.last_key if rows.last_key != row.last_key else None)

"""The message rows' SQL for the write path. Every function here requires the caller to hold the session lock.

The statements of the small writes and of the hot reads are written by hand on Django's connection:
building them through the ORM cost about 0.3-0.4 ms of CPU each, more than the statements themselves
(docs/benchmarks.md, "Session operations"). Values go through the model fields' get_db_prep_value,
so they are stored exactly as the ORM would store them, on every backend.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Case, F, Value, When
from django.utils import timezone

from sessions_app import models
from sessions_app.domain import changes
from sessions_app.domain.types import Message, TokenUsage

# ---------------------------------------------------------------- set-based position SQL
# On PostgreSQL the unique (session, position) constraint is DEFERRABLE INITIALLY IMMEDIATE: it is
# checked at the end of each statement, so a range shifts in ONE UPDATE. Elsewhere (SQLite) it is
# checked row by row, so a shifted range first goes to distinct negative positions (-(p+delta)-1),
# then back: two UPDATEs. Every statement here requires the caller to hold the session lock.


def checked_per_statement() -> bool:
    return connection.features.supports_deferrable_unique_constraints


def shift_to_negative(session_id: uuid.UUID, start: int, stop: int | None, delta: int) -> int:
    rows = models.Message.objects.filter(session_id=session_id, position__gte=start)
    if stop is not None:
        rows = rows.filter(position__lt=stop)
    return rows.update(position=-(F("position") + delta) - 1)


def restore_negative(session_id: uuid.UUID) -> None:
    models.Message.objects.filter(session_id=session_id, position__lt=0).update(position=-F("position") - 1)


def shift(session_id: uuid.UUID, start: int, stop: int | None, delta: int) -> None:
    if checked_per_statement():
        rows = models.Message.objects.filter(session_id=session_id, position__gte=start)
        if stop is not None:
            rows = rows.filter(position__lt=stop)
        rows.update(position=F("position") + delta)
    elif shift_to_negative(session_id, start, stop, delta):
        restore_negative(session_id)


def move_row(session_id: uuid.UUID, from_index: int, to_index: int) -> None:
    """The message at from_index ends at to_index; the ones between step toward the gap it left."""
    if checked_per_statement():
        low, high = sorted((from_index, to_index))
        step = -1 if from_index < to_index else +1
        models.Message.objects.filter(session_id=session_id, position__gte=low, position__lte=high).update(
            position=Case(When(position=from_index, then=Value(to_index)), default=F("position") + step)
        )
        return
    # The moved row parks at its final position in negative form; the rows between shift
    # one step toward the gap it left; then every negative row flips back.
    models.Message.objects.filter(session_id=session_id, position=from_index).update(position=-to_index - 1)
    if from_index < to_index:
        shift_to_negative(session_id, from_index + 1, to_index + 1, -1)
    else:
        shift_to_negative(session_id, to_index, from_index, +1)
    restore_negative(session_id)


def new_rows(session_id: uuid.UUID, start: int, messages: Iterable[Message]) -> list[models.Message]:
    return [
        models.Message(session_id=session_id, position=start + i, role=m.role, content=m.content)
        for i, m in enumerate(messages)
    ]


def usage_fields(usage: TokenUsage) -> dict[str, int]:
    return {"usage_prompt": usage.prompt, "usage_completion": usage.completion, "usage_total": usage.total}


# ------------------------------------------------ hand-written statements (the module's docstring says why)


@dataclass(frozen=True)
class LockedRow:
    """The locked session row's fields the write path needs."""

    pk: uuid.UUID
    version: int
    message_count: int


def db_value(model: type[models.Model], field: str, value: Any) -> Any:
    return model._meta.get_field(field).get_db_prep_value(value, connection)


def table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def db_cursor() -> Any:
    """A cursor on Django's connection: its transaction, error wrapping and query logging.

    PostgreSQL (unless ZYN_DB_PREPARE=0): a psycopg cursor that binds on the server, so psycopg
    prepares a statement once it has run ``prepare_threshold`` times on a connection (settings).
    Django's own cursors bind on the client and prepare nothing: every statement is parsed and
    planned again, about 0.2-0.3 ms for the append statement. These statements have fixed texts.
    """
    db = connections[DEFAULT_DB_ALIAS]  # the object behind django.db.connection, looked up once
    if db.vendor != "postgresql" or not settings.ZYN_DB_PREPARE:
        return db.cursor()
    db.ensure_connection()
    db.validate_thread_sharing()
    # One psycopg cursor per connection, reused (its results are read before the next call).
    raw = getattr(db, "_zyn_cursor", None)
    if raw is None or raw.connection is not db.connection or raw.closed:
        raw = db._zyn_cursor = psycopg.Cursor(db.connection)
    return db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw)


def query(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with db_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def lock_row(session_id: uuid.UUID) -> LockedRow | None:
    """SELECT … FOR UPDATE of the session row. Caller is inside transaction.atomic().

    SQLite has no FOR UPDATE: its BEGIN IMMEDIATE (settings) already holds the write lock.
    """
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    found = query(
        f"SELECT version, message_count FROM {table(models.Session)} WHERE id = %s{lock}",
        [db_value(models.Session, "id", session_id)],
    )
    return None if not found else LockedRow(pk=session_id, version=found[0][0], message_count=found[0][1])


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


def insert_messages(session_id: uuid.UUID, start: int, messages: list[Message]) -> None:
    """INSERT a few messages at positions start, start + 1, … (one statement). Caller holds the lock."""
    now = db_value(models.Message, "created_at", timezone.now())
    pk = db_value(models.Message, "session_id", session_id)
    params: list[Any] = []
    for i, m in enumerate(messages):
        params += [pk, start + i, m.role, m.content, now]
    query(
        f"INSERT INTO {table(models.Message)} (session_id, position, role, content, created_at)"
        f" VALUES {', '.join(['(%s, %s, %s, %s, %s)'] * len(messages))}",
        params,
    )


def delete_messages(session_id: uuid.UUID, start: int = 0, stop: int | None = None) -> None:
    """DELETE the messages at positions start ≤ p < stop. Caller holds the lock."""
    params: list[Any] = [db_value(models.Message, "session_id", session_id)]
    where = "session_id = %s"
    if start:
        where += " AND position >= %s"
        params.append(start)
    if stop is not None:
        where += " AND position < %s"
        params.append(stop)
    query(f"DELETE FROM {table(models.Message)} WHERE {where}", params)


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
    re-reads the newest committed row before updating it (READ COMMITTED), so the version and count
    it returns are the ones the lock protects. The messages' positions and the event's version come
    only from that returned row; nothing else the statement writes depends on its snapshot (which is
    why only appends take this path: a shift or a delete must see rows committed while it waited).
    Returns the new version, or None when no row matched (missing session or stale expected_version).
    """
    now = timezone.now()  # uuid, datetime and ints need no preparation on PostgreSQL; args (JSON) do
    params: list[Any] = [now]
    if usage is not None:
        params += [usage.prompt, usage.completion, usage.total]
    if messages:
        params.append(len(messages))
    params.append(session_id)
    if expected_version is not None:
        params.append(expected_version)
    if messages:
        params += [session_id, len(messages), now]
        for i, m in enumerate(messages):
            params += [i, m.role, m.content]
    params += [session_id, op, db_value(models.SessionEvent, "args", args), actor, now]
    cursor = db_cursor()  # (not query: this statement always returns its one column)
    cursor.execute(append_sql(len(messages), usage is not None, expected_version is not None), params)
    found = cursor.fetchone()
    return found[0] if found else None


@functools.cache
def append_sql(n: int, usage: bool, expected: bool) -> str:
    """The text of ``append_in_one_statement`` for n messages (fixed texts: psycopg prepares them)."""
    sets = ["version = version + 1", "updated_at = %s"]
    if usage:
        sets += ["usage_prompt = %s", "usage_completion = %s", "usage_total = %s"]
    if n:
        sets.append("message_count = message_count + %s")
    sql = (
        f"WITH s AS (UPDATE {table(models.Session)} SET {', '.join(sets)}"
        f" WHERE id = %s{' AND version = %s' if expected else ''} RETURNING version, message_count)"
    )
    if n:
        sql += (
            f", m AS (INSERT INTO {table(models.Message)} (session_id, position, role, content, created_at)"
            " SELECT %s, s.message_count - %s + g.i, g.role, g.content, %s"
            f" FROM s, (VALUES {', '.join(['(%s, %s, %s)'] * n)}) AS g(i, role, content))"
        )
    return sql + (
        f", e AS (INSERT INTO {table(models.SessionEvent)}"
        " (session_id, version, op, args, actor, created_at) SELECT %s, s.version, %s, %s, %s, %s FROM s)"
        " SELECT version FROM s"
    )


def replace_message(session_id: uuid.UUID, index: int, new: Message) -> Message:
    """Overwrite the message at ``index``; returns the message it replaced. Caller holds the lock."""
    m, pk = table(models.Message), db_value(models.Message, "session_id", session_id)
    if connection.vendor == "postgresql":  # one statement: UPDATE … FROM the old row … RETURNING it
        ((role, content),) = query(
            f"UPDATE {m} AS t SET role = %s, content = %s"
            f" FROM (SELECT id, role, content FROM {m} WHERE session_id = %s AND position = %s) AS old"
            " WHERE t.id = old.id RETURNING old.role, old.content",
            [new.role, new.content, pk, index],
        )
        return Message(role=role, content=content)
    # SQLite's RETURNING sees only the new values.
    ((role, content),) = query(
        f"SELECT role, content FROM {m} WHERE session_id = %s AND position = %s", [pk, index]
    )
    query(
        f"UPDATE {m} SET role = %s, content = %s WHERE session_id = %s AND position = %s",
        [new.role, new.content, pk, index],
    )
    return Message(role=role, content=content)


def apply_change(session_id: uuid.UUID, change: changes.Change | None, length: int) -> Message | None:
    """Make the rows what ``change`` says; returns the message a RemoveRow removed or a ReplaceRow replaced.

    ``length`` is the session's message count under the caller's lock.
    """
    match change:
        case None:
            return None
        case changes.AppendRows(messages):
            insert_messages(session_id, length, list(messages))
        case changes.InsertRow(index, message):
            if index < length:
                shift(session_id, index, None, +1)
            insert_messages(session_id, index, [message])
        case changes.ReplaceRow(index, message):
            return replace_message(session_id, index, message)
        case changes.RemoveRow(index):
            ((role, content),) = query(
                f"DELETE FROM {table(models.Message)} WHERE session_id = %s AND position = %s"
                " RETURNING role, content",
                [db_value(models.Message, "session_id", session_id), index],
            )
            if index < length - 1:
                shift(session_id, index + 1, None, -1)
            return Message(role=role, content=content)
        case changes.MoveRow(from_index, to_index):
            if from_index != to_index:
                move_row(session_id, from_index, to_index)
        case changes.DeleteRange(start, stop):
            if stop > start:
                delete_messages(session_id, start, stop if stop < length else None)
                if stop < length:
                    shift(session_id, stop, None, start - stop)
        case changes.ReplaceAll(messages):
            models.Message.objects.filter(session_id=session_id).delete()
            models.Message.objects.bulk_create(new_rows(session_id, 0, messages), batch_size=2000)
    return None

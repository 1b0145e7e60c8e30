"""The message rows of one locked session, kept in order by sparse keys (domain/order_keys.py).

Every method requires the caller to hold the session lock. A write touches only the rows it must: an
insert writes one row, a remove deletes one, a move rewrites one key, a range delete deletes its
range. Only a respace, when two neighbours have no key left between them, rewrites a window of rows
around the index, never more than it needs to leave room.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Any

from django.db import connection
from django.utils import timezone

from sessions_app import models
from sessions_app.domain import order_keys
from sessions_app.domain.order_keys import GAP, LARGEST, LOWEST, Respacing
from sessions_app.domain.types import Message
from sessions_app.selectors import ranks
from sessions_app.services.sql import db_value, execute, query, table

INSERT_BATCH = 500  # rows per INSERT statement (5 parameters each, well under SQLite's limit)


def insert_messages(session_id: uuid.UUID, keys: Sequence[int], messages: Sequence[Message]) -> None:
    """INSERT messages with the given order keys, a batch of rows per statement. Caller holds the lock.

    Hand-written: the ORM's bulk_create spent most of a large import preparing each field of each row.
    """
    now, pk = _now(), db_value(models.Message, "session_id", session_id)
    for start in range(0, len(messages), INSERT_BATCH):
        batch = messages[start : start + INSERT_BATCH]
        params: list[Any] = []
        for key, m in zip(keys[start : start + INSERT_BATCH], batch, strict=True):
            params += [pk, key, m.role, m.content, now]
        query(
            f"INSERT INTO {table(models.Message)} (session_id, order_key, role, content, created_at)"
            f" VALUES {', '.join(['(%s, %s, %s, %s, %s)'] * len(batch))}",
            params,
        )


def _now() -> Any:
    return db_value(models.Message, "created_at", timezone.now())


class Rows:
    """One locked session's message rows: its length and last key follow the writes made through it."""

    def __init__(self, session_id: uuid.UUID, length: int, last_key: int) -> None:
        self.session_id = session_id
        self.length = length
        self.last_key = last_key  # ≥ every key the session holds; appends continue from it
        self.session = db_value(models.Message, "session_id", session_id)
        self.table = table(models.Message)

    # ------------------------------------------------------------ keys by index

    def key_at(self, index: int) -> tuple[str, list[Any]]:
        return ranks.key_at(self.session_id, index, self.length)

    def keys_at(self, start: int, count: int) -> list[int]:
        sql, params, backwards = ranks.keys_sql(self.session_id, start, count, self.length)
        keys = [key for (key,) in query(sql, params)]
        return keys[::-1] if backwards else keys

    def slot(self, index: int) -> tuple[str, list[Any]]:
        """A SELECT of one free key ``k`` before the row at ``index``, read by the statement that
        writes it (one round trip); no row when there is no key left there (``make_room`` respaces)."""
        if index == 0:
            return (
                f"SELECT min(order_key) - {GAP} AS k FROM {self.table} WHERE session_id = %s"
                f" HAVING min(order_key) >= {LOWEST + GAP}",
                [self.session],
            )
        neighbours, params, _ = ranks.keys_sql(self.session_id, index - 1, 2, self.length)
        return (
            "SELECT lo + (hi - lo) / 2 AS k FROM (SELECT min(order_key) AS lo, max(order_key) AS hi"
            f" FROM ({neighbours}) AS w) AS n WHERE hi - lo > 1",
            params,
        )

    def make_room(self, index: int, count: int) -> list[int]:
        """Keys for ``count`` new rows at ``index``: after the row at index - 1, before the one at index."""
        if index == self.length:
            keys = order_keys.after(self.last_key, count)
        elif index == 0:
            keys = order_keys.before(self.keys_at(0, 1)[0], count)
        else:
            lo, hi = self.keys_at(index - 1, 2)
            keys = order_keys.between(lo, hi, count)
        if keys is None or keys[0] < LOWEST or keys[-1] > LARGEST:
            keys = self.respace_around(index, count)
        self.last_key = max(self.last_key, keys[-1])
        return keys

    def respace_around(self, index: int, count: int) -> list[int]:
        """Respace the smallest window around ``index`` (doubling it) that leaves room for ``count``
        new rows there; the whole session in the end, which always has room. The new rows' keys."""
        half = 1
        while True:
            start, stop = max(0, index - half), min(self.length, index + half)
            lo = None if start == 0 else self.keys_at(start - 1, 1)[0]
            hi = None if stop == self.length else self.keys_at(stop, 1)[0]
            plan = order_keys.respace(lo, hi, stop - start, index - start, count)
            if plan is not None:
                self.rekey(plan, lo, hi)
                return plan.slot_keys()
            half *= 2

    def rekey(self, plan: Respacing, lo: int | None, hi: int | None) -> None:
        """Give the rows strictly between lo and hi the plan's keys, in two UPDATEs.

        A unique index is checked row by row (SQLite; PostgreSQL's non-deferrable one too), and the
        new keys may equal old keys of the window: so the rows first go to distinct temporary keys
        above every key the session has or will have, then to their places.
        """
        temporary = max(self.last_key, plan.highest)
        if temporary > LARGEST - plan.rows:  # the high end ran out: the lowest keys are free instead
            temporary = LOWEST
        window, params = "session_id = %s", [self.session]
        if lo is not None:
            window += " AND order_key > %s"
            params.append(lo)
        if hi is not None:
            window += " AND order_key < %s"
            params.append(hi)
        execute(
            f"UPDATE {self.table} SET order_key = %s + w.rn FROM (SELECT id, row_number() OVER"
            f" (ORDER BY order_key) AS rn FROM {self.table} WHERE {window}) AS w"
            f" WHERE {self.table}.id = w.id",
            [temporary, *params],
        )
        execute(
            f"UPDATE {self.table} SET order_key = %s + %s * (order_key - %s"
            " + CASE WHEN order_key - %s > %s THEN %s ELSE 0 END)"
            " WHERE session_id = %s AND order_key > %s AND order_key <= %s",
            [plan.base, plan.spacing, temporary, temporary, plan.split, plan.slots]
            + [self.session, temporary, temporary + plan.rows],
        )
        if hi is None:  # the window reaches the end: no key is above its highest any more
            self.last_key = plan.highest

    # ------------------------------------------------------------ changes

    def append(self, messages: Sequence[Message]) -> None:
        insert_messages(self.session_id, self.make_room(self.length, len(messages)), messages)
        self.length += len(messages)

    def insert(self, index: int, message: Message) -> None:
        if index == self.length or not self.insert_into_slot(index, message):
            insert_messages(self.session_id, self.make_room(index, 1), [message])
        self.length += 1

    def insert_into_slot(self, index: int, message: Message) -> bool:
        """One INSERT … SELECT of the free key before the row at ``index``; False when there was none."""
        slot, params = self.slot(index)
        return 1 == execute(
            f"INSERT INTO {self.table} (session_id, order_key, role, content, created_at)"
            f" SELECT %s, n.k, %s, %s, %s FROM ({slot}) AS n",
            [self.session, message.role, message.content, _now(), *params],
        )

    def remove(self, index: int) -> Message:
        at, params = self.key_at(index)
        ((role, content),) = query(
            f"DELETE FROM {self.table} WHERE session_id = %s AND order_key = {at} RETURNING role, content",
            [self.session, *params],
        )
        self.length -= 1
        return Message(role=role, content=content)

    def move(self, from_index: int, to_index: int) -> None:
        """The row at from_index takes a key between its new neighbours; no other row changes."""
        if from_index == to_index:
            return
        destination = to_index + 1 if from_index < to_index else to_index  # in the list before the move
        at, params = self.key_at(from_index)  # (a respace keeps every row's index)
        if destination < self.length:
            slot, slot_params = self.slot(destination)
            moved = execute(
                f"UPDATE {self.table} SET order_key = n.k FROM ({slot}) AS n"
                f" WHERE {self.table}.session_id = %s AND {self.table}.order_key = {at}",
                [*slot_params, self.session, *params],
            )
            if moved:
                return
        (key,) = self.make_room(destination, 1)
        execute(
            f"UPDATE {self.table} SET order_key = %s WHERE session_id = %s AND order_key = {at}",
            [key, self.session, *params],
        )

    def replace(self, index: int, new: Message) -> Message:
        """Overwrite the message at ``index``; returns the message it replaced."""
        at, params = self.key_at(index)
        if connection.vendor == "postgresql":  # one statement: UPDATE … FROM the old row … RETURNING it
            ((role, content),) = query(
                f"UPDATE {self.table} AS t SET role = %s, content = %s FROM (SELECT id, role, content"
                f" FROM {self.table} WHERE session_id = %s AND order_key = {at}) AS old"
                " WHERE t.id = old.id RETURNING old.role, old.content",
                [new.role, new.content, self.session, *params],
            )
        else:  # SQLite's RETURNING sees only the new values
            ((key, role, content),) = query(
                f"SELECT order_key, role, content FROM {self.table}"
                f" WHERE session_id = %s AND order_key = {at}",
                [self.session, *params],
            )
            execute(
                f"UPDATE {self.table} SET role = %s, content = %s WHERE session_id = %s AND order_key = %s",
                [new.role, new.content, self.session, key],
            )
        return Message(role=role, content=content)

    def delete_range(self, start: int, stop: int) -> None:
        """DELETE the rows at indexes start ≤ i < stop: one statement, between the keys at its two ends
        (each read from the nearer end). Both bounds even at an end of the session: PostgreSQL's planner
        cannot estimate one bound it does not know yet, guesses a third of the table and scans it."""
        if stop <= start:
            return
        where, params = "session_id = %s", [self.session]
        if stop - start < self.length:
            lowest, lowest_params = self.key_at(start)
            highest, highest_params = self.key_at(stop - 1)
            where += f" AND order_key >= {lowest} AND order_key <= {highest}"
            params += lowest_params + highest_params
        execute(f"DELETE FROM {self.table} WHERE {where}", params)
        self.length -= stop - start

    def replace_all(self, messages: Sequence[Message]) -> None:
        """Make the rows ``messages``, writing only what differs: a diff of the old messages against
        the new keeps the equal rows, overwrites replaced ones in place, deletes the old ones left
        over and inserts the new ones left over between their neighbours."""
        old = query(
            f"SELECT order_key, role, content FROM {self.table} WHERE session_id = %s ORDER BY order_key",
            [self.session],
        )
        was = [Message(role, content) for _, role, content in old]
        changed: list[tuple[Any, ...]] = []
        gone: list[tuple[Any, ...]] = []  # (session, first key, last key) of each deleted run
        added: list[tuple[int, Sequence[Message]]] = []  # (index in the new list, messages)
        for tag, i1, i2, j1, j2 in SequenceMatcher(None, was, list(messages)).get_opcodes():
            paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
            for k in range(paired):
                changed.append(
                    (messages[j1 + k].role, messages[j1 + k].content, self.session, old[i1 + k][0])
                )
            if tag != "equal" and i2 - i1 > paired:
                gone.append((self.session, old[i1 + paired][0], old[i2 - 1][0]))
                self.length -= i2 - i1 - paired
            if tag != "equal" and j2 - j1 > paired:
                added.append((j1 + paired, messages[j1 + paired : j2]))
        with connection.cursor() as cursor:
            if changed:
                cursor.executemany(
                    f"UPDATE {self.table} SET role = %s, content = %s"
                    " WHERE session_id = %s AND order_key = %s",
                    changed,
                )
            if gone:
                cursor.executemany(
                    f"DELETE FROM {self.table} WHERE session_id = %s AND order_key >= %s AND order_key <= %s",
                    gone,
                )
        # In order: the rows before each run's index are then already those of the new list.
        for index, run in added:
            insert_messages(self.session_id, self.make_room(index, len(run)), run)
            self.length += len(run)

"""Session operations on PostgreSQL at 10,000 messages: SessionService vs raw psycopg 3, and append throughput
vs langchain-postgres and llama-index.

How to run (from the repository root; PostgreSQL at 127.0.0.1:5432, user postgres):

    python3 -m venv bench/.venv
    bench/.venv/bin/pip install -c constraints.txt -e . -r bench/requirements.txt
    bench/.venv/bin/python bench/bench_session_ops.py --runs 2   # or: make bench-session-ops

The database named in DATABASE_URL (default postgres://postgres@127.0.0.1:5432/zyn_bench) is created if
missing, migrated and emptied at the start of every run: never point it at data you want to keep.
`--runs 2` repeats the whole measurement (the machine is shared, so a second run shows the noise);
`--scale 0.2` cuts every iteration count for a quick look; `--no-write` leaves docs/benchmarks.md alone.

What is measured (see docs/benchmarks.md, "Session operations"):

* Every Session op on a 10,000-message session, median and p95 in ms: the SessionService call against a raw
  psycopg 3 baseline that gives the same guarantees with the fewest statements a careful hand-written version
  of the same design (sparse order keys) needs: one transaction, the session row locked FOR UPDATE, the same
  argument validation, one version bump and one event row with the same args. Service and raw calls
  alternate (and alternate which goes first) so machine noise hits both alike; the two sessions receive the
  same ops, and at the end their messages, versions and event logs must be identical.
* Append throughput, 10,000 single-message calls on a session already holding 10,000 messages.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import math
import os
import platform
import shlex
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/zyn_bench"
DOC_PATH = ROOT / "docs" / "benchmarks.md"
DOC_START = "<!-- bench:session-ops:start (written by bench/bench_session_ops.py) -->"
DOC_END = "<!-- bench:session-ops:end -->"

SIZE = 10_000
MIDDLE = SIZE // 2
GAP = 1 << 32  # between order keys written at the ends (sessions_app.domain.order_keys.GAP)
TRUNCATE_KEEP = (1, SIZE // 2)  # keep the system prompt and the last 5,000 messages

# Third-party chat stores live in their own tables of the bench database.
LANGCHAIN_TABLE = "bench_langchain_history"
LLAMA_TABLE = "bench_llama_chatstore"


# ---------------------------------------------------------------- setup


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole measurement (default 1)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every iteration count")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    parser.add_argument(
        "--llama-appends",
        type=int,
        default=300,
        help="llama-index appends to time (each rewrites the whole history array; default 300)",
    )
    parser.add_argument(
        "--redis-url",
        default="",
        help="also time the after-commit publish through a Redis channel layer at this URL",
    )
    parser.add_argument(
        "--server-side-binding",
        action="store_true",
        help="run Django with OPTIONS server_side_binding=True (psycopg prepares repeated statements)",
    )
    return parser.parse_args(argv)


def ensure_database(url: str) -> None:
    """Create the bench database if it is missing (CREATE DATABASE cannot run inside a transaction)."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    name = info.get("dbname")
    if not name:
        raise SystemExit(f"DATABASE_URL names no database: {url}")
    admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(url: str, server_side_binding: bool) -> None:
    os.environ["DATABASE_URL"] = url
    # The service publishes through the in-memory channel layer: the Redis cost is timed on its own
    # (--redis-url), so the op table does not depend on what else uses the Redis server.
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zyn_site.settings")
    # A throwaway key: the bench never serves a request or signs anything.
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-key-not-secret")
    # Queries are not recorded (DEBUG off), as in production.
    os.environ["DJANGO_DEBUG"] = "0"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    if not settings.IS_POSTGRES:
        raise SystemExit("the bench runs on PostgreSQL only: set DATABASE_URL=postgres://…")
    if server_side_binding:
        from django.db import connections

        # Before the first query: the option is read when the connection opens.
        connections["default"].settings_dict["OPTIONS"]["server_side_binding"] = True
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def sample_content(i: int) -> str:
    """Deterministic message text of 60..600 characters (about 330 on average), like chat turns."""
    words = "the quick brown fox jumps over a lazy dog while the model thinks about billing tickets".split()
    length = 60 + (i * 7919) % 541
    text = f"message {i}: "
    k = i
    while len(text) < length:
        text += words[k % len(words)] + " "
        k += 3
    return text[:length]


# ---------------------------------------------------------------- the raw psycopg 3 baseline


class RawSession:
    """The same Session ops as SessionService, written by hand with psycopg 3.

    The floor of the sparse-key design: the same guarantees with the fewest statements. Pure arguments
    validated by the same checks before BEGIN; one transaction; the session row locked FOR UPDATE (with
    its last order key); indexes checked under the lock; version + 1, message_count, last_order_key and
    updated_at in one UPDATE; one event row whose args are the service's (so the raw session's event log
    must equal the service session's). A message's key is found by an ordered index scan from the nearer
    end inside the statement that uses it: an insert is one INSERT … SELECT of its neighbours' midpoint, a
    move one UPDATE, a remove one DELETE … RETURNING, a truncate one DELETE between two keys. The writes
    that only add at the end (append, record_exchange, set_usage) are one statement run without
    BEGIN/COMMIT, as the service runs them on PostgreSQL: a CTE whose UPDATE locks the session row and
    returns the version and last key that the message and event INSERTs use. An insert between
    neighbours with no key left renumbers the whole session (untimed: the bench's pairs never run out).
    psycopg's defaults are kept: server-side parameters and automatic prepared statements.
    """

    def __init__(self, conn: psycopg.Connection, session_id: uuid.UUID, tables: dict[str, str]) -> None:
        self.conn = conn
        self.id = session_id
        self.statements = 0
        from django.conf import settings

        self.content_limit = settings.ZYN_MAX_CONTENT_BYTES  # the service's limit on content, in bytes
        s, m, e = tables["session"], tables["message"], tables["event"]
        self.m = m
        self.q_lock = f"SELECT version, message_count, last_order_key FROM {s} WHERE id = %s FOR UPDATE"
        self.q_bump = (
            f"UPDATE {s} SET version = %s, message_count = %s, last_order_key = %s, updated_at = now()"
            " WHERE id = %s"
        )
        self.q_bump_usage = (
            f"UPDATE {s} SET version = %s, message_count = %s, last_order_key = %s, updated_at = now(),"
            " usage_prompt = %s, usage_completion = %s, usage_total = %s WHERE id = %s"
        )
        self.q_event = (
            f"INSERT INTO {e} (session_id, version, op, args, actor, created_at)"
            " VALUES (%s, %s, %s, %s, %s, now())"
        )
        self.q_insert_key = (
            f"INSERT INTO {m} (session_id, order_key, role, content, created_at)"
            " VALUES (%s, %s, %s, %s, now())"
        )
        self.q_insert_first = (
            f"INSERT INTO {m} (session_id, order_key, role, content, created_at)"
            f" SELECT %s, min(order_key) - {GAP}, %s, %s, now() FROM {m} WHERE session_id = %s"
        )
        # Between the keys at two neighbouring ranks (read from the nearer end); no row when no key is left.
        self.q_insert_between = {
            direction: (
                f"INSERT INTO {m} (session_id, order_key, role, content, created_at)"
                " SELECT %s, lo + (hi - lo) / 2, %s, %s, now() FROM (SELECT min(order_key) AS lo,"
                f" max(order_key) AS hi FROM (SELECT order_key FROM {m} WHERE session_id = %s"
                f" ORDER BY order_key{direction} LIMIT 2 OFFSET %s) AS w) AS n WHERE hi - lo > 1"
            )
            for direction in ("", " DESC")
        }
        self.q_insert_many = (
            f"INSERT INTO {m} (session_id, order_key, role, content, created_at)"
            f" SELECT %s, g.ord * {GAP}, g.role, g.content, now()"
            " FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS g(role, content, ord)"
        )
        # Appends (append, record_exchange, set_usage): one statement, as the service does on PostgreSQL.
        # The UPDATE locks the session row and returns the newest version and last key; the messages'
        # keys and the event's version come from it. Run outside BEGIN/COMMIT (autocommit).
        self.q_append = {
            (n, usage, expected): (
                f"WITH s AS (UPDATE {s} SET version = version + 1, updated_at = now()"
                + (
                    f", message_count = message_count + %s, last_order_key = last_order_key + {GAP} * %s"
                    * bool(n)
                )
                + (", usage_prompt = %s, usage_completion = %s, usage_total = %s" if usage else "")
                + " WHERE id = %s"
                + (" AND version = %s" if expected else "")
                + " RETURNING version, last_order_key)"
                + (
                    f", m AS (INSERT INTO {m} (session_id, order_key, role, content, created_at)"
                    f" SELECT %s, s.last_order_key - {GAP} * g.back, g.role, g.content, now()"
                    f" FROM s, (VALUES {', '.join(['(%s, %s, %s)'] * n)}) AS g(back, role, content))"
                    if n
                    else ""
                )
                + f", e AS (INSERT INTO {e} (session_id, version, op, args, actor, created_at)"
                " SELECT %s, s.version, %s, %s, %s, now() FROM s) SELECT version FROM s"
            )
            for n in (0, 1, 2)
            for usage in (False, True)
            for expected in (False, True)
        }
        self.q_move_key = f"UPDATE {m} SET order_key = %s WHERE session_id = %s AND order_key = {{at}}"
        self.q_move_first = (
            f"UPDATE {m} SET order_key = (SELECT min(order_key) - {GAP} FROM {m} WHERE session_id = %s)"
            " WHERE session_id = %s AND order_key = {at}"
        )
        self.q_move_between = (
            f"UPDATE {m} SET order_key = n.lo + (n.hi - n.lo) / 2 FROM (SELECT min(order_key) AS lo,"
            f" max(order_key) AS hi FROM (SELECT order_key FROM {m} WHERE session_id = %s"
            " ORDER BY order_key{direction} LIMIT 2 OFFSET %s) AS w) AS n"
            " WHERE session_id = %s AND order_key = {at} AND n.hi - n.lo > 1"
        )
        self.q_delete_at = (
            f"DELETE FROM {m} WHERE session_id = %s AND order_key = {{at}} RETURNING role, content"
        )
        self.q_delete_range = (
            f"DELETE FROM {m} WHERE session_id = %s AND order_key >= {{at}} AND order_key <= {{upper}}"
        )
        self.q_delete_all = f"DELETE FROM {m} WHERE session_id = %s"
        self.q_replace = (
            f"UPDATE {m} AS t SET role = %s, content = %s"
            f" FROM (SELECT id, role, content FROM {m} WHERE session_id = %s AND order_key = {{at}}) AS old"
            " WHERE t.id = old.id RETURNING old.role, old.content"
        )
        self.q_messages = f"SELECT role, content FROM {m} WHERE session_id = %s ORDER BY order_key"
        # One statement: the session row's count chooses the end the key is read from (CASE runs one).
        self.q_at = (
            f"SELECT role, content FROM {m} WHERE session_id = %s AND order_key = (SELECT CASE"
            f" WHEN %s * 2 < s.message_count THEN (SELECT order_key FROM {m} WHERE session_id = s.id"
            " ORDER BY order_key LIMIT 1 OFFSET %s)"
            f" ELSE (SELECT order_key FROM {m} WHERE session_id = s.id"
            " ORDER BY order_key DESC LIMIT 1 OFFSET s.message_count - 1 - %s) END"
            f" FROM {s} AS s WHERE s.id = %s)"
        )
        self.q_len = f"SELECT message_count FROM {s} WHERE id = %s"
        self.q_version = f"SELECT version FROM {s} WHERE id = %s"

    def _x(self, cur: psycopg.Cursor, query: str, params: Sequence[Any]) -> psycopg.Cursor:
        self.statements += 1
        return cur.execute(query, params)

    def _lock(self, cur: psycopg.Cursor, expected_version: int | None) -> tuple[int, int, int]:
        row = self._x(cur, self.q_lock, (self.id,)).fetchone()
        if row is None:
            raise svc.SessionNotFound(f"no session with id {self.id}", id=str(self.id))
        if expected_version is not None and expected_version != row[0]:
            raise svc.VersionConflict(expected_version, row[0])
        return row[0], row[1], row[2]

    def _commit(
        self,
        cur: psycopg.Cursor,
        version: int,
        count: int,
        last: int,
        op: str,
        args: dict[str, Any],
        actor: str,
        usage: Any = None,
    ) -> int:
        version += 1
        if usage is None:
            self._x(cur, self.q_bump, (version, count, last, self.id))
        else:
            usage_values = (usage.prompt, usage.completion, usage.total)
            self._x(cur, self.q_bump_usage, (version, count, last, *usage_values, self.id))
        self._x(cur, self.q_event, (self.id, version, op, Jsonb(args), actor))
        return version

    def _key_at(self, index: int, count: int) -> tuple[str, list[Any]]:
        """A subquery for the key at ``index``, scanning from the nearer end."""
        direction, offset = ("", index) if 2 * index < count else (" DESC", count - 1 - index)
        return (
            f"(SELECT order_key FROM {self.m} WHERE session_id = %s"
            f" ORDER BY order_key{direction} LIMIT 1 OFFSET %s)",
            [self.id, offset],
        )

    def _neighbours(self, index: int, count: int) -> tuple[str, int]:
        """Direction and offset of the two keys at index - 1 and index, read from the nearer end."""
        return ("", index - 1) if index - 1 < count - 1 - index else (" DESC", count - 1 - index)

    def _renumber(self, cur: psycopg.Cursor) -> int:
        """Untimed fallback when neighbours have no key left: every key again GAP apart. The new last key."""
        self._x(
            cur,
            f"UPDATE {self.m} SET order_key = -(1::bigint << 62) - r.rn FROM (SELECT id, row_number() OVER"
            f" (ORDER BY order_key) AS rn FROM {self.m} WHERE session_id = %s) AS r WHERE {self.m}.id = r.id",
            (self.id,),
        )
        self._x(
            cur,
            f"UPDATE {self.m} SET order_key = (-(1::bigint << 62) - order_key) * {GAP}"
            " WHERE session_id = %s AND order_key < -(1::bigint << 62)",
            (self.id,),
        )
        last = f"SELECT max(order_key) FROM {self.m} WHERE session_id = %s"
        return self._x(cur, last, (self.id,)).fetchone()[0]

    def _append(
        self, op: str, messages: list[Any], args: dict[str, Any], actor: str, expected: int | None, usage: Any
    ) -> int:
        n = len(messages)
        params: list[Any] = [n, n] if n else []
        if usage is not None:
            params += [usage.prompt, usage.completion, usage.total]
        params.append(self.id)
        if expected is not None:
            params.append(expected)
        if n:
            params.append(self.id)
            for i, m in enumerate(messages):
                params += [n - 1 - i, m.role, m.content]
        params += [self.id, op, Jsonb(args), actor]
        query = self.q_append[(n, usage is not None, expected is not None)]
        with self.conn.cursor() as cur:
            found = self._x(cur, query, params).fetchone()
        if found is not None:
            return found[0]
        current = self.version()
        raise svc.VersionConflict(expected, current)

    def version(self) -> int:
        with self.conn.cursor() as cur:
            row = cur.execute(self.q_version, (self.id,)).fetchone()
        if row is None:
            raise svc.SessionNotFound(f"no session with id {self.id}", id=str(self.id))
        return row[0]

    # reads (no lock)

    def messages(self) -> list[Any]:
        with self.conn.cursor() as cur:
            rows = self._x(cur, self.q_messages, (self.id,)).fetchall()
        return [svc.Message(role=r, content=c) for r, c in rows]

    def len(self) -> int:
        with self.conn.cursor() as cur:
            return self._x(cur, self.q_len, (self.id,)).fetchone()[0]

    def at(self, index: int) -> Any:
        checks.check_int(index, "index")
        found = None
        if index >= 0:
            with self.conn.cursor() as cur:
                found = self._x(cur, self.q_at, (self.id, index, index, index, self.id)).fetchone()
        if found is None:
            raise svc.IndexOutOfRange(index, self.len())
        return svc.Message(role=found[0], content=found[1])

    # writes

    def append(
        self, role: str, content: str, *, expected_version: int | None = None, actor: str | None = None
    ) -> int:
        message = checks.check_message(svc.Message(role=role, content=content), limit=self.content_limit)
        expected, who = checks.check_expected_version(expected_version), checks.check_actor(actor)
        return self._append("append", [message], message.as_dict(), who, expected, None)

    def remove(self, index: int, *, expected_version: int | None = None, actor: str | None = None) -> int:
        checks.check_int(index, "index")
        expected, who = checks.check_expected_version(expected_version), checks.check_actor(actor)
        with self.conn.transaction(), self.conn.cursor() as cur:
            version, count, last = self._lock(cur, expected)
            checks.check_index(index, count)
            at, params = self._key_at(index, count)
            role, content = self._x(cur, self.q_delete_at.format(at=at), (self.id, *params)).fetchone()
            args = {"index": index, "removed": {"role": role, "content": content}}
            return self._commit(cur, version, count - 1, last, "remove", args, who)

    def replace(
        self, index: int, message: Any, *, expected_version: int | None = None, actor: str | None = None
    ) -> int:
        checks.check_int(index, "index")
        new = checks.check_message(message, limit=self.content_limit)
        expected, who = checks.check_expected_version(expected_version), checks.check_actor(actor)
        with self.conn.transaction(), self.conn.cursor() as cur:
            version, count, last = self._lock(cur, expected)
            checks.check_index(index, count)
            at, params = self._key_at(index, count)
            old_role, old_content = self._x(
                cur, self.q_replace.format(at=at), (new.role, new.content, self.id, *params)
            ).fetchone()
            args = {"index": index, **new.as_dict(), "previous": {"role": old_role, "content": old_content}}
            return self._commit(cur, version, count, last, "replace", args, who)

    def insert(
        self, index: int, message: Any, *, expected_version: int | None = None, actor: str | None = None
    ) -> int:
        checks.check_int(index, "index")
        new = checks.check_message(message, limit=self.content_limit)
        expected, who = checks.check_expected_version(expected_version), checks.check_actor(actor)
        with self.conn.transaction(), self.conn.cursor() as cur:
            version, count, last = self._lock(cur, expected)
            checks.check_index(index, count, allow_end=True)
            if index == count:
                last += GAP
                self._x(cur, self.q_insert_key, (self.id, last, new.role, new.content))
            elif index == 0:
                self._x(cur, self.q_insert_first, (self.id, new.role, new.content, self.id))
            else:
                direction, offset = self._neighbours(index, count)
                query = self.q_insert_between[direction]
                params = (self.id, new.role, new.content, self.id, offset)
                if self._x(cur, query, params).rowcount == 0:
                    last = self._renumber(cur)
                    self._x(cur, query, params)
            args = {"index": index, **new.as_dict()}
            return self._commit(cur, version, count + 1, last, "insert", args, who)

    def prune(self, n: int, *, expected_version: int | None = None, actor: str | None = None) -> int:
        checks.check_int(n, "n", minimum=0)
        expected, who = checks.check_expected_version(expected_version), checks.check_actor(actor)
        with self.conn.transaction(), self.conn.cursor() as cur:
            version, count, last = self._lock(cur, expected)
            removed = min(2 * n, count)
            if removed == count:
                self._x(cur, self.q_delete_all, (self.id,))
            elif removed:  # two bounds: with one unknown bound PostgreSQL guesses a third of the table
                at, params = self._key_at(count - removed, count)
                upper, upper_params = self._key_at(count - 1, count)
                query = self.q_delete_range.format(at=at, upper=upper)
                self._x(cur, query, (self.id, *params, *upper_params))
            return self._commit(
                cur, version, count - removed, last, "prune", {"n": n, "removed_count": removed}, who
            )

    def truncate(
        self,
        keep_first: int,
        keep_last: int,
        *,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> int:
        checks.check_int(keep_first, "keep_first", minimum=0)
        checks.check_int(keep_last, "keep_last", minimum=0)
        expected, who = checks.check_expected_version(expected_version), checks.check_actor(actor)
        with self.conn.transaction(), self.conn.cursor() as cur:
            version, count, last = self._lock(cur, expected)
            removed = 0
            if keep_first + keep_last < count:
                tail_start = count - keep_last
                removed = tail_start - keep_first
                # (the bench truncates with both bounds; a bound at an end would drop its condition)
                at, params = self._key_at(keep_first, count)
                upper, upper_params = self._key_at(tail_start - 1, count)
                query = self.q_delete_range.format(at=at, upper=upper)
                self._x(cur, query, (self.id, *params, *upper_params))
            args = {"keep_first": keep_first, "keep_last": keep_last, "removed_count": removed}
            return self._commit(cur, version, count - removed, last, "truncate", args, who)

    def set_messages(
        self, messages: Sequence[Any], *, expected_version: int | None = None, actor: str | None = None
    ) -> int:
        new = [checks.check_message(m, limit=self.content_limit) for m in messages]
        expected, who = checks.check_expected_version(expected_version), checks.check_actor(actor)
        with self.conn.transaction(), self.conn.cursor() as cur:
            version, count, last = self._lock(cur, expected)
            self._x(cur, self.q_delete_all, (self.id,))
            roles, contents = [m.role for m in new], [m.content for m in new]
            self._x(cur, self.q_insert_many, (self.id, roles, contents))
            args = {"messages": [m.as_dict() for m in new], "removed_count": count}
            return self._commit(cur, version, len(new), max(last, GAP * len(new)), "set_messages", args, who)

    def set_usage(self, usage: Any, *, expected_version: int | None = None, actor: str | None = None) -> int:
        new = None if usage is None else checks.check_usage(usage)
        expected, who = checks.check_expected_version(expected_version), checks.check_actor(actor)
        args = {"usage": None if new is None else new.as_dict()}
        return self._append("set_usage", [], args, who, expected, new)

    def move(
        self, from_index: int, to_index: int, *, expected_version: int | None = None, actor: str | None = None
    ) -> int:
        checks.check_int(from_index, "from_index")
        checks.check_int(to_index, "to_index")
        expected, who = checks.check_expected_version(expected_version), checks.check_actor(actor)
        with self.conn.transaction(), self.conn.cursor() as cur:
            version, count, last = self._lock(cur, expected)
            checks.check_index(from_index, count)
            checks.check_index(to_index, count)
            if from_index != to_index:
                at, at_params = self._key_at(from_index, count)
                if from_index < to_index == count - 1:
                    last += GAP
                    self._x(cur, self.q_move_key.format(at=at), (last, self.id, *at_params))
                elif to_index == 0:
                    self._x(cur, self.q_move_first.format(at=at), (self.id, self.id, *at_params))
                else:
                    direction, offset = self._neighbours(to_index + (from_index < to_index), count)
                    query = self.q_move_between.format(direction=direction, at=at)
                    params = (self.id, offset, self.id, *at_params)
                    if self._x(cur, query, params).rowcount == 0:
                        last = self._renumber(cur)
                        self._x(cur, query, params)
            args = {"from_index": from_index, "to_index": to_index}
            return self._commit(cur, version, count, last, "move", args, who)

    def record_exchange(
        self,
        prompt: str,
        response: str,
        usage: Any = None,
        *,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> int:
        prompt = checks.check_content(prompt, "prompt", limit=self.content_limit)
        response = checks.check_content(response, "response", limit=self.content_limit)
        new_usage = None if usage is None else checks.check_usage(usage)
        expected, who = checks.check_expected_version(expected_version), checks.check_actor(actor)
        pair = [svc.Message(role="user", content=prompt), svc.Message(role="assistant", content=response)]
        args = {
            "prompt": prompt,
            "response": response,
            "usage": None if new_usage is None else new_usage.as_dict(),
        }
        return self._append("record_exchange", pair, args, who, expected, new_usage)


# ---------------------------------------------------------------- measurement


@dataclass
class OpResult:
    name: str
    service_ms: list[float] = field(default_factory=list)
    raw_ms: list[float] = field(default_factory=list)
    service_cpu: list[float] = field(default_factory=list)
    raw_cpu: list[float] = field(default_factory=list)
    service_statements: int | None = None
    raw_statements: int | None = None

    def add(self, side: str, ms: float, cpu: float) -> None:
        (self.service_ms if side == "service" else self.raw_ms).append(ms)
        (self.service_cpu if side == "service" else self.raw_cpu).append(cpu)

    @staticmethod
    def _p(samples: list[float], q: float) -> float:
        ordered = sorted(samples)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    def row(self) -> dict[str, Any]:
        s_med, r_med = statistics.median(self.service_ms), statistics.median(self.raw_ms)
        return {
            "op": self.name,
            "n": len(self.service_ms),
            "svc_med": s_med,
            "svc_p95": self._p(self.service_ms, 0.95),
            "raw_med": r_med,
            "raw_p95": self._p(self.raw_ms, 0.95),
            "ratio": s_med / r_med,
            "svc_cpu": statistics.fmean(self.service_cpu),
            "raw_cpu": statistics.fmean(self.raw_cpu),
            "stmts": f"{self.service_statements}/{self.raw_statements}",
        }


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6


def timed_cpu(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall ms and this process's CPU ms (all its threads) for one call.

    On a shared machine the wall time swings with other work; the client CPU a call burns does not.
    """
    start, cpu = time.perf_counter_ns(), time.process_time_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6, (time.process_time_ns() - cpu) / 1e6


@dataclass
class Step:
    """One op as a SessionService call and as its raw psycopg equivalent, timed into `result`."""

    result: OpResult
    service: Callable[[], Any]
    raw: Callable[[], Any]


class Bench:
    def __init__(self, url: str, scale: float) -> None:
        from django.db import connection

        from sessions_app import models

        self.models = models
        self.scale = scale
        self.url = url
        self.tables = {
            "session": models.Session._meta.db_table,
            "message": models.Message._meta.db_table,
            "event": models.SessionEvent._meta.db_table,
        }
        self.django_connection = connection
        self.raw_conn = psycopg.connect(url, autocommit=True)
        self.admin_conn = psycopg.connect(url, autocommit=True)
        self.template = [
            svc.Message(role=("user", "assistant")[i % 2], content=sample_content(i)) for i in range(SIZE)
        ]
        self.template[0] = svc.Message(role="system", content="You are a support triage assistant. " * 3)

    def n(self, base: int) -> int:
        return max(3, round(base * self.scale))

    def reset_database(self) -> None:
        tables = ", ".join(self.tables[k] for k in ("event", "message", "session"))
        self.admin_conn.execute(f"TRUNCATE {tables} CASCADE")  # and what references them (snapshots, …)
        self.admin_conn.execute(f"DROP TABLE IF EXISTS {LANGCHAIN_TABLE}, {LLAMA_TABLE}")

    def vacuum(self) -> None:
        """Untimed: dead tuples from the previous op's shifts must not slow the next op on one side only."""
        for table in self.tables.values():
            self.admin_conn.execute(f"VACUUM (ANALYZE) {table}")

    def new_pair(self) -> tuple[Any, RawSession]:
        service = svc.SessionService.new(name="bench service")
        service.set_messages(self.template)
        raw_id = svc.SessionService.new(name="bench raw").id
        raw = RawSession(self.raw_conn, raw_id, self.tables)
        raw.set_messages(self.template)
        return service, raw

    def run_steps(self, steps: list[Step], iterations: int, warmup: int) -> None:
        """Alternate service and raw, and which of them goes first, so drift and noise hit both alike."""
        for i in range(warmup + iterations):
            record = i >= warmup
            for step in steps:
                sides = [("service", step.service), ("raw", step.raw)]
                if i % 2:
                    sides.reverse()
                for side, fn in sides:
                    ms, cpu = timed_cpu(fn)
                    if record:
                        step.result.add(side, ms, cpu)

    def count_statements(
        self, results: dict[str, OpResult], steps: list[Step], service: Any, raw: RawSession
    ) -> None:
        from django.test.utils import CaptureQueriesContext

        for step in steps:
            with CaptureQueriesContext(self.django_connection) as captured:
                step.service()
            before = raw.statements
            step.raw()
            # Django logs BEGIN and COMMIT as queries; the raw count has neither.
            step.result.service_statements = sum(
                q["sql"] not in ("BEGIN", "COMMIT") for q in captured.captured_queries
            )
            step.result.raw_statements = raw.statements - before

    def session_ops(self) -> list[OpResult]:
        service, raw = self.new_pair()
        last = SIZE - 1
        probe = svc.Message(role="user", content=sample_content(123_456))
        usage_a, usage_b = svc.TokenUsage(1200, 300, 1500), svc.TokenUsage(900, 100, 1000)
        results: dict[str, OpResult] = {}

        def res(name: str) -> OpResult:
            return results.setdefault(name, OpResult(name))

        plan: list[tuple[int, int, list[Step]]] = [
            (self.n(40), 3, [Step(res("messages()"), service.messages, raw.messages)]),
            (self.n(200), 10, [Step(res("len()"), service.len, raw.len)]),
            (
                self.n(200),
                10,
                [Step(res(f"at({MIDDLE})"), lambda: service.at(MIDDLE), lambda: raw.at(MIDDLE))],
            ),
            # Pairs: the second op of each pair restores the session size/order the first changed.
            (
                self.n(200),
                10,
                [
                    Step(
                        res("append"),
                        lambda: service.append("user", probe.content),
                        lambda: raw.append("user", probe.content),
                    ),
                    Step(
                        res(f"remove({SIZE}) (end)"), lambda: service.remove(SIZE), lambda: raw.remove(SIZE)
                    ),
                ],
            ),
            (
                self.n(20),
                3,
                [
                    Step(res("insert(0)"), lambda: service.insert(0, probe), lambda: raw.insert(0, probe)),
                    Step(res("remove(0)"), lambda: service.remove(0), lambda: raw.remove(0)),
                ],
            ),
            (
                self.n(30),
                3,
                [
                    Step(
                        res(f"insert({MIDDLE})"),
                        lambda: service.insert(MIDDLE, probe),
                        lambda: raw.insert(MIDDLE, probe),
                    ),
                    Step(
                        res(f"remove({MIDDLE})"), lambda: service.remove(MIDDLE), lambda: raw.remove(MIDDLE)
                    ),
                ],
            ),
            (
                self.n(200),
                10,
                [
                    Step(
                        res(f"replace({MIDDLE})"),
                        lambda: service.replace(MIDDLE, probe),
                        lambda: raw.replace(MIDDLE, probe),
                    )
                ],
            ),
            (
                self.n(20),
                3,
                [
                    Step(res(f"move(0→{last})"), lambda: service.move(0, last), lambda: raw.move(0, last)),
                    Step(res(f"move({last}→0)"), lambda: service.move(last, 0), lambda: raw.move(last, 0)),
                ],
            ),
            (
                self.n(200),
                10,
                [
                    Step(
                        res("record_exchange"),
                        lambda: service.record_exchange("prompt " + probe.content, probe.content, usage_a),
                        lambda: raw.record_exchange("prompt " + probe.content, probe.content, usage_a),
                    ),
                    Step(res("prune(1)"), lambda: service.prune(1), lambda: raw.prune(1)),
                ],
            ),
            (
                self.n(200),
                10,
                [
                    Step(
                        res("set_usage"), lambda: service.set_usage(usage_b), lambda: raw.set_usage(usage_b)
                    ),
                ],
            ),
            (
                self.n(10),
                2,
                [
                    Step(
                        res(f"set_messages({SIZE:,})"),
                        lambda: service.set_messages(self.template),
                        lambda: raw.set_messages(self.template),
                    ),
                ],
            ),
        ]
        for iterations, warmup, steps in plan:
            self.vacuum()
            gc.collect()
            self.run_steps(steps, iterations, warmup)
            self.count_statements(results, steps, service, raw)
            self.check_size(service, raw, steps)
        # truncate removes 4,999 rows: each timed call is followed by an untimed set_messages of the
        # 10,000-message template on both sides, so every truncate starts from the same 10,000 messages.
        self.vacuum()
        truncate = res(f"truncate{TRUNCATE_KEEP}")
        for i in range(2 + self.n(10)):
            sides = [("service", service), ("raw", raw)]
            if i % 2:
                sides.reverse()
            for side, target in sides:
                ms, cpu = timed_cpu(lambda t=target: t.truncate(*TRUNCATE_KEEP))
                if i >= 2:
                    truncate.add(side, ms, cpu)
                target.set_messages(self.template)
        self.count_statements(
            results,
            [Step(truncate, lambda: service.truncate(*TRUNCATE_KEEP), lambda: raw.truncate(*TRUNCATE_KEEP))],
            service,
            raw,
        )
        self.check_equivalent(service, raw)
        return list(results.values())

    def check_size(self, service: Any, raw: RawSession, steps: list[Step]) -> None:
        sizes = (service.len(), raw.len())
        if sizes != (SIZE, SIZE):
            names = ", ".join(s.result.name for s in steps)
            raise AssertionError(f"after {names}: sizes {sizes}, expected {SIZE} on both")

    def check_equivalent(self, service: Any, raw: RawSession) -> None:
        """The baseline is only fair if it does the same thing: same messages, versions and event logs."""
        if service.messages() != raw.messages():
            raise AssertionError("service and raw sessions hold different messages")
        if service.version() != svc.SessionService(raw.id).version():
            raise AssertionError("service and raw sessions are at different versions")
        ours = [(e.version, e.op, e.args) for e in service.events()]
        theirs = [(e.version, e.op, e.args) for e in svc.SessionService(raw.id).events()]
        if ours != theirs:
            raise AssertionError("service and raw sessions have different event logs")

    def publish_cost(self, redis_url: str) -> list[tuple[str, float, float]]:
        """The after-commit publish every write runs, timed alone (from a thread with no event loop)."""
        from sessions_app.live import events

        event = events.session_changed_event(uuid.uuid4(), 1, "append")
        cases: list[tuple[str, Callable[[], Any]]] = [
            # As in this bench and in any program or command: nobody in the process can receive.
            ("in-memory layer, nobody listening in this process", lambda: events.publish(event))
        ]
        if redis_url:
            from channels_redis.core import RedisChannelLayer

            # A prefix of its own: no stale group members from earlier runs or tests, as on a fresh
            # deployment with nobody watching; capacity as in settings.
            layer = RedisChannelLayer(hosts=[redis_url], prefix=f"bench-{uuid.uuid4().hex}", capacity=1500)
            # The body of events.publish with this layer instead of the configured one.
            cases.append(
                (
                    f"Redis layer ({redis_url})",
                    lambda: events._publisher.run(events._publish(layer, event)),
                )
            )
        out = []
        for name, fn in cases:
            samples = [timed(fn) for _ in range(10 + self.n(300))][10:]
            out.append((name, statistics.median(samples), OpResult._p(samples, 0.95)))
        return out

    # ------------------------------------------------------------ append throughput

    def throughput(self, llama_appends: int) -> list[dict[str, Any]]:
        """Messages/s appending one call at a time to sessions that already hold 10,000 messages.

        The appenders take turns in ROUNDS slices (rotating who goes first), so a burst of load from
        other work on the machine lands on all of them rather than on whichever ran at that moment.
        """
        count = self.n(SIZE)
        contents = [sample_content(SIZE + i) for i in range(count)]
        appenders = [
            *self._service_appenders(contents),
            *self._langchain_appenders(contents),
            self._llama_appender(contents[: max(ROUNDS, llama_appends)]),
        ]
        self.vacuum()
        self.admin_conn.execute(f"VACUUM (ANALYZE) {LANGCHAIN_TABLE}")
        for appender in appenders:
            appender.describe()
        gc.collect()
        for round_no in range(ROUNDS):
            shift = round_no % len(appenders)
            for appender in appenders[shift:] + appenders[:shift]:
                appender.run_slice(round_no)
        for appender in appenders:
            appender.check()
        return [a.row() for a in appenders]

    def _service_appenders(self, contents: list[str]) -> list[Appender]:
        service, raw = self.new_pair()
        exchange, _ = self.new_pair()
        holds = f"{SIZE:,} messages in the session"
        pairs = [(contents[i], contents[i + 1]) for i in range(0, len(contents) - 1, 2)]
        return [
            Appender(
                "SessionService.append",
                [lambda c=c: service.append("user", c) for c in contents],
                1,
                lambda: holds,
                lambda: service.len() == SIZE + len(contents),
            ),
            Appender(
                "raw psycopg append (same guarantees)",
                [lambda c=c: raw.append("user", c) for c in contents],
                1,
                lambda: holds,
                lambda: raw.len() == SIZE + len(contents),
            ),
            Appender(
                "SessionService.record_exchange (2 per call)",
                [lambda p=p, r=r: exchange.record_exchange(p, r) for p, r in pairs],
                2,
                lambda: holds,
                lambda: exchange.len() == SIZE + 2 * len(pairs),
            ),
        ]

    def _langchain_appenders(self, contents: list[str]) -> list[Appender]:
        from langchain_core.messages import AIMessage, HumanMessage
        from langchain_postgres import PostgresChatMessageHistory

        conn = psycopg.connect(self.url)
        PostgresChatMessageHistory.create_tables(conn, LANGCHAIN_TABLE)
        out = []
        for label, per_call in (("one message per call", 1), ("2 per call", 2)):
            history = PostgresChatMessageHistory(LANGCHAIN_TABLE, str(uuid.uuid4()), sync_connection=conn)
            history.add_messages(
                [(HumanMessage if m.role == "user" else AIMessage)(content=m.content) for m in self.template]
            )
            batches = [
                [
                    (HumanMessage, AIMessage)[j % 2](content=c)
                    for j, c in enumerate(contents[i : i + per_call])
                ]
                for i in range(0, len(contents), per_call)
            ]

            def holds() -> str:
                rows = self.admin_conn.execute(f"SELECT count(*) FROM {LANGCHAIN_TABLE}").fetchone()[0]
                return f"{SIZE:,} in the session, {rows:,} rows in its table"

            out.append(
                Appender(
                    f"langchain-postgres add_messages, {label}",
                    [lambda h=history, b=b: h.add_messages(b) for b in batches],
                    per_call,
                    holds,
                    lambda h=history: len(h.get_messages()) == SIZE + len(contents),
                )
            )
        return out

    def _llama_appender(self, contents: list[str]) -> Appender:
        from llama_index.core.llms import ChatMessage
        from llama_index.storage.chat_store.postgres import PostgresChatStore

        info = psycopg.conninfo.conninfo_to_dict(self.url)
        host, port = info.get("host", "127.0.0.1"), info.get("port", 5432)
        base = f"{info.get('user', 'postgres')}@{host}:{port}/{info['dbname']}"
        store = PostgresChatStore.from_params(
            connection_string=f"postgresql+psycopg://{base}",
            async_connection_string=f"postgresql+asyncpg://{base}",
            table_name=LLAMA_TABLE,
        )
        key = "bench"
        store.set_messages(key, [ChatMessage(role=m.role, content=m.content) for m in self.template])
        messages = [ChatMessage(role=("user", "assistant")[i % 2], content=c) for i, c in enumerate(contents)]
        return Appender(
            "llama-index PostgresChatStore.add_message",
            [lambda m=m: store.add_message(key, m) for m in messages],
            1,
            lambda: f"{SIZE:,} in one array row (the whole array is rewritten per call)",
            lambda: len(store.get_messages(key)) == SIZE + len(messages),
        )


ROUNDS = 10


@dataclass
class Appender:
    name: str
    calls: list[Callable[[], Any]]
    per_call: int
    holds: Callable[[], str]
    done: Callable[[], bool]
    seconds: float = 0.0
    before: str = ""

    def describe(self) -> None:
        self.before = self.holds()

    def run_slice(self, round_no: int) -> None:
        size = math.ceil(len(self.calls) / ROUNDS)
        chunk = self.calls[round_no * size : (round_no + 1) * size]
        start = time.perf_counter()
        for call in chunk:
            call()
        self.seconds += time.perf_counter() - start

    def check(self) -> None:
        if not self.done():
            raise AssertionError(f"{self.name}: the store does not hold the appended messages")

    def row(self) -> dict[str, Any]:
        messages = len(self.calls) * self.per_call
        return {
            "name": self.name,
            "messages": messages,
            "calls": len(self.calls),
            "seconds": self.seconds,
            "msg_per_s": messages / self.seconds,
            "ms_per_call": self.seconds * 1000 / len(self.calls),
            "holds": self.before,
        }


# ---------------------------------------------------------------- report


def machine_facts(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(
        f"{p} {metadata.version(p)}"
        for p in (
            "Django",
            "psycopg",
            "langchain-postgres",
            "llama-index-storage-chat-store-postgres",
            "SQLAlchemy",
        )
    )
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "postgres": f"PostgreSQL {pg} on 127.0.0.1 (TCP loopback)",
        "python": f"Python {platform.python_version()}",
        "versions": versions,
    }


def ops_table(results: list[OpResult]) -> str:
    lines = [
        "| op (10,000 messages) | n | service median ms | service p95 ms | raw median ms | raw p95 ms "
        "| service/raw | ≤ 2× | statements svc/raw | client CPU ms svc/raw |",
        "|---|--:|--:|--:|--:|--:|--:|:-:|:-:|--:|",
    ]
    for r in (x.row() for x in results):
        ok = "yes" if r["ratio"] <= 2 else "**no**"
        lines.append(
            f"| {r['op']} | {r['n']} | {r['svc_med']:.3f} | {r['svc_p95']:.3f} | {r['raw_med']:.3f} "
            f"| {r['raw_p95']:.3f} | {r['ratio']:.2f}× | {ok} | {r['stmts']} "
            f"| {r['svc_cpu']:.2f} / {r['raw_cpu']:.2f} |"
        )
    return "\n".join(lines)


def throughput_table(rows: list[dict[str, Any]]) -> str:
    langchain = next(r for r in rows if r["name"].startswith("langchain") and "one message" in r["name"])
    lines = [
        "| appender | messages timed | calls | msg/s | ms/call | vs langchain 1/call | already holding |",
        "|---|--:|--:|--:|--:|--:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['messages']:,} | {r['calls']:,} | {r['msg_per_s']:,.0f} "
            f"| {r['ms_per_call']:.3f} "
            f"| {r['msg_per_s'] / langchain['msg_per_s']:.2f}× | {r['holds']} |"
        )
    return "\n".join(lines)


def publish_lines(rows: list[tuple[str, float, float]]) -> str:
    parts = [f"{name}: median {med:.3f} ms, p95 {p95:.3f} ms" for name, med, p95 in rows]
    return (
        "After-commit publish alone (inside every service write above, absent from raw; the service"
        " writes above publish to the in-memory layer): " + "; ".join(parts) + "."
    )


def write_doc(command: str, facts: dict[str, str], runs: list[tuple[str, str, float, str, str]]) -> None:
    block = [DOC_START, "", f"Command: `{command}`", ""]
    block.append(
        f"Machine: {facts['nproc']} cores ({facts['cpu']}), {facts['postgres']}, {facts['python']}; "
        f"{facts['versions']}. Load average at start: {facts['load']} (the cores are shared with other work)."
    )
    for i, (ops, appends, seconds, load, when) in enumerate(runs, 1):
        title = f"#### Run {i} of {len(runs)} — {when}, {seconds:.0f} s, load average at its end {load}"
        block += ["", title, "", ops, "", appends]
    block += ["", DOC_END]
    text = DOC_PATH.read_text() if DOC_PATH.exists() else ""
    generated = "\n".join(block)
    if DOC_START in text and DOC_END in text:
        head, rest = text.split(DOC_START, 1)
        text = head + generated + rest.split(DOC_END, 1)[1]
    else:
        raise SystemExit(f"{DOC_PATH} has no '{DOC_START}' marker: add the Session operations section first")
    DOC_PATH.write_text(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    ensure_database(url)
    setup_django(url, args.server_side_binding)
    global checks, svc
    from sessions_app import services as svc
    from sessions_app.domain import checks

    command = "bench/.venv/bin/python bench/bench_session_ops.py" + (
        " " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        if (argv if argv is not None else sys.argv[1:])
        else ""
    )
    if os.environ.get("DATABASE_URL") and os.environ["DATABASE_URL"] != DEFAULT_DATABASE_URL:
        command = f"DATABASE_URL={url} {command}"
    facts = machine_facts(url)
    print(f"{facts['date']}  nproc={facts['nproc']}  {facts['postgres']}  load {facts['load']}", flush=True)
    runs: list[tuple[str, str, float, str, str]] = []
    for run in range(1, args.runs + 1):
        started, when = time.perf_counter(), dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        bench = Bench(url, args.scale)
        bench.reset_database()
        results = bench.session_ops()
        ops = ops_table(results) + "\n\n" + publish_lines(bench.publish_cost(args.redis_url))
        print(f"\nRun {run}: Session ops\n{ops}", flush=True)
        appends = throughput_table(bench.throughput(args.llama_appends))
        print(f"\nRun {run}: append throughput\n{appends}", flush=True)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        runs.append((ops, appends, time.perf_counter() - started, load, when))
        print(f"\nrun {run} took {runs[-1][2]:.0f} s; load average {load}", flush=True)
    if not args.no_write:
        write_doc(command, facts, runs)
        print(f"\nwrote {DOC_PATH.relative_to(ROOT)}")
    return 0


# Imported after django.setup(): the public import (SessionService, Message, errors) and the argument checks.
svc: Any = None  # sessions_app.services
checks: Any = None  # sessions_app.domain.checks

if __name__ == "__main__":
    sys.exit(main())

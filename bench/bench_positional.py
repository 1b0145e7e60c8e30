"""Positional edits on PostgreSQL: insert, remove, move and at(i) at index 0, the middle and the end, and a
truncate, at 10,000 and 100,000 messages; SessionService against the baselines written by hand.

How to run (from the repository root; PostgreSQL at 127.0.0.1:5432, user postgres; the bench venv of
bench/bench_session_ops.py, with langchain-postgres and llama-index):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/zyn_bench_positional \\
        flock /tmp/zyn-cpu.lock bench/.venv/bin/python bench/bench_positional.py

The database is created if missing, migrated and emptied at the start: never point it at data you keep.
`--sizes 10000` runs one size; `--scale 0.3` cuts the iteration counts; `--no-write` prints only.

Per op, median ms of:
* service — SessionService (sparse order keys, the code under test);
* sparse floor — bench_session_ops.RawSession: the same design and guarantees with the fewest statements;
* dense raw — DenseSession below: the previous design (dense positions 0..len-1, unique and deferrable),
  by hand with its fewest statements: the rows after the index shift in one UPDATE (its own tables, with
  the same columns and indexes as our message table had, full-text vector and GIN index included);
* llama-index PostgresChatStore — delete_message(i) (reads and rewrites the session's array) and
  add_message (appends only: it has no insert at an index, no move and no read of one message);
* langchain-postgres — add_messages, one message (appends only).
Sides alternate, and alternate which goes first; ops that change the size run in pairs that restore it. At
the end, the service, the floor and the dense session must hold the same messages.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import bench_session_ops as ops_bench
import psycopg
from bench_session_ops import GAP, RawSession, sample_content, timed
from psycopg.types.json import Jsonb

DOC_START = "<!-- bench:positional:start (written by bench/bench_positional.py) -->"
DOC_END = "<!-- bench:positional:end -->"
DENSE = {"session": "bench_dense_session", "message": "bench_dense_message", "event": "bench_dense_event"}
LANGCHAIN_TABLE, LLAMA_TABLE = "bench_positional_langchain", "bench_positional_llama"


DENSE_DDL = f"""
DROP TABLE IF EXISTS {DENSE["event"]}, {DENSE["message"]}, {DENSE["session"]};
CREATE TABLE {DENSE["session"]} (
    id uuid PRIMARY KEY, version bigint NOT NULL, message_count integer NOT NULL,
    updated_at timestamptz NOT NULL, usage_prompt bigint, usage_completion bigint, usage_total bigint);
CREATE TABLE {DENSE["message"]} (
    id bigserial PRIMARY KEY, session_id uuid NOT NULL REFERENCES {DENSE["session"]} (id),
    position integer NOT NULL, role varchar(16) NOT NULL, content text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    search tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, COALESCE(content, ''))) STORED,
    CONSTRAINT dense_unique_position UNIQUE (session_id, position) DEFERRABLE INITIALLY IMMEDIATE);
CREATE INDEX bench_dense_message_search ON {DENSE["message"]} USING GIN (search);
CREATE TABLE {DENSE["event"]} (
    id bigserial PRIMARY KEY, session_id uuid NOT NULL REFERENCES {DENSE["session"]} (id),
    version bigint NOT NULL, op varchar(32) NOT NULL, args jsonb NOT NULL,
    actor varchar(200) NOT NULL DEFAULT '', created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (session_id, version));
"""


# The previous design's statements (on DENSE's tables).
DENSE_SQL = {
    "lock": "SELECT version, message_count FROM {session} WHERE id = %s FOR UPDATE",
    "bump": "UPDATE {session} SET version = %s, message_count = %s, updated_at = now() WHERE id = %s",
    "event": "INSERT INTO {event} (session_id, version, op, args) VALUES (%s, %s, %s, %s)",
    "shift": "UPDATE {message} SET position = position + %s WHERE session_id = %s AND position >= %s",
    "insert": "INSERT INTO {message} (session_id, position, role, content) VALUES (%s, %s, %s, %s)",
    "delete_at": "DELETE FROM {message} WHERE session_id = %s AND position = %s RETURNING role, content",
    "delete_range": "DELETE FROM {message} WHERE session_id = %s AND position >= %s AND position < %s",
    # the moved row takes its place, the ones between step toward the gap it left
    "move": "UPDATE {message} SET position = CASE WHEN position = %s THEN %s ELSE position + %s END"
    " WHERE session_id = %s AND position >= %s AND position <= %s",
    "at": "SELECT role, content FROM {message} WHERE session_id = %s AND position = %s",
    "messages": "SELECT role, content FROM {message} WHERE session_id = %s ORDER BY position",
    "fill": "INSERT INTO {message} (session_id, position, role, content)"
    " SELECT %s, g.ord - 1, g.role, g.content"
    " FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS g(role, content, ord)",
}


class DenseSession:
    """The previous design by hand: dense positions, the rows after an index shifted in one UPDATE
    (the unique constraint is checked at the end of the statement), the session row locked, one bump
    and one event row per write."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn, self.id = conn, uuid.uuid4()
        self.q = {name: text.format(**DENSE) for name, text in DENSE_SQL.items()}
        conn.execute(f"INSERT INTO {DENSE['session']} VALUES (%s, 0, 0, now())", (self.id,))

    def _write(self, op: str, args: dict[str, Any], body: Callable[[psycopg.Cursor, int], int]) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            version, count = cur.execute(self.q["lock"], (self.id,)).fetchone()
            count = body(cur, count)
            cur.execute(self.q["bump"], (version + 1, count, self.id))
            cur.execute(self.q["event"], (self.id, version + 1, op, Jsonb(args)))

    def set_messages(self, messages: list[Any]) -> None:
        def body(cur: psycopg.Cursor, count: int) -> int:
            cur.execute(f"DELETE FROM {DENSE['message']} WHERE session_id = %s", (self.id,))
            cur.execute(self.q["fill"], (self.id, [m.role for m in messages], [m.content for m in messages]))
            return len(messages)

        self._write("set_messages", {}, body)

    def insert(self, index: int, message: Any) -> None:
        def body(cur: psycopg.Cursor, count: int) -> int:
            if index < count:
                cur.execute(self.q["shift"], (1, self.id, index))
            cur.execute(self.q["insert"], (self.id, index, message.role, message.content))
            return count + 1

        self._write("insert", {"index": index, **message.as_dict()}, body)

    def remove(self, index: int) -> None:
        def body(cur: psycopg.Cursor, count: int) -> int:
            cur.execute(self.q["delete_at"], (self.id, index)).fetchone()
            if index < count - 1:
                cur.execute(self.q["shift"], (-1, self.id, index + 1))
            return count - 1

        self._write("remove", {"index": index}, body)

    def move(self, from_index: int, to_index: int) -> None:
        low, high = sorted((from_index, to_index))
        step = -1 if from_index < to_index else 1

        def body(cur: psycopg.Cursor, count: int) -> int:
            cur.execute(self.q["move"], (from_index, to_index, step, self.id, low, high))
            return count

        self._write("move", {"from_index": from_index, "to_index": to_index}, body)

    def truncate(self, keep_first: int, keep_last: int) -> None:
        def body(cur: psycopg.Cursor, count: int) -> int:
            tail = count - keep_last
            cur.execute(self.q["delete_range"], (self.id, keep_first, tail))
            cur.execute(self.q["shift"], (keep_first - tail, self.id, tail))
            return count - (tail - keep_first)

        self._write("truncate", {"keep_first": keep_first, "keep_last": keep_last}, body)

    def at(self, index: int) -> Any:
        return self.conn.execute(self.q["at"], (self.id, index)).fetchone()

    def messages(self) -> list[tuple[str, str]]:
        return [tuple(r) for r in self.conn.execute(self.q["messages"], (self.id,)).fetchall()]


class Sides:
    """The stores under test, each holding the same ``size`` messages."""

    def __init__(self, url: str, size: int) -> None:
        from sessions_app import models
        from sessions_app.services import Message, SessionService

        self.size, self.url = size, url
        self.admin = psycopg.connect(url, autocommit=True)
        self.template = [Message(("user", "assistant")[i % 2], sample_content(i)) for i in range(size)]
        tables = {
            "session": models.Session._meta.db_table,
            "message": models.Message._meta.db_table,
            "event": models.SessionEvent._meta.db_table,
        }
        self.admin.execute(f"TRUNCATE {tables['event']}, {tables['message']}, {tables['session']} CASCADE")
        self.admin.execute(DENSE_DDL)
        self.admin.execute(f"DROP TABLE IF EXISTS {LANGCHAIN_TABLE}, {LLAMA_TABLE}")
        self.service = SessionService.import_session(name="service", messages=self.template)
        self.floor = RawSession(
            psycopg.connect(url, autocommit=True), SessionService.new(name="floor").id, tables
        )
        self.floor.set_messages(self.template)
        self.dense = DenseSession(psycopg.connect(url, autocommit=True))
        self.dense.set_messages(self.template)
        self.llama, self.langchain = self._llama(), self._langchain()
        self.tables = [*tables.values(), *DENSE.values(), LANGCHAIN_TABLE, LLAMA_TABLE]

    def vacuum(self) -> None:
        for table in self.tables:
            self.admin.execute(f"VACUUM (ANALYZE) {table}")

    def _llama(self) -> Any:
        from llama_index.core.llms import ChatMessage
        from llama_index.storage.chat_store.postgres import PostgresChatStore

        info = psycopg.conninfo.conninfo_to_dict(self.url)
        base = f"{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/"
        base += info["dbname"]
        store = PostgresChatStore.from_params(
            connection_string=f"postgresql+psycopg://{base}",
            async_connection_string=f"postgresql+asyncpg://{base}",
            table_name=LLAMA_TABLE,
        )
        store.set_messages("bench", [ChatMessage(role=m.role, content=m.content) for m in self.template])
        self.llama_message = ChatMessage(role="user", content=sample_content(7))
        return store

    def _langchain(self) -> Any:
        from langchain_core.messages import AIMessage, HumanMessage
        from langchain_postgres import PostgresChatMessageHistory

        conn = psycopg.connect(self.url)
        PostgresChatMessageHistory.create_tables(conn, LANGCHAIN_TABLE)
        history = PostgresChatMessageHistory(LANGCHAIN_TABLE, str(uuid.uuid4()), sync_connection=conn)
        history.add_messages(
            [(HumanMessage if m.role == "user" else AIMessage)(content=m.content) for m in self.template]
        )
        self.langchain_message = [HumanMessage(content=sample_content(7))]
        return history

    def check(self) -> None:
        ours = [(m.role, m.content) for m in self.service.messages()]
        if ours != [(m.role, m.content) for m in self.floor.messages()] or ours != self.dense.messages():
            raise AssertionError("the service, the floor and the dense session hold different messages")


def steps(sides: Sides) -> list[tuple[str, dict[str, Callable[[], Any]]]]:
    """(op, {side: call}) in order; an insert is followed by the remove that restores the session."""
    from sessions_app.services import Message

    n, mid, last = sides.size, sides.size // 2, sides.size - 1
    new = Message("user", sample_content(123_456))
    s, f, d, ll = sides.service, sides.floor, sides.dense, sides.llama

    def ours(call: Callable[[Any], Any]) -> dict[str, Callable[[], Any]]:
        return {"service": lambda: call(s), "sparse floor": lambda: call(f), "dense raw": lambda: call(d)}

    plan: list[tuple[str, dict[str, Callable[[], Any]]]] = []
    for i, label, llama_remove in (
        (0, "0", lambda: ll.delete_message("bench", 0)),
        (mid, f"{mid:,}", lambda: ll.delete_message("bench", mid)),
        (n, "end", lambda: ll.delete_last_message("bench")),
    ):
        plan.append((f"insert({label})", ours(lambda x, i=i: x.insert(i, new))))
        plan.append((f"remove({label})", ours(lambda x, i=i: x.remove(i)) | {"llama-index": llama_remove}))
    for i, label in ((0, "0"), (mid, f"{mid:,}"), (last, f"{last:,} (end)")):
        plan.append((f"at({label})", ours(lambda x, i=i: x.at(i))))
    for a, b in ((0, last), (last, 0), (mid, 0), (0, mid)):
        plan.append((f"move({a:,}→{b:,})", ours(lambda x, a=a, b=b: x.move(a, b))))
    plan.append(
        (
            "append (one message)",
            {
                "service": lambda: s.append("user", new.content),
                "sparse floor": lambda: f.append("user", new.content),
                "llama-index": lambda: ll.add_message("bench", sides.llama_message),
                "langchain-postgres": lambda: sides.langchain.add_messages(sides.langchain_message),
            },
        )
    )
    plan.append(
        ("remove(end) after it", {"service": lambda: s.remove(n), "sparse floor": lambda: f.remove(n)})
    )
    return plan


OURS = ("service", "sparse floor")


def measure(sides: Sides, iterations: int) -> dict[str, dict[str, list[float]]]:
    """The service and the floor alternate call by call (and which goes first); the other baselines,
    a hundred times slower on most ops (their dead rows and WAL would slow whatever runs next), in a
    pass of their own afterwards."""
    results: dict[str, dict[str, list[float]]] = {}
    plan = steps(sides)
    for ours in (True, False):
        sides.vacuum()
        for round_no in range(1 + iterations):  # round 0 warms up (and prepares the statements)
            for op, calls in plan:
                names = [name for name in calls if (name in OURS) == ours]
                for name in names[round_no % 2 :] + names[: round_no % 2]:
                    ms = timed(calls[name])
                    if round_no:
                        results.setdefault(op, {}).setdefault(name, []).append(ms)
    keep = sides.size // 2
    truncate = results.setdefault(f"truncate(1, {keep:,})", {})
    targets = (("service", sides.service), ("sparse floor", sides.floor), ("dense raw", sides.dense))
    for round_no in range(1 + max(3, iterations // 3)):
        order = targets if round_no % 2 == 0 else (targets[1], targets[0], targets[2])
        for name, target in order:
            sides.vacuum()  # untimed, as the restore below: each truncate starts from the same session
            ms = timed(lambda t=target: t.truncate(1, keep))
            if round_no:
                truncate.setdefault(name, []).append(ms)
            target.set_messages(sides.template)
    sides.check()
    return results


COLUMNS = ["service", "sparse floor", "dense raw", "llama-index", "langchain-postgres"]


def table(size: int, results: dict[str, dict[str, list[float]]]) -> str:
    lines = [
        f"| op ({size:,} messages), median ms | " + " | ".join(COLUMNS) + " | service / floor |",
        "|---" + "|--:" * (len(COLUMNS) + 1) + "|",
    ]
    for op, by_side in results.items():
        med = {k: statistics.median(v) for k, v in by_side.items()}
        cells = [f"{med[c]:.3f}" if c in med else "–" for c in COLUMNS]
        ratio = f"{med['service'] / med['sparse floor']:.2f}×" if "sparse floor" in med else "–"
        lines.append(f"| {op} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/zyn_bench_positional"
    ops_bench.ensure_database(url)
    ops_bench.setup_django(url, server_side_binding=False)
    from sessions_app import services
    from sessions_app.domain import checks

    ops_bench.svc, ops_bench.checks = services, checks  # what RawSession uses
    from sessions_app.domain.order_keys import GAP as SERVICE_GAP

    assert GAP == SERVICE_GAP, "the floor's gap must be the service's"
    blocks = []
    for size in (int(x) for x in args.sizes.split(",")):
        started = time.perf_counter()
        iterations = max(3, round((20 if size <= 10_000 else 5) * args.scale))
        results = measure(Sides(url, size), iterations)
        block = (
            table(size, results) + f"\n\n{iterations} timed rounds; {time.perf_counter() - started:.0f} s."
        )
        print(block, flush=True)
        blocks.append(block)
    if not args.no_write:
        facts = ops_bench.machine_facts(url)
        head = f"Machine: {facts['nproc']} cores ({facts['cpu']}), {facts['postgres']}"
        head += f"; {facts['date']}, load average {facts['load']}."
        doc = ops_bench.DOC_PATH.read_text()
        if DOC_START not in doc:
            raise SystemExit(f"{ops_bench.DOC_PATH} has no '{DOC_START}' marker")
        before, rest = doc.split(DOC_START, 1)
        generated = "\n\n".join([DOC_START, head, *blocks, DOC_END])
        ops_bench.DOC_PATH.write_text(before + generated + rest.split(DOC_END, 1)[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""SessionService: the zyn Session API on the database, and the only place that writes sessions.

Every write follows one path (see DESIGN.md, "The one mechanism"):
validate pure arguments → BEGIN → lock the session row → check expected_version →
check indexes → set-based SQL on message rows → version += 1 → one SessionEvent →
publish after commit.

On PostgreSQL the writes that only add at the end (append, record_exchange, set_usage) run that whole
path as ONE statement (``_append_in_one_statement``): same lock, same checks, same rows, one round trip.
"""

from __future__ import annotations

import enum
import functools
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from sessions_app import models
from sessions_app.events import send_event_on_commit, session_changed_event
from sessions_app.exceptions import (
    IndexOutOfRange,
    InvalidArgument,
    SessionError,
    SessionNotFound,
    VersionConflict,
)

__all__ = [
    "Event",
    "IndexOutOfRange",
    "InvalidArgument",
    "Message",
    "Role",
    "SessionError",
    "SessionNotFound",
    "SessionService",
    "TokenUsage",
    "VersionConflict",
]

SYSTEM_ACTOR = "system"


def user_actor(user: Any) -> str:
    """How a signed-in person is recorded as an event's actor: their user name (API keys are
    "api:<key name>", which no user name can be: Django user names have no colon)."""
    return user.get_username()


MAX_BIGINT = 2**63 - 1


class Role(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


ROLES = frozenset(r.value for r in Role)


@dataclass(frozen=True)
class Message:
    role: str
    content: str

    def __post_init__(self) -> None:
        if isinstance(self.role, Role):
            object.__setattr__(self, "role", self.role.value)

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class TokenUsage:
    prompt: int
    completion: int
    total: int

    def as_dict(self) -> dict[str, int]:
        return {"prompt": self.prompt, "completion": self.completion, "total": self.total}


@dataclass(frozen=True)
class Event:
    version: int
    op: str
    args: dict[str, Any]
    actor: str
    created_at: datetime


# ---------------------------------------------------------------- argument checks (no database)


def describe(value: object, limit: int = 40) -> str:
    """A value as a person reading a JSON error sees it: text quoted, other values by their JSON type."""
    if isinstance(value, str):
        # Quoted as JSON (a NUL shows as \u0000); a lone surrogate shows escaped, so the message is printable.
        text = json.dumps(value[:limit], ensure_ascii=False).encode("utf-8", "backslashreplace").decode()
        return text if len(value) <= limit else text[:-1] + '…"'
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        # NaN and ±Infinity print by their JavaScript names; integers too long to print are not printed.
        text = json.dumps(value) if not isinstance(value, int) or abs(value) < 10**limit else "a huge number"
        return text if len(text) <= limit else "a long number"
    return {type(None): "null", list: "an array", tuple: "an array", dict: "an object"}.get(
        type(value), "an object" if isinstance(value, Mapping) else f"a {type(value).__name__}"
    )


def check_int(value: object, name: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an integer (got {describe(value)})", field=name)
    if minimum is not None and value < minimum:
        raise InvalidArgument(f"{name} must be at least {minimum} (got {value})", field=name)
    if abs(value) > MAX_BIGINT:
        raise InvalidArgument(f"{name} is too large: at most {MAX_BIGINT}", field=name)
    return value


def check_role(role: object) -> str:
    if isinstance(role, str) and role in ROLES:
        return str(role)
    raise InvalidArgument(f"role must be one of user, assistant, system (got {describe(role)})", field="role")


def check_text(value: object, name: str) -> str:
    """Text every database stores as given: no NUL (PostgreSQL text cannot hold it), no lone surrogates."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{name} must be text (got {describe(value)})", field=name)
    if "\x00" in value:
        raise InvalidArgument(f"{name} must not contain NUL characters (\\x00)", field=name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(f"{name} is not valid Unicode text (unpaired surrogate)", field=name) from None
    return value


def check_content(content: object, name: str = "content") -> str:
    check_text(content, name)
    size = len(content.encode("utf-8"))
    limit = settings.ZYN_MAX_CONTENT_BYTES
    if size > limit:
        raise InvalidArgument(f"{name} is {size} bytes; the limit is {limit} bytes", field=name)
    return content


MAX_NAME_LENGTH = 200
MAX_METADATA_DEPTH = 32


def check_name(name: object) -> str:
    """A session's name: text of at most MAX_NAME_LENGTH characters (Session.name's max_length)."""
    check_text(name, "name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(f"name is {len(name)} characters; the limit is {MAX_NAME_LENGTH}", field="name")
    return name


def check_metadata(metadata: object) -> dict[str, Any]:
    """A JSON object every database stores and every reader parses back as it was given: text as in
    check_text, numbers within ±MAX_BIGINT (no NaN/Infinity, no integers too long to print), at most
    MAX_METADATA_DEPTH levels deep."""
    if not isinstance(metadata, Mapping):
        raise InvalidArgument(f"metadata must be a JSON object (got {describe(metadata)})", field="metadata")

    def walk(value: object, path: str, depth: int) -> None:
        if depth > MAX_METADATA_DEPTH:
            raise InvalidArgument(
                f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels", field="metadata"
            )
        if isinstance(value, str):
            check_text(value, path)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise InvalidArgument(f"{path} keys must be text", field="metadata")
                check_text(key, f"{path} key")
                walk(item, f"{path}.{key[:40]}", depth + 1)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]", depth + 1)
        elif isinstance(value, bool) or value is None:
            pass
        elif isinstance(value, int | float):
            # NaN fails both comparisons; ±Infinity and huge numbers fail one.
            if not -MAX_BIGINT <= value <= MAX_BIGINT:
                raise InvalidArgument(
                    f"{path} must be a number between -{MAX_BIGINT} and {MAX_BIGINT}", field="metadata"
                )
        else:
            raise InvalidArgument(f"{path} is not a JSON value (got {describe(value)})", field="metadata")

    walk(metadata, "metadata", 0)
    return dict(metadata)


def check_message(message: object) -> Message:
    if isinstance(message, Message):
        role, content = message.role, message.content
    elif isinstance(message, Mapping):
        unknown = set(message) - {"role", "content"}
        if unknown or "role" not in message or "content" not in message:
            raise InvalidArgument("a message must have exactly the fields role and content", field="message")
        role, content = message["role"], message["content"]
    else:
        raise InvalidArgument(
            f"a message must be a Message or {{role, content}} (got {describe(message)})",
            field="message",
        )
    return Message(role=check_role(role), content=check_content(content))


def check_usage(usage: object) -> TokenUsage:
    if isinstance(usage, TokenUsage):
        values = usage.as_dict()
    elif isinstance(usage, Mapping) and set(usage) == {"prompt", "completion", "total"}:
        values = dict(usage)
    else:
        raise InvalidArgument(
            "usage must have the integer fields prompt, completion and total", field="usage"
        )
    return TokenUsage(**{k: check_int(v, f"usage.{k}", minimum=0) for k, v in values.items()})


def check_expected_version(expected_version: object) -> int | None:
    if expected_version is None:
        return None
    return check_int(expected_version, "expected_version", minimum=0)


def check_actor(actor: object) -> str:
    if actor is None or actor == "":
        return SYSTEM_ACTOR
    if not isinstance(actor, str):
        raise InvalidArgument("actor must be text", field="actor")
    return actor[:200]


def _check_index(index: int, length: int, *, allow_end: bool = False) -> None:
    upper = length if allow_end else length - 1
    if index < 0 or index > upper:
        raise IndexOutOfRange(index, length)


# ---------------------------------------------------------------- set-based position SQL
# On PostgreSQL the unique (session, position) constraint is DEFERRABLE INITIALLY IMMEDIATE: it is
# checked at the end of each statement, so a range shifts in ONE UPDATE. Elsewhere (SQLite) it is
# checked row by row, so a shifted range first goes to distinct negative positions (-(p+delta)-1),
# then back: two UPDATEs. Every statement here requires the caller to hold the session lock.


def _checked_per_statement() -> bool:
    return connection.features.supports_deferrable_unique_constraints


def _shift_to_negative(session_id: uuid.UUID, start: int, stop: int | None, delta: int) -> int:
    rows = models.Message.objects.filter(session_id=session_id, position__gte=start)
    if stop is not None:
        rows = rows.filter(position__lt=stop)
    return rows.update(position=-(F("position") + delta) - 1)


def _restore_negative(session_id: uuid.UUID) -> None:
    models.Message.objects.filter(session_id=session_id, position__lt=0).update(position=-F("position") - 1)


def _shift(session_id: uuid.UUID, start: int, stop: int | None, delta: int) -> None:
    if _checked_per_statement():
        rows = models.Message.objects.filter(session_id=session_id, position__gte=start)
        if stop is not None:
            rows = rows.filter(position__lt=stop)
        rows.update(position=F("position") + delta)
    elif _shift_to_negative(session_id, start, stop, delta):
        _restore_negative(session_id)


def _move(session_id: uuid.UUID, from_index: int, to_index: int) -> None:
    """The message at from_index ends at to_index; the ones between step toward the gap it left."""
    if _checked_per_statement():
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
        _shift_to_negative(session_id, from_index + 1, to_index + 1, -1)
    else:
        _shift_to_negative(session_id, to_index, from_index, +1)
    _restore_negative(session_id)


def _new_rows(session_id: uuid.UUID, start: int, messages: Iterable[Message]) -> list[models.Message]:
    return [
        models.Message(session_id=session_id, position=start + i, role=m.role, content=m.content)
        for i, m in enumerate(messages)
    ]


def _usage_fields(usage: TokenUsage) -> dict[str, int]:
    return {"usage_prompt": usage.prompt, "usage_completion": usage.completion, "usage_total": usage.total}


# ---------------------------------------------------------------- hand-written statements
# The statements of the small writes and of the hot reads are written by hand on Django's connection:
# building them through the ORM cost about 0.3-0.4 ms of CPU each, more than the statements themselves
# (docs/benchmarks.md, "Session operations"). Values go through the model fields' get_db_prep_value,
# so they are stored exactly as the ORM would store them, on every backend.


@dataclass(frozen=True)
class _LockedRow:
    """The locked session row's fields the write path needs."""

    pk: uuid.UUID
    version: int
    message_count: int


def _db_value(model: type[models.Model], field: str, value: Any) -> Any:
    return model._meta.get_field(field).get_db_prep_value(value, connection)


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _cursor() -> Any:
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


def _query(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _lock_row(session_id: uuid.UUID) -> _LockedRow | None:
    """SELECT … FOR UPDATE of the session row. Caller is inside transaction.atomic().

    SQLite has no FOR UPDATE: its BEGIN IMMEDIATE (settings) already holds the write lock.
    """
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    found = _query(
        f"SELECT version, message_count FROM {_table(models.Session)} WHERE id = %s{lock}",
        [_db_value(models.Session, "id", session_id)],
    )
    return None if not found else _LockedRow(pk=session_id, version=found[0][0], message_count=found[0][1])


def _bump_fields(fields: dict[str, Any], now: datetime) -> tuple[list[str], list[Any]]:
    """SET clauses and parameters of the session row's UPDATE (version is the caller's)."""
    columns = {"updated_at": _db_value(models.Session, "updated_at", now), **fields}
    return [f"{c} = %s" for c in columns], list(columns.values())


def _event_values(op: str, args: dict[str, Any], actor: str, now: datetime) -> list[Any]:
    """op, args, actor, created_at of an event row, as stored."""
    return [
        op,
        _db_value(models.SessionEvent, "args", args),
        actor,
        _db_value(models.SessionEvent, "created_at", now),
    ]


def _bump_and_record(
    row: _LockedRow, version: int, fields: dict[str, Any], op: str, args: dict[str, Any], actor: str
) -> None:
    """UPDATE the session row's fields and INSERT the event. Caller holds the session lock."""
    now = timezone.now()
    sets, values = _bump_fields(fields, now)
    pk = _db_value(models.Session, "id", row.pk)
    with _cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table(models.Session)} SET version = %s, {', '.join(sets)} WHERE id = %s",
            [version, *values, pk],
        )
        cursor.execute(
            f"INSERT INTO {_table(models.SessionEvent)} (session_id, version, op, args, actor, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [pk, version, *_event_values(op, args, actor, now)],
        )


def _insert_messages(session_id: uuid.UUID, start: int, messages: list[Message]) -> None:
    """INSERT a few messages at positions start, start + 1, … (one statement). Caller holds the lock."""
    now = _db_value(models.Message, "created_at", timezone.now())
    pk = _db_value(models.Message, "session_id", session_id)
    params: list[Any] = []
    for i, m in enumerate(messages):
        params += [pk, start + i, m.role, m.content, now]
    _query(
        f"INSERT INTO {_table(models.Message)} (session_id, position, role, content, created_at)"
        f" VALUES {', '.join(['(%s, %s, %s, %s, %s)'] * len(messages))}",
        params,
    )


def _delete_messages(session_id: uuid.UUID, start: int = 0, stop: int | None = None) -> None:
    """DELETE the messages at positions start ≤ p < stop. Caller holds the lock."""
    params: list[Any] = [_db_value(models.Message, "session_id", session_id)]
    where = "session_id = %s"
    if start:
        where += " AND position >= %s"
        params.append(start)
    if stop is not None:
        where += " AND position < %s"
        params.append(stop)
    _query(f"DELETE FROM {_table(models.Message)} WHERE {where}", params)


def _append_in_one_statement(
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
    params += [session_id, op, _db_value(models.SessionEvent, "args", args), actor, now]
    cursor = _cursor()  # (not _query: this statement always returns its one column)
    cursor.execute(_append_sql(len(messages), usage is not None, expected_version is not None), params)
    found = cursor.fetchone()
    return found[0] if found else None


@functools.cache
def _append_sql(n: int, usage: bool, expected: bool) -> str:
    """The text of ``_append_in_one_statement`` for n messages (fixed texts: psycopg prepares them)."""
    sets = ["version = version + 1", "updated_at = %s"]
    if usage:
        sets += ["usage_prompt = %s", "usage_completion = %s", "usage_total = %s"]
    if n:
        sets.append("message_count = message_count + %s")
    sql = (
        f"WITH s AS (UPDATE {_table(models.Session)} SET {', '.join(sets)}"
        f" WHERE id = %s{' AND version = %s' if expected else ''} RETURNING version, message_count)"
    )
    if n:
        sql += (
            f", m AS (INSERT INTO {_table(models.Message)} (session_id, position, role, content, created_at)"
            " SELECT %s, s.message_count - %s + g.i, g.role, g.content, %s"
            f" FROM s, (VALUES {', '.join(['(%s, %s, %s)'] * n)}) AS g(i, role, content))"
        )
    return sql + (
        f", e AS (INSERT INTO {_table(models.SessionEvent)}"
        " (session_id, version, op, args, actor, created_at) SELECT %s, s.version, %s, %s, %s, %s FROM s)"
        " SELECT version FROM s"
    )


def _replace_message(session_id: uuid.UUID, index: int, new: Message) -> tuple[str, str]:
    """Overwrite the message at ``index``; returns its previous (role, content). Caller holds the lock."""
    m, pk = _table(models.Message), _db_value(models.Message, "session_id", session_id)
    if connection.vendor == "postgresql":  # one statement: UPDATE … FROM the old row … RETURNING it
        ((role, content),) = _query(
            f"UPDATE {m} AS t SET role = %s, content = %s"
            f" FROM (SELECT id, role, content FROM {m} WHERE session_id = %s AND position = %s) AS old"
            " WHERE t.id = old.id RETURNING old.role, old.content",
            [new.role, new.content, pk, index],
        )
        return role, content
    # SQLite's RETURNING sees only the new values.
    ((role, content),) = _query(
        f"SELECT role, content FROM {m} WHERE session_id = %s AND position = %s", [pk, index]
    )
    _query(
        f"UPDATE {m} SET role = %s, content = %s WHERE session_id = %s AND position = %s",
        [new.role, new.content, pk, index],
    )
    return role, content


# ---------------------------------------------------------------- the service


class SessionService:
    """One persisted session. Instances hold only the id: every call reads or locks the database."""

    def __init__(self, session_id: uuid.UUID) -> None:
        self.id = session_id

    def __repr__(self) -> str:
        return f"SessionService({self.id})"

    def __len__(self) -> int:
        return self.len()

    # ------------------------------------------------------------ construction

    @classmethod
    def new(
        cls, name: str = "", metadata: Mapping[str, Any] | None = None, *, session_id: uuid.UUID | None = None
    ) -> SessionService:
        """A new empty session; ``session_id`` keeps a known id (import of an export)."""
        name, metadata = check_name(name), check_metadata({} if metadata is None else metadata)
        with transaction.atomic():
            row = models.Session.objects.create(id=session_id or uuid.uuid4(), name=name, metadata=metadata)
            send_event_on_commit(session_changed_event(row.pk, row.version, "create"))
        return cls(row.pk)

    @classmethod
    def import_session(
        cls,
        name: str = "",
        metadata: Mapping[str, Any] | None = None,
        messages: Iterable[Message] = (),
        usage: TokenUsage | None = None,
        *,
        session_id: uuid.UUID | None = None,
        imported_from: uuid.UUID | None = None,
        actor: str | None = None,
    ) -> SessionService:
        """A new session holding ``messages`` and ``usage``, made as ONE write: version 1, op ``import``.

        The event's args hold the whole state (like a restore's), so replaying it rebuilds the session.
        ``imported_from``: the id the record carried when it is imported as a new session.
        """
        name, metadata = check_name(name), check_metadata({} if metadata is None else metadata)
        if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Iterable):
            raise InvalidArgument("messages must be a list of messages", field="messages")
        new = [check_message(m) for m in messages]
        new_usage = None if usage is None else check_usage(usage)
        who = check_actor(actor)
        args: dict[str, Any] = {
            "messages": [m.as_dict() for m in new],
            "usage": None if new_usage is None else new_usage.as_dict(),
        }
        if imported_from is not None:
            args["imported_from"] = str(imported_from)
        pk = session_id or uuid.uuid4()
        try:
            with transaction.atomic():
                row = models.Session.objects.create(
                    id=pk,
                    name=name,
                    metadata=metadata,
                    version=1,
                    message_count=len(new),
                    **({} if new_usage is None else _usage_fields(new_usage)),
                )
                # Hand-written INSERTs, 500 rows each: the ORM's bulk_create spent most of an import
                # preparing each field of each row (16 MB, 60,000 messages, SQLite: 7.5 s → 3.7 s).
                for start in range(0, len(new), 500):
                    _insert_messages(row.pk, start, new[start : start + 500])
                models.SessionEvent.objects.create(session=row, version=1, op="import", args=args, actor=who)
                send_event_on_commit(session_changed_event(row.pk, 1, "import"))
        except IntegrityError:
            # Checked before the import; another writer took the id since.
            if models.Session.objects.filter(pk=pk).exists():
                raise InvalidArgument(f"a session with id {pk} already exists", field="id") from None
            raise
        return cls(row.pk)

    @classmethod
    def get(cls, session_id: uuid.UUID | str) -> SessionService:
        pk = _parse_id(session_id)
        if not models.Session.objects.filter(pk=pk).exists():
            raise SessionNotFound(f"no session with id {session_id}", id=str(session_id))
        return cls(pk)

    # ------------------------------------------------------------ reads (no lock)

    def row(self) -> models.Session:
        try:
            return models.Session.objects.get(pk=self.id)
        except models.Session.DoesNotExist:
            raise SessionNotFound(f"no session with id {self.id}", id=str(self.id)) from None

    def messages(self) -> list[Message]:
        rows = models.Message.objects.filter(session_id=self.id).order_by("position")
        return [Message(role=r, content=c) for r, c in rows.values_list("role", "content")]

    def _columns(self, names: str) -> tuple[Any, ...]:
        # Hand-written: the ORM's query building cost twice the round trip of these hot reads.
        found = _query(
            f"SELECT {names} FROM {_table(models.Session)} WHERE id = %s",
            [_db_value(models.Session, "id", self.id)],
        )
        if not found:
            raise SessionNotFound(f"no session with id {self.id}", id=str(self.id))
        return found[0]

    def len(self) -> int:
        return self._columns("message_count")[0]

    def at(self, index: int) -> Message:
        check_int(index, "index")
        found = _query(
            f"SELECT role, content FROM {_table(models.Message)} WHERE session_id = %s AND position = %s",
            [_db_value(models.Message, "session_id", self.id), index],
        )
        if index < 0 or not found:
            raise IndexOutOfRange(index, self.len())
        return Message(role=found[0][0], content=found[0][1])

    def last_usage(self) -> TokenUsage | None:
        prompt, completion, total = self._columns("usage_prompt, usage_completion, usage_total")
        if total is None:
            return None
        return TokenUsage(prompt=prompt, completion=completion, total=total)

    def version(self) -> int:
        return self._columns("version")[0]

    def events(self, after: int = 0) -> list[Event]:
        check_int(after, "after")
        rows = models.SessionEvent.objects.filter(session_id=self.id, version__gt=after).order_by("version")
        return [
            Event(version=e.version, op=e.op, args=e.args, actor=e.actor, created_at=e.created_at)
            for e in rows
        ]

    # ------------------------------------------------------------ the write path
    # Public writes validate their pure arguments first (no transaction is opened for a
    # request that can never succeed: on SQLite, BEGIN IMMEDIATE would take the write lock),
    # then run inside transaction.atomic() with the session row locked.

    def _lock(self, expected_version: int | None) -> _LockedRow:
        """Lock the session row for this transaction. Caller is inside transaction.atomic()."""
        row = _lock_row(self.id)
        if row is None:
            raise SessionNotFound(f"no session with id {self.id}", id=str(self.id))
        if expected_version is not None and expected_version != row.version:
            raise VersionConflict(expected_version, row.version)
        return row

    def _commit(
        self,
        row: _LockedRow,
        op: str,
        args: dict[str, Any],
        actor: str,
        *,
        message_count: int | None = None,
        usage: TokenUsage | None = None,
        clear_usage: bool = False,
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Bump the version, record the event and queue the broadcast. Caller holds the session lock."""
        version = row.version + 1
        fields: dict[str, Any] = {k: _db_value(models.Session, k, v) for k, v in (details or {}).items()}
        if message_count is not None:
            fields["message_count"] = message_count
        if clear_usage:  # only restore: "no usage at that version" is a state, unlike set_usage(None)
            fields.update(usage_prompt=None, usage_completion=None, usage_total=None)
        if usage is not None:
            fields.update(_usage_fields(usage))
        _bump_and_record(row, version, fields, op, args, actor)
        send_event_on_commit(session_changed_event(row.pk, version, op))
        return version

    def _append(
        self,
        op: str,
        messages: list[Message],
        args: dict[str, Any],
        actor: str,
        expected_version: int | None,
        usage: TokenUsage | None = None,
    ) -> int:
        """The writes that only add at the end: append, record_exchange, set_usage.

        PostgreSQL: one statement (``_append_in_one_statement``). Outside a caller's transaction it
        runs without BEGIN/COMMIT: PostgreSQL runs a statement as its own transaction, so the lock,
        the rows and the event commit together, and Django runs the on-commit publish right after it.
        One round trip instead of six (BEGIN, lock, insert, bump, event, COMMIT).
        Elsewhere (SQLite): the ordinary path (BEGIN IMMEDIATE, insert, bump, event).
        """
        if connection.vendor != "postgresql":
            with transaction.atomic():
                row = self._lock(expected_version)
                if messages:
                    _insert_messages(row.pk, row.message_count, messages)
                count = row.message_count + len(messages) if messages else None
                return self._commit(row, op, args, actor, message_count=count, usage=usage)
        for _attempt in range(3):
            version = _append_in_one_statement(self.id, messages, expected_version, op, args, actor, usage)
            if version is not None:
                send_event_on_commit(session_changed_event(self.id, version, op))
                return version
            current = self.version()  # raises SessionNotFound
            if expected_version is not None and current != expected_version:
                raise VersionConflict(expected_version, current)
            # The session reached exactly the expected version after the statement saw it: try again.
        raise VersionConflict(expected_version, self.version())

    # ------------------------------------------------------------ writes

    def append(
        self, role: str, content: str, *, expected_version: int | None = None, actor: str | None = None
    ) -> int:
        message = check_message(Message(role=role, content=content))
        expected, who = check_expected_version(expected_version), check_actor(actor)
        return self._append("append", [message], message.as_dict(), who, expected)

    def clear(self, *, expected_version: int | None = None, actor: str | None = None) -> int:
        expected, who = check_expected_version(expected_version), check_actor(actor)
        with transaction.atomic():
            row = self._lock(expected)
            if row.message_count:
                _delete_messages(row.pk)
            return self._commit(row, "clear", {"removed_count": row.message_count}, who, message_count=0)

    def remove(self, index: int, *, expected_version: int | None = None, actor: str | None = None) -> int:
        check_int(index, "index")
        expected, who = check_expected_version(expected_version), check_actor(actor)
        with transaction.atomic():
            row = self._lock(expected)
            _check_index(index, row.message_count)
            ((role, content),) = _query(
                f"DELETE FROM {_table(models.Message)} WHERE session_id = %s AND position = %s"
                " RETURNING role, content",
                [_db_value(models.Message, "session_id", row.pk), index],
            )
            if index < row.message_count - 1:
                _shift(row.pk, index + 1, None, -1)
            args = {"index": index, "removed": {"role": role, "content": content}}
            return self._commit(row, "remove", args, who, message_count=row.message_count - 1)

    def replace(
        self,
        index: int,
        message: Message,
        *,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> int:
        check_int(index, "index")
        new = check_message(message)
        expected, who = check_expected_version(expected_version), check_actor(actor)
        with transaction.atomic():
            row = self._lock(expected)
            _check_index(index, row.message_count)
            old_role, old_content = _replace_message(row.pk, index, new)
            args = {"index": index, **new.as_dict(), "previous": {"role": old_role, "content": old_content}}
            return self._commit(row, "replace", args, who)

    def insert(
        self,
        index: int,
        message: Message,
        *,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> int:
        check_int(index, "index")
        new = check_message(message)
        expected, who = check_expected_version(expected_version), check_actor(actor)
        with transaction.atomic():
            row = self._lock(expected)
            _check_index(index, row.message_count, allow_end=True)
            if index < row.message_count:
                _shift(row.pk, index, None, +1)
            _insert_messages(row.pk, index, [new])
            args = {"index": index, **new.as_dict()}
            return self._commit(row, "insert", args, who, message_count=row.message_count + 1)

    def prune(self, n: int, *, expected_version: int | None = None, actor: str | None = None) -> int:
        check_int(n, "n", minimum=0)
        expected, who = check_expected_version(expected_version), check_actor(actor)
        with transaction.atomic():
            row = self._lock(expected)
            removed = min(2 * n, row.message_count)
            keep = row.message_count - removed
            if removed:
                _delete_messages(row.pk, keep)
            args = {"n": n, "removed_count": removed}
            return self._commit(row, "prune", args, who, message_count=keep)

    def truncate(
        self,
        keep_first: int,
        keep_last: int,
        *,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> int:
        check_int(keep_first, "keep_first", minimum=0)
        check_int(keep_last, "keep_last", minimum=0)
        expected, who = check_expected_version(expected_version), check_actor(actor)
        with transaction.atomic():
            row = self._lock(expected)
            length = row.message_count
            removed = 0
            if keep_first + keep_last < length:
                tail_start = length - keep_last
                removed = tail_start - keep_first
                _delete_messages(row.pk, keep_first, tail_start)
                if keep_last:
                    _shift(row.pk, tail_start, None, -removed)
            args = {"keep_first": keep_first, "keep_last": keep_last, "removed_count": removed}
            return self._commit(row, "truncate", args, who, message_count=length - removed)

    def set_messages(
        self,
        messages: Iterable[Message],
        *,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> int:
        if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Iterable):
            raise InvalidArgument("messages must be a list of messages", field="messages")
        new = [check_message(m) for m in messages]
        expected, who = check_expected_version(expected_version), check_actor(actor)
        with transaction.atomic():
            row = self._lock(expected)
            models.Message.objects.filter(session_id=row.pk).delete()
            models.Message.objects.bulk_create(_new_rows(row.pk, 0, new), batch_size=2000)
            args = {"messages": [m.as_dict() for m in new], "removed_count": row.message_count}
            return self._commit(row, "set_messages", args, who, message_count=len(new))

    def set_usage(
        self,
        usage: TokenUsage | None,
        *,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> int:
        # Go's SetUsage(nil) keeps the previous usage; the call still counts as a write.
        new = None if usage is None else check_usage(usage)
        expected, who = check_expected_version(expected_version), check_actor(actor)
        args = {"usage": None if new is None else new.as_dict()}
        return self._append("set_usage", [], args, who, expected, usage=new)

    def move(
        self,
        from_index: int,
        to_index: int,
        *,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> int:
        check_int(from_index, "from_index")
        check_int(to_index, "to_index")
        expected, who = check_expected_version(expected_version), check_actor(actor)
        with transaction.atomic():
            row = self._lock(expected)
            _check_index(from_index, row.message_count)
            _check_index(to_index, row.message_count)
            if from_index != to_index:
                _move(row.pk, from_index, to_index)
            args = {"from_index": from_index, "to_index": to_index}
            return self._commit(row, "move", args, who)

    def record_exchange(
        self,
        prompt: str,
        response: str,
        usage: TokenUsage | None = None,
        *,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> int:
        """What a synapse's Fire commits on success: user prompt + assistant response + usage, one version."""
        pair = [
            Message(role=Role.USER, content=check_content(prompt, "prompt")),
            Message(role=Role.ASSISTANT, content=check_content(response, "response")),
        ]
        new_usage = None if usage is None else check_usage(usage)
        expected, who = check_expected_version(expected_version), check_actor(actor)
        args = {
            "prompt": pair[0].content,
            "response": pair[1].content,
            "usage": None if new_usage is None else new_usage.as_dict(),
        }
        return self._append("record_exchange", pair, args, who, expected, usage=new_usage)

    def update_details(
        self,
        *,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> int:
        """Rename the session and/or replace its metadata (None leaves that one as it is).

        An ordinary write: it bumps the version like every other (one version per successful write,
        so a program holding the old version learns that the session changed), and its event
        (op ``update_details``) keeps the previous values for history. It changes no messages or usage.
        """
        if name is None and metadata is None:
            raise InvalidArgument("give a new name, new metadata, or both", field="name")
        new_name = None if name is None else check_name(name)
        new_metadata = None if metadata is None else check_metadata(metadata)
        expected, who = check_expected_version(expected_version), check_actor(actor)
        with transaction.atomic():
            row = self._lock(expected)
            old_name, old_metadata = (
                models.Session.objects.filter(pk=row.pk).values_list("name", "metadata").get()
            )
            details: dict[str, Any] = {}
            args: dict[str, Any] = {}
            if new_name is not None:
                details["name"] = args["name"] = new_name
                args["previous_name"] = old_name
            if new_metadata is not None:
                details["metadata"] = args["metadata"] = new_metadata
                args["previous_metadata"] = old_metadata
            return self._commit(row, "update_details", args, who, details=details)

    def restore(self, version: int, *, expected_version: int | None = None, actor: str | None = None) -> int:
        """Make the session what it was at ``version`` (messages and usage) as one new write.

        Being an ordinary write with its own event, a restore can itself be restored or undone.
        """
        from sessions_app import history  # history builds on this module's types

        check_int(version, "version", minimum=0)
        expected, who = check_expected_version(expected_version), check_actor(actor)
        with transaction.atomic():
            row = self._lock(expected)
            # Rebuilt under the lock: compact_events takes the same lock before it folds events away.
            state = history.state_at(row.pk, version, current_version=row.version)
            models.Message.objects.filter(session_id=row.pk).delete()
            models.Message.objects.bulk_create(_new_rows(row.pk, 0, state.messages), batch_size=2000)
            args = {
                "restored_version": version,
                "messages": [m.as_dict() for m in state.messages],
                "usage": None if state.usage is None else state.usage.as_dict(),
                "removed_count": row.message_count,
            }
            return self._commit(
                row,
                "restore",
                args,
                who,
                message_count=len(state.messages),
                usage=state.usage,
                clear_usage=state.usage is None,
            )

    def undo(self, *, expected_version: int, actor: str | None = None) -> int:
        """Undo the last change: restore the version before ``expected_version``, refused if stale."""
        expected = check_expected_version(expected_version)
        if expected is None:
            raise InvalidArgument(
                "undo needs expected_version, the version you are looking at", field="expected_version"
            )
        if expected == 0:
            raise InvalidArgument(
                "nothing to undo: this session has no changes yet", field="expected_version"
            )
        return self.restore(expected - 1, expected_version=expected, actor=actor)


def _parse_id(session_id: uuid.UUID | str) -> uuid.UUID:
    if isinstance(session_id, uuid.UUID):
        return session_id
    try:
        return uuid.UUID(str(session_id))
    except (ValueError, TypeError, AttributeError):
        raise SessionNotFound(f"no session with id {describe(session_id)}", id=str(session_id)) from None

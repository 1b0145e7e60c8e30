"""SessionService: the zyn Session API on the database, and the only place that writes sessions.

Every write follows one path (see DESIGN.md, "The one mechanism"):
validate pure arguments → BEGIN → lock the session row → check expected_version →
check indexes → set-based SQL on message rows → version += 1 → one SessionEvent →
publish after commit.

On PostgreSQL the writes that only add at the end (append, record_exchange, set_usage) run that whole
path as ONE statement (``storage.append_in_one_statement``): same lock, same checks, same rows, one
round trip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from sessions_app import history, models
from sessions_app.domain import ops, order_keys
from sessions_app.domain.changes import AppendRows
from sessions_app.domain.checks import (
    check_actor,
    check_expected_version,
    check_int,
    check_message,
    check_metadata,
    check_name,
    check_usage,
)
from sessions_app.domain.errors import InvalidArgument, VersionConflict
from sessions_app.domain.ids import parse_session_id, session_not_found
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.live.events import send_event_on_commit, session_changed_event
from sessions_app.services.reads import SessionReads
from sessions_app.services.storage import (
    Applied,
    LockedRow,
    append_in_one_statement,
    apply_change,
    bump_and_record,
    db_value,
    insert_messages,
    lock_row,
    usage_fields,
)

# ---------------------------------------------------------------- the service


def content_limit() -> int:
    """The largest message content in UTF-8 bytes (read at call time: tests change the setting)."""
    return settings.ZYN_MAX_CONTENT_BYTES


def user_actor(user: Any) -> str:
    """How a signed-in person is recorded as an event's actor: their user name (API keys are
    "api:<key name>", which no user name can be: Django user names have no colon)."""
    return user.get_username()


class SessionService(SessionReads):
    """One persisted session. Instances hold only the id: every call reads or locks the database."""

    def __init__(self, session_id: uuid.UUID) -> None:
        self.id = session_id

    def __repr__(self) -> str:
        return f"SessionService({self.id})"

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
        new = [check_message(m, limit=content_limit()) for m in messages]
        new_usage = None if usage is None else check_usage(usage)
        who = check_actor(actor)
        args: dict[str, Any] = {
            "messages": [m.as_dict() for m in new],
            "usage": None if new_usage is None else new_usage.as_dict(),
        }
        if imported_from is not None:
            args["imported_from"] = str(imported_from)
        pk = session_id or uuid.uuid4()
        keys = order_keys.after(0, len(new))
        try:
            with transaction.atomic():
                row = models.Session.objects.create(
                    id=pk,
                    name=name,
                    metadata=metadata,
                    version=1,
                    message_count=len(new),
                    last_order_key=keys[-1] if keys else 0,
                    **({} if new_usage is None else usage_fields(new_usage)),
                )
                insert_messages(row.pk, keys, new)
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
        pk = parse_session_id(session_id)
        if not models.Session.objects.filter(pk=pk).exists():
            raise session_not_found(session_id)
        return cls(pk)

    # ------------------------------------------------------------ the write path
    # Public writes validate their pure arguments first (no transaction is opened for a
    # request that can never succeed: on SQLite, BEGIN IMMEDIATE would take the write lock),
    # then run inside transaction.atomic() with the session row locked.

    def _lock(self, expected_version: int | None) -> LockedRow:
        """Lock the session row for this transaction. Caller is inside transaction.atomic()."""
        row = lock_row(self.id)
        if row is None:
            raise session_not_found(self.id)
        if expected_version is not None and expected_version != row.version:
            raise VersionConflict(expected_version, row.version)
        return row

    def _commit(
        self,
        row: LockedRow,
        op: str,
        args: dict[str, Any],
        actor: str,
        *,
        message_count: int | None = None,
        last_key: int | None = None,
        usage: TokenUsage | None = None,
        clear_usage: bool = False,
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Bump the version, record the event and queue the broadcast. Caller holds the session lock."""
        version = row.version + 1
        fields: dict[str, Any] = {k: db_value(models.Session, k, v) for k, v in (details or {}).items()}
        if message_count is not None:
            fields["message_count"] = message_count
        if last_key is not None:
            fields["last_order_key"] = last_key
        if clear_usage:  # only restore: "no usage at that version" is a state, unlike set_usage(None)
            fields.update(usage_prompt=None, usage_completion=None, usage_total=None)
        if usage is not None:
            fields.update(usage_fields(usage))
        bump_and_record(row, version, fields, op, args, actor)
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

        PostgreSQL: one statement (``append_in_one_statement``). Outside a caller's transaction it
        runs without BEGIN/COMMIT: PostgreSQL runs a statement as its own transaction, so the lock,
        the rows and the event commit together, and Django runs the on-commit publish right after it.
        One round trip instead of six (BEGIN, lock, insert, bump, event, COMMIT).
        Elsewhere (SQLite), and when the one statement declines: the ordinary locked path.
        """
        if connection.vendor == "postgresql":
            version = append_in_one_statement(self.id, messages, expected_version, op, args, actor, usage)
            if version is not None:
                send_event_on_commit(session_changed_event(self.id, version, op))
                return version
            current = self.version()  # raises SessionNotFound
            if expected_version is not None and current != expected_version:
                raise VersionConflict(expected_version, current)
            # The session reached exactly the expected version after the statement saw it, or its
            # keys need a respace: the locked path below handles both.
        with transaction.atomic():
            row = self._lock(expected_version)
            applied = apply_change(row, AppendRows(tuple(messages))) if messages else Applied()
            count = row.message_count + len(messages) if messages else None
            return self._commit(
                row, op, args, actor, message_count=count, last_key=applied.last_key, usage=usage
            )

    # ------------------------------------------------------------ writes
    # The Session API's writes, each declared in domain/ops.py and run by ``write``.

    def write(
        self,
        op: str,
        args: Mapping[str, Any],
        *,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> int:
        """Run the Session API write ``op`` (a name in ``ops.API_WRITES``) with its arguments by name.

        The arguments are checked before any transaction (no BEGIN IMMEDIATE for a call that can
        never succeed), then the op's change is computed and applied under the session lock.
        """
        declared = ops.api_write(op)
        recorded = declared.record(args, content_limit=content_limit())
        expected, who = check_expected_version(expected_version), check_actor(actor)
        if declared.watch.kind == "appended":  # rows at the end and/or usage only
            change = declared.change(recorded, 0)
            new = list(change.messages) if isinstance(change, AppendRows) else []
            usage = declared.usage_after(recorded, None)
            return self._append(declared.name, new, recorded, who, expected, usage=usage)
        with transaction.atomic():
            return self._apply(self._lock(expected), declared, recorded, who)

    def _apply(self, row: LockedRow, op: ops.Op, recorded: dict[str, Any], actor: str) -> int:
        """Change the rows as ``op`` says, record what it changed and commit. Caller holds the lock."""
        change = op.change(recorded, row.message_count)
        applied = apply_change(row, change)
        recorded.update(op.outcome(change, row.message_count, applied.found))
        count = None if change is None else change.length_after(row.message_count)
        usage = op.usage_after(recorded, None)
        # A whole state without usage (a restore of a version that had none) clears it.
        clear_usage = op.usage is ops.Usage.WHOLE_STATE and usage is None
        return self._commit(
            row,
            op.name,
            recorded,
            actor,
            message_count=count,
            last_key=applied.last_key,
            usage=usage,
            clear_usage=clear_usage,
        )

    def append(
        self, role: str, content: str, *, expected_version: int | None = None, actor: str | None = None
    ) -> int:
        args = {"role": role, "content": content}
        return self.write("append", args, expected_version=expected_version, actor=actor)

    def clear(self, *, expected_version: int | None = None, actor: str | None = None) -> int:
        return self.write("clear", {}, expected_version=expected_version, actor=actor)

    def remove(self, index: int, *, expected_version: int | None = None, actor: str | None = None) -> int:
        return self.write("remove", {"index": index}, expected_version=expected_version, actor=actor)

    def replace(
        self, index: int, message: Message, *, expected_version: int | None = None, actor: str | None = None
    ) -> int:
        args = {"index": index, "message": message}
        return self.write("replace", args, expected_version=expected_version, actor=actor)

    def insert(
        self, index: int, message: Message, *, expected_version: int | None = None, actor: str | None = None
    ) -> int:
        args = {"index": index, "message": message}
        return self.write("insert", args, expected_version=expected_version, actor=actor)

    def prune(self, n: int, *, expected_version: int | None = None, actor: str | None = None) -> int:
        return self.write("prune", {"n": n}, expected_version=expected_version, actor=actor)

    def truncate(
        self,
        keep_first: int,
        keep_last: int,
        *,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> int:
        args = {"keep_first": keep_first, "keep_last": keep_last}
        return self.write("truncate", args, expected_version=expected_version, actor=actor)

    def set_messages(
        self,
        messages: Iterable[Message],
        *,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> int:
        return self.write(
            "set_messages", {"messages": messages}, expected_version=expected_version, actor=actor
        )

    def set_usage(
        self, usage: TokenUsage | None, *, expected_version: int | None = None, actor: str | None = None
    ) -> int:
        # Go's SetUsage(nil) keeps the previous usage; the call still counts as a write.
        return self.write("set_usage", {"usage": usage}, expected_version=expected_version, actor=actor)

    def move(
        self, from_index: int, to_index: int, *, expected_version: int | None = None, actor: str | None = None
    ) -> int:
        args = {"from_index": from_index, "to_index": to_index}
        return self.write("move", args, expected_version=expected_version, actor=actor)

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
        args = {"prompt": prompt, "response": response, "usage": usage}
        return self.write("record_exchange", args, expected_version=expected_version, actor=actor)

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
        check_int(version, "version", minimum=0)
        expected, who = check_expected_version(expected_version), check_actor(actor)
        with transaction.atomic():
            row = self._lock(expected)
            # Rebuilt under the lock: compact_events takes the same lock before it folds events away.
            state = history.state_at(row.pk, version, current_version=row.version)
            args = {
                "restored_version": version,
                "messages": [m.as_dict() for m in state.messages],
                "usage": None if state.usage is None else state.usage.as_dict(),
            }
            return self._apply(row, ops.OPS["restore"], args, who)

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

"""The op registry: every write a session's history can record, declared once.

An ``Op`` says its name, its arguments (``Param``: name and kind, which give the checks, the API's
schema and the recorded form), its pure semantics (``change``: recorded arguments and the length
before → a ``Change`` of the rows, or None), what it does to the usage, how history words it and
what a watcher receives. The service, the JSON API, replay, previews, history, live deltas, the admin
and the dashboard are built from or dispatched through ``OPS``; tests/test_op_registry.py fails when
one of them lacks an op. Pure Python: the stdlib-only client imports it too.

Adding an op: its declaration here, its storage in services/storage.py if it needs a new kind of
``Change``, and its tests.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sessions_app.domain.changes import (
    AppendRows,
    Change,
    DeleteRange,
    InsertRow,
    MoveRow,
    RemoveRow,
    ReplaceAll,
    ReplaceRow,
)
from sessions_app.domain.checks import (
    check_content,
    check_index,
    check_int,
    check_message,
    check_role,
    check_usage,
)
from sessions_app.domain.errors import InvalidArgument
from sessions_app.domain.types import Message, Role, TokenUsage
from sessions_app.domain.wording import (
    describe_details,
    describe_exchange,
    describe_import,
    describe_replace,
    describe_restore,
    describe_set_usage,
    message_words,
    plural,
    removed_words,
    snippet,
)


class Kind(enum.Enum):
    """An argument's kind: how it is checked, typed in the API's schema and recorded in the event."""

    POSITION = "position"  # an integer index; its range is the op's to check against the length
    COUNT = "count"  # an integer ≥ 0
    ROLE = "role"
    CONTENT = "content"  # message text, within the content limit
    MESSAGE = "message"  # {role, content}; recorded flattened: the event holds role and content
    MESSAGES = "messages"  # a list of messages
    USAGE = "usage"  # {prompt, completion, total} or None (None keeps the previous usage)


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind
    optional: bool = False  # may be left out (its value is then None)


class Usage(enum.Enum):
    """What an op does to the session's last usage."""

    KEPT = "kept"
    SET_IF_GIVEN = "set_if_given"  # the recorded "usage", when not None
    WHOLE_STATE = "whole_state"  # the recorded "usage", None included (a restore or an import)


@dataclass(frozen=True)
class Watch:
    """What a watcher's page receives: rows appended at the end (how many: none for a change of the
    header or the usage only), one row replaced in place, or a fresh window."""

    kind: str  # "appended" | "replaced" | "window"
    rows: int = 0


def appends(rows: int) -> Watch:
    return Watch("appended", rows)


REPLACED, WINDOW = Watch("replaced"), Watch("window")

Recorded = dict[str, Any]  # an event's args: JSON values only


@dataclass(frozen=True)
class Op:
    name: str
    summary: str  # one line, for the API's documentation
    params: tuple[Param, ...]
    change: Callable[[Recorded, int], Change | None]
    describe: Callable[[Recorded, bool], str]  # (args, brief): brief leaves out what a diff shows
    watch: Watch
    usage: Usage = Usage.KEPT
    charted: bool = False  # its recorded usage is a point of the session's usage chart
    api_write: bool = False  # a write of the Session API: a SessionService method and a POST route
    # What the write records of the rows it changed, beyond its arguments (see ``outcome``).
    records: str | None = None  # "removed_count" | "removed" | "previous"

    def outcome(self, change: Change | None, length: int, found: Message | None) -> Recorded:
        """The event's extra args: what a remove removed, what a replace replaced, how many rows went."""
        if self.records == "removed_count":
            removed = change.count if isinstance(change, DeleteRange) else length
            return {"removed_count": removed}
        if self.records in ("removed", "previous") and found is not None:
            return {self.records: found.as_dict()}
        return {}

    def usage_after(self, args: Mapping[str, Any], usage: TokenUsage | None) -> TokenUsage | None:
        recorded = args.get("usage")
        if self.usage is Usage.WHOLE_STATE or (self.usage is Usage.SET_IF_GIVEN and recorded is not None):
            return None if recorded is None else TokenUsage(**recorded)
        return usage

    def record(self, args: Mapping[str, Any], *, content_limit: int | None = None) -> Recorded:
        """Check the call's arguments (in the params' order) and give them as the event records them."""
        if not isinstance(args, Mapping):
            raise InvalidArgument(
                f"the arguments of {self.name} must be given by name (an object)", field="args"
            )
        recorded: Recorded = {}
        for param in self.params:
            value = args.get(param.name)
            if param.name not in args and not param.optional:
                raise InvalidArgument(f"{param.name} is required", field=param.name)
            recorded.update(_CHECKS[param.kind](value, param.name, content_limit))
        unknown = sorted(str(name)[:40] for name in set(args) - {p.name for p in self.params})
        if unknown:
            raise InvalidArgument(f"{self.name} takes no argument {unknown[0]!r}", field=unknown[0])
        return recorded


def _messages(value: object, limit: int | None) -> list[Message]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidArgument("messages must be a list of messages", field="messages")
    return [check_message(m, limit=limit) for m in value]


_CHECKS: dict[Kind, Callable[[Any, str, int | None], Recorded]] = {
    Kind.POSITION: lambda v, name, _: {name: check_int(v, name)},
    Kind.COUNT: lambda v, name, _: {name: check_int(v, name, minimum=0)},
    Kind.ROLE: lambda v, name, _: {name: check_role(v)},
    Kind.CONTENT: lambda v, name, limit: {name: check_content(v, name, limit=limit)},
    Kind.MESSAGE: lambda v, name, limit: check_message(v, limit=limit).as_dict(),
    Kind.MESSAGES: lambda v, name, limit: {name: [m.as_dict() for m in _messages(v, limit)]},
    Kind.USAGE: lambda v, name, _: {name: None if v is None else check_usage(v).as_dict()},
}


def _message(args: Mapping[str, Any]) -> Message:
    return Message(args["role"], args["content"])


def _all(args: Mapping[str, Any]) -> ReplaceAll:
    return ReplaceAll(tuple(_message(m) for m in args["messages"]))


def _insert(args: Recorded, length: int) -> InsertRow:
    check_index(args["index"], length, allow_end=True)
    return InsertRow(args["index"], _message(args))


def _replace(args: Recorded, length: int) -> ReplaceRow:
    check_index(args["index"], length)
    return ReplaceRow(args["index"], _message(args))


def _remove(args: Recorded, length: int) -> RemoveRow:
    check_index(args["index"], length)
    return RemoveRow(args["index"])


def _move(args: Recorded, length: int) -> MoveRow:
    check_index(args["from_index"], length)
    check_index(args["to_index"], length)
    return MoveRow(args["from_index"], args["to_index"])


def _truncate(args: Recorded, length: int) -> DeleteRange:
    """Keep the first keep_first and the last keep_last messages (all of them when they overlap)."""
    first, last = args["keep_first"], args["keep_last"]
    if first + last >= length:
        return DeleteRange(length, length)
    return DeleteRange(first, length - last)


def _exchange(args: Recorded, _length: int) -> AppendRows:
    return AppendRows((Message(Role.USER, args["prompt"]), Message(Role.ASSISTANT, args["response"])))


_INDEX, _MESSAGE = Param("index", Kind.POSITION), Param("message", Kind.MESSAGE)

OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op(
            "append",
            "Add a message to the end",
            (Param("role", Kind.ROLE), Param("content", Kind.CONTENT)),
            lambda a, n: AppendRows((_message(a),)),
            lambda a, brief: f"appended a message ({message_words(a)})",
            appends(1),
            api_write=True,
        ),
        Op(
            "insert",
            "Insert a message at index (0..len)",
            (_INDEX, _MESSAGE),
            _insert,
            lambda a, brief: f"inserted message {a['index']} ({message_words(a)})",
            WINDOW,
            api_write=True,
        ),
        Op(
            "replace",
            "Replace the message at index",
            (_INDEX, _MESSAGE),
            _replace,
            describe_replace,
            REPLACED,
            api_write=True,
            records="previous",
        ),
        Op(
            "remove",
            "Remove the message at index",
            (_INDEX,),
            _remove,
            lambda a, brief: f"removed message {a['index']} ({message_words(a.get('removed') or {})})",
            WINDOW,
            api_write=True,
            records="removed",
        ),
        Op(
            "move",
            "Move the message at from_index to to_index",
            (Param("from_index", Kind.POSITION), Param("to_index", Kind.POSITION)),
            _move,
            lambda a, brief: f"moved message {a['from_index']} to position {a['to_index']}",
            WINDOW,
            api_write=True,
        ),
        Op(
            "prune",
            "Remove the last n user+assistant pairs (2n messages)",
            (Param("n", Kind.COUNT),),
            lambda a, n: DeleteRange(max(0, n - 2 * a["n"]), n),
            lambda a, brief: f"pruned the last {plural(a['n'], 'pair')}{removed_words(a)}",
            WINDOW,
            api_write=True,
            records="removed_count",
        ),
        Op(
            "truncate",
            "Keep the first keep_first and last keep_last messages",
            (Param("keep_first", Kind.COUNT), Param("keep_last", Kind.COUNT)),
            _truncate,
            lambda a, brief: (
                f"truncated to first {a['keep_first']} + last {a['keep_last']}{removed_words(a)}"
            ),
            WINDOW,
            api_write=True,
            records="removed_count",
        ),
        Op(
            "clear",
            "Remove all messages",
            (),
            lambda a, n: DeleteRange(0, n),
            lambda a, brief: f"cleared all messages{removed_words(a)}",
            WINDOW,
            api_write=True,
            records="removed_count",
        ),
        Op(
            "set_messages",
            "Replace the whole history",
            (Param("messages", Kind.MESSAGES),),
            lambda a, n: _all(a),
            lambda a, brief: f"set all messages to {plural(len(a['messages']), 'message')}{removed_words(a)}",
            WINDOW,
            api_write=True,
            records="removed_count",
        ),
        Op(
            "set_usage",
            "Set the last token usage (null keeps the previous one)",
            (Param("usage", Kind.USAGE),),
            lambda a, n: None,
            describe_set_usage,
            appends(0),
            usage=Usage.SET_IF_GIVEN,
            charted=True,
            api_write=True,
        ),
        Op(
            "record_exchange",
            "Append a user prompt and the assistant response, and set usage: one version",
            (
                Param("prompt", Kind.CONTENT),
                Param("response", Kind.CONTENT),
                Param("usage", Kind.USAGE, True),
            ),
            _exchange,
            describe_exchange,
            appends(2),
            usage=Usage.SET_IF_GIVEN,
            charted=True,
            api_write=True,
        ),
        # Writes that are not Session API calls: made by the dashboard, the API's own routes and import.
        Op(
            "create",
            "Create an empty session (version 0: published, not recorded)",
            (),
            lambda a, n: None,
            lambda a, brief: "created the session",
            appends(0),
        ),
        Op(
            "update_details",
            "Rename the session and/or replace its metadata",
            (),
            lambda a, n: None,
            lambda a, brief: describe_details(a),
            appends(0),  # the header only
        ),
        Op(
            "restore",
            "Make the session what it was at a version (messages and usage)",
            (),
            lambda a, n: _all(a),
            describe_restore,
            WINDOW,
            usage=Usage.WHOLE_STATE,
            records="removed_count",
        ),
        Op(
            "import",
            "A new session holding imported messages and usage (its version 1)",
            (),
            lambda a, n: _all(a),
            describe_import,
            WINDOW,
            usage=Usage.WHOLE_STATE,
            charted=True,  # an import's usage is its last exchange's
        ),
    )
}

API_WRITES: dict[str, Op] = {name: op for name, op in OPS.items() if op.api_write}
CHARTED_OPS: tuple[str, ...] = tuple(name for name, op in OPS.items() if op.charted)


def api_write(name: str) -> Op:
    try:
        return API_WRITES[name]
    except KeyError:
        raise InvalidArgument(f"no write named {name[:40]!r}", field="op") from None


def apply(
    messages: list[Message], usage: TokenUsage | None, op: str, args: Mapping[str, Any]
) -> TokenUsage | None:
    """Apply one recorded write to ``messages`` in place; return the usage after it."""
    if op not in OPS:
        raise ValueError(f"unknown event op {op!r}")
    declared = OPS[op]
    change = declared.change(dict(args), len(messages))
    if change is not None:
        change.apply(messages)
    return declared.usage_after(args, usage)


def describe(op: str, args: Mapping[str, Any], *, brief: bool = False) -> str:
    """One event's operation and arguments in words, e.g. "truncated to first 1 + last 4 (12 removed)".

    ``brief``: without the contents that a diff shows (the history page).
    """
    if op not in OPS:
        return f"{op} {snippet(repr(args), 80)}"
    return OPS[op].describe(dict(args), brief)

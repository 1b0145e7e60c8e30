"""Events in words: what a write did, as the history page, the admin and exports say it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sessions_app.domain.types import TokenUsage


def snippet(content: str, limit: int = 40) -> str:
    """The start of a message on one line, quoted: '{"decision"…'."""
    text = " ".join(str(content).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'"


def _message(args: dict[str, Any]) -> str:
    return f"{args.get('role', '?')}: {snippet(args.get('content', ''))}"


def _removed(args: dict[str, Any]) -> str:
    count = args.get("removed_count")
    return "" if count is None else f" ({count} removed)"


def describe_usage(usage: dict[str, int] | TokenUsage | None) -> str:
    if usage is None:
        return "no usage"
    values = usage.as_dict() if isinstance(usage, TokenUsage) else usage
    return f"{values['prompt']} prompt + {values['completion']} completion = {values['total']} tokens"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def describe(op: str, args: dict[str, Any], *, brief: bool = False) -> str:
    """One event's operation and arguments in words, e.g. "truncated to first 1 + last 4 (12 removed)".

    ``brief``: without the contents that content_change shows as a diff (the history page).
    """
    if op == "create":
        return "created the session"
    if op == "append":
        return f"appended a message ({_message(args)})"
    if op == "clear":
        return f"cleared all messages{_removed(args)}"
    if op == "remove":
        return f"removed message {args['index']} ({_message(args.get('removed') or {})})"
    if op == "replace":
        previous = args.get("previous")
        if brief and previous:
            old_role, new_role = previous.get("role", "?"), args.get("role", "?")
            role = new_role if old_role == new_role else f"{old_role} → {new_role}"
            return f"replaced message {args['index']} ({role})"
        was = f" (was {_message(previous)})" if previous else ""
        return f"replaced message {args['index']} with {_message(args)}{was}"
    if op == "insert":
        return f"inserted message {args['index']} ({_message(args)})"
    if op == "prune":
        return f"pruned the last {_plural(args['n'], 'pair')}{_removed(args)}"
    if op == "truncate":
        return f"truncated to first {args['keep_first']} + last {args['keep_last']}{_removed(args)}"
    if op == "set_messages":
        return f"set all messages to {_plural(len(args['messages']), 'message')}{_removed(args)}"
    if op == "set_usage":
        if args.get("usage") is None:
            return "set usage to none (the previous usage stays)"
        return f"set usage to {describe_usage(args['usage'])}"
    if op == "move":
        return f"moved message {args['from_index']} to position {args['to_index']}"
    if op == "record_exchange":
        usage = "" if args.get("usage") is None else f", usage {describe_usage(args['usage'])}"
        return (
            f"recorded an exchange (user: {snippet(args['prompt'])} → "
            f"assistant: {snippet(args['response'])}){usage}"
        )
    if op == "restore":
        return (
            f"restored version {args.get('restored_version', '?')} "
            f"({_plural(len(args['messages']), 'message')}, {describe_usage(args.get('usage'))})"
            f"{_removed(args)}"
        )
    if op == "update_details":
        return describe_details(args)
    if op == "import":
        usage = "" if args.get("usage") is None else f", usage {describe_usage(args['usage'])}"
        source = (
            f" (as a new session; its file gave id {args['imported_from']})"
            if args.get("imported_from")
            else ""
        )
        return f"imported {_plural(len(args['messages']), 'message')}{usage}{source}"
    return f"{op} {snippet(repr(args), 80)}"


def describe_details(args: dict[str, Any]) -> str:
    """ "renamed 'a' → 'b'; metadata changed: program 'x' → 'y', added tier, removed owner"."""
    parts = []
    if "name" in args:
        parts.append(f"renamed {snippet(args.get('previous_name', ''))} → {snippet(args['name'])}")
    if "metadata" in args:
        old, new = args.get("previous_metadata") or {}, args["metadata"] or {}
        changes = [
            f"{key[:40]} {snippet(_json_text(old[key]))} → {snippet(_json_text(new[key]))}"
            for key in new
            if key in old and old[key] != new[key]
        ]
        changes += [f"added {key[:40]} = {snippet(_json_text(new[key]))}" for key in new if key not in old]
        changes += [f"removed {key[:40]}" for key in old if key not in new]
        shown = ", ".join(changes[:5]) + (f" and {len(changes) - 5} more" if len(changes) > 5 else "")
        parts.append(f"metadata changed: {shown}" if changes else "metadata set (unchanged)")
    return "; ".join(parts)


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (ValueError, RecursionError):  # a value stored before metadata was checked
        return "…"


@dataclass(frozen=True)
class ContentChange:
    """A text an event turned into another: a replaced message's content, the session's name."""

    what: str  # "content" | "name"
    old: str
    new: str


def content_change(op: str, args: dict[str, Any]) -> ContentChange | None:
    if op == "replace" and isinstance(args.get("previous"), dict):
        previous = str(args["previous"].get("content", ""))
        return ContentChange("content", previous, str(args.get("content", "")))
    if op == "update_details" and "name" in args:
        return ContentChange("name", str(args.get("previous_name", "")), str(args["name"]))
    return None

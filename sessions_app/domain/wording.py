"""Small pieces of the words history uses for events: quoted snippets, plurals, usage and details."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sessions_app.domain.types import TokenUsage


def snippet(content: str, limit: int = 40) -> str:
    """The start of a message on one line, quoted: '{"decision"…'."""
    text = " ".join(str(content).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def message_words(message: Mapping[str, Any]) -> str:
    """ "user: 'Hello…'" of a recorded message ({role, content})."""
    return f"{message.get('role', '?')}: {snippet(message.get('content', ''))}"


def removed_words(args: Mapping[str, Any]) -> str:
    count = args.get("removed_count")
    return "" if count is None else f" ({count} removed)"


def describe_usage(usage: Mapping[str, int] | TokenUsage | None) -> str:
    if usage is None:
        return "no usage"
    values = usage.as_dict() if isinstance(usage, TokenUsage) else usage
    return f"{values['prompt']} prompt + {values['completion']} completion = {values['total']} tokens"


def describe_details(args: Mapping[str, Any]) -> str:
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


# ---------------------------------------------------------------- words of single ops (domain/ops.py)


def describe_replace(args: Mapping[str, Any], brief: bool) -> str:
    previous = args.get("previous")
    if brief and previous:
        old_role, new_role = previous.get("role", "?"), args.get("role", "?")
        role = new_role if old_role == new_role else f"{old_role} → {new_role}"
        return f"replaced message {args['index']} ({role})"
    was = f" (was {message_words(previous)})" if previous else ""
    return f"replaced message {args['index']} with {message_words(args)}{was}"


def describe_set_usage(args: Mapping[str, Any], _brief: bool) -> str:
    if args.get("usage") is None:
        return "set usage to none (the previous usage stays)"
    return f"set usage to {describe_usage(args['usage'])}"


def usage_words(args: Mapping[str, Any]) -> str:
    return "" if args.get("usage") is None else f", usage {describe_usage(args['usage'])}"


def describe_exchange(args: Mapping[str, Any], _brief: bool) -> str:
    return (
        f"recorded an exchange (user: {snippet(args['prompt'])} → "
        f"assistant: {snippet(args['response'])}){usage_words(args)}"
    )


def describe_restore(args: Mapping[str, Any], _brief: bool) -> str:
    return (
        f"restored version {args.get('restored_version', '?')} "
        f"({plural(len(args['messages']), 'message')}, {describe_usage(args.get('usage'))})"
        f"{removed_words(args)}"
    )


def describe_import(args: Mapping[str, Any], _brief: bool) -> str:
    source = (
        f" (as a new session; its file gave id {args['imported_from']})" if args.get("imported_from") else ""
    )
    return f"imported {plural(len(args['messages']), 'message')}{usage_words(args)}{source}"


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (ValueError, RecursionError):  # a value stored before metadata was checked
        return "…"

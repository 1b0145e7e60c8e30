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


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (ValueError, RecursionError):  # a value stored before metadata was checked
        return "…"

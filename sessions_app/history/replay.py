"""Rebuild a session's messages and usage from its event log (pure Python, no database)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sessions_app.domain.types import Event, Message, TokenUsage


def apply_event(
    messages: list[Message], usage: TokenUsage | None, op: str, args: dict[str, Any]
) -> TokenUsage | None:
    """Apply one recorded write to ``messages`` in place; return the usage after it."""
    if op == "append":
        messages.append(Message(args["role"], args["content"]))
    elif op == "clear":
        messages.clear()
    elif op == "remove":
        del messages[args["index"]]
    elif op == "replace":
        messages[args["index"]] = Message(args["role"], args["content"])
    elif op == "insert":
        messages.insert(args["index"], Message(args["role"], args["content"]))
    elif op == "prune":
        del messages[max(0, len(messages) - 2 * args["n"]) :]
    elif op == "truncate":
        first, last = args["keep_first"], args["keep_last"]
        if first + last < len(messages):
            del messages[first : len(messages) - last]
    elif op in ("set_messages", "restore", "import"):
        messages[:] = [Message(m["role"], m["content"]) for m in args["messages"]]
        if op in ("restore", "import"):  # the whole state: usage too
            return None if args.get("usage") is None else TokenUsage(**args["usage"])
    elif op == "set_usage":
        if args["usage"] is not None:
            return TokenUsage(**args["usage"])
    elif op == "move":
        moved = messages.pop(args["from_index"])
        messages.insert(args["to_index"], moved)
    elif op == "record_exchange":
        messages.append(Message("user", args["prompt"]))
        messages.append(Message("assistant", args["response"]))
        if args["usage"] is not None:
            return TokenUsage(**args["usage"])
    elif op == "update_details":
        pass  # name and metadata: neither messages nor usage change
    else:
        raise ValueError(f"unknown event op {op!r}")
    return usage


def replay(events: Iterable[Event]) -> tuple[list[Message], TokenUsage | None]:
    messages: list[Message] = []
    usage: TokenUsage | None = None
    for event in events:
        usage = apply_event(messages, usage, event.op, event.args)
    return messages, usage

"""Rebuild a session's messages and usage from its event log (pure Python, no database)."""

from __future__ import annotations

from collections.abc import Iterable

from sessions_app.domain.ops import apply as apply_event
from sessions_app.domain.types import Event, Message, TokenUsage

__all__ = ["apply_event", "replay"]


def replay(events: Iterable[Event]) -> tuple[list[Message], TokenUsage | None]:
    messages: list[Message] = []
    usage: TokenUsage | None = None
    for event in events:
        usage = apply_event(messages, usage, event.op, event.args)
    return messages, usage

"""Events in words. Each op's words are declared with the op (domain/ops.py); what history adds here is
which text an event turned into another, for the word diff of the history page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sessions_app.domain.ops import describe
from sessions_app.domain.wording import describe_details, describe_usage, snippet

__all__ = ["ContentChange", "content_change", "describe", "describe_details", "describe_usage", "snippet"]


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

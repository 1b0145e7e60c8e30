"""Template helpers for showing message content safely.

Nothing here marks user content safe: the filters return plain strings and structures that the
templates print with autoescaping, so content is always text, never HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django import template

from sessions_app.display import pretty_json

register = template.Library()

FOLD_CHARS = 1500  # longer content is folded behind "show all"
FOLD_LINES = 24


@dataclass(frozen=True)
class ContentView:
    kind: str  # "json" or "text"
    text: str  # what is shown (pretty-printed JSON, or the text as is)
    folded: bool  # only the start of text is shown
    hidden_chars: int  # characters not shown when folded
    summary: str  # for JSON: "object · 4 keys"
    total_chars: int


def _fold(text: str) -> tuple[str, bool, int]:
    lines = text.split("\n")
    shown = text
    if len(lines) > FOLD_LINES:
        shown = "\n".join(lines[:FOLD_LINES])
    if len(shown) > FOLD_CHARS:
        shown = shown[:FOLD_CHARS]
    folded = len(shown) < len(text)
    return shown, folded, len(text) - len(shown)


@register.filter
def content_view(message: Any, full_index: int | None = None) -> ContentView:
    """How to show one message: JSON pretty-printed, long text folded unless it is the ``full_index`` row.

    A row whose search words are marked (selectors.mark_search_words) carries its view already.
    """
    marked = getattr(message, "marked", None)
    if marked is not None:
        return marked
    content = message.content or ""
    full = full_index is not None and full_index == message.position
    kind, text, summary = "text", content, ""
    pretty = pretty_json(content)
    if pretty is not None:
        noun = "key" if pretty.kind == "object" else "item"
        kind, text = "json", pretty.text
        summary = f"{pretty.kind} · {pretty.items} {noun}{'' if pretty.items == 1 else 's'}"
    if full:
        return ContentView(kind, text, False, 0, summary, len(content))
    shown, folded, hidden = _fold(text)
    return ContentView(kind, shown, folded, hidden, summary, len(content))


@register.simple_tag
def query(base: dict[str, Any] | None = None, **overrides: Any) -> str:
    """A query string from a dict plus overrides; empty values are dropped."""
    values = dict(base or {})
    values.update(overrides)
    clean = {k: v for k, v in values.items() if v not in (None, "")}
    return "?" + urlencode(clean) if clean else "?"


@register.filter
def field_value(values: dict[str, Any], name: str) -> Any:
    """A value the operator typed, for re-showing a form after an error (QueryDict or dict)."""
    if not values:
        return ""
    return values.get(name, "")


@register.filter
def urlencode_dict(values: dict[str, Any]) -> str:
    """A dict as a query string (without the "?")."""
    return urlencode(values or {})


@register.filter
def metadata_tags(metadata: Any) -> list[tuple[str, str]]:
    """Metadata as short (key, value) pairs, JSON-style (true, not True)."""
    from sessions_app.selectors import metadata_tags as tags

    return tags(metadata)

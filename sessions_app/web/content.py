"""How one message's content is shown: pretty, highlighted JSON folded to an outline, a rendered prompt
with its schema folded, long text folded behind "show all". The templates print the views with
autoescaping; only highlighted JSON is markup, and Pygments escapes every token (web/highlight.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.safestring import SafeString

from sessions_app.web.display import json_outline, pretty_json, schema_outline, split_schema
from sessions_app.web.highlight import highlight_json

FOLD_CHARS = 1500  # longer content is folded behind "show all"
FOLD_LINES = 24
FOLD_JSON_LINES = 6  # pretty JSON longer than this starts closed, as its one-line outline
# A prompt's schema has a fold of its own, so it may show more before "show all".
SCHEMA_FOLD_CHARS = 12_000
SCHEMA_FOLD_LINES = 200


@dataclass(frozen=True)
class Fold:
    """A part of a message shown in a ``<details>``: its outline when closed, its text when open."""

    text: str  # the part's text as shown when open (pretty JSON, or the text as written)
    html: SafeString | None  # text highlighted, when it is JSON; None: show text
    outline: str  # "{ primary, secondary, confidence }"
    count: str  # "3 keys"
    open: bool  # starts open


@dataclass(frozen=True)
class ContentView:
    kind: str  # "json" or "text"
    text: str  # what is shown: the pretty JSON, or the text (a prompt's: before its schema)
    folded: bool  # only the start of some part is shown
    hidden_chars: int  # characters not shown when folded
    total_chars: int
    json: Fold | None = None  # kind "json": the document
    schema: Fold | None = None  # a rendered prompt's "Response JSON Schema:" section
    tail: str = ""  # a rendered prompt's text after its schema


def _fold(text: str, lines: int = FOLD_LINES, chars: int = FOLD_CHARS, whole_lines: bool = False):
    """(the start of text that is shown, whether some is hidden, how many characters are hidden)."""
    split = text.split("\n", lines)
    shown = "\n".join(split[:lines]) if len(split) > lines else text
    if len(shown) > chars:
        # JSON is cut at a line's end (no half token at the end), unless that would hide much of it.
        cut = shown.rfind("\n", chars // 2, chars) if whole_lines else -1
        shown = shown[: cut if cut > 0 else chars]
    folded = len(shown) < len(text)
    return shown, folded, len(text) - len(shown)


def _json_view(content: str, full: bool) -> ContentView | None:
    pretty = pretty_json(content)
    if pretty is None:
        return None
    shown, folded, hidden = (pretty.text, False, 0) if full else _fold(pretty.text, whole_lines=True)
    outline, count = json_outline(pretty)
    is_short = pretty.text.count("\n") < FOLD_JSON_LINES
    fold = Fold(shown, highlight_json(shown), outline, count, open=full or is_short)
    return ContentView("json", shown, folded, hidden, len(content), json=fold)


def _prompt_view(content: str, full: bool) -> ContentView | None:
    parts = split_schema(content)
    if parts is None:
        return None
    head, tail = parts.head.rstrip("\n"), parts.tail.lstrip("\n")
    pretty = pretty_json(parts.schema)
    schema_text = parts.schema if pretty is None else pretty.text
    if full:
        hidden = 0
    else:
        head, head_folded, head_hidden = _fold(head)
        schema_text, _, schema_hidden = _fold(schema_text, SCHEMA_FOLD_LINES, SCHEMA_FOLD_CHARS, True)
        tail, _, tail_hidden = _fold(tail)
        hidden = head_hidden + schema_hidden + tail_hidden
    if pretty is None:
        schema = Fold(schema_text, None, "", "", open=False)
    else:
        schema = Fold(schema_text, highlight_json(schema_text), *schema_outline(pretty), open=False)
    return ContentView("text", head, hidden > 0, hidden, len(content), schema=schema, tail=tail)


def content_view(message: Any, full_index: int | None = None) -> ContentView:
    """How to show one message: JSON pretty-printed and highlighted (folded to an outline when long), a
    rendered prompt with its schema folded, long text folded unless it is the ``full_index`` row.

    A row whose search words are marked (web.search_marks.mark_search_words) carries its view already.
    """
    marked = getattr(message, "marked", None)
    if marked is not None:
        return marked
    content = message.content or ""
    full = full_index is not None and full_index == message.position
    view = _json_view(content, full) or _prompt_view(content, full)
    if view is not None:
        return view
    shown, folded, hidden = (content, False, 0) if full else _fold(content)
    return ContentView("text", shown, folded, hidden, len(content))

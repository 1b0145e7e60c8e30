"""How stored text is shown: the one decision "pretty JSON or plain text", which cannot raise for any str.

Message content is arbitrary text (deep nesting, 5,000-digit numbers, ``NaN``, ``"\\ud800"`` escapes …):
anything a writer could store must render on every page, partial, live frame and export. So content is
never turned into Python values for display. JSON is *re-indented token by token*: every string and
number is shown exactly as it was written (no float rounding, no int-size limit, escapes kept), only the
whitespace between tokens changes, and the result therefore parses back to the same value. Whatever is
not shown as JSON is shown as the text itself. Nothing here marks text safe: templates escape it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# Past these, content is shown as text: parsing costs more than a page may spend, deeper nesting is
# not readable as indentation (and json.loads recurses once per level), and a pretty form may not grow
# past the largest content a message may hold.
MAX_JSON_CHARS = 200_000
MAX_JSON_DEPTH = 64
MAX_PRETTY_CHARS = 1_048_576
INDENT = "  "
JSON_WHITESPACE = " \t\n\r"  # RFC 8259; str.strip() would also drop text such as U+00A0

# A JSON text's tokens once json.loads has accepted it: strings (escapes included), punctuation, and
# the rest (numbers, true, false, null). Whitespace between tokens is what finditer skips.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],:]|[^ \t\n\r{}\[\],:"]+', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class PrettyJson:
    text: str  # the document indented like json.dumps(indent=2), every token as written
    kind: str  # "object" or "list"
    items: int  # keys of the object / items of the list


def pretty_json(content: str) -> PrettyJson | None:
    """``content`` indented when it is one JSON object or array we can show, else None (show the text)."""
    text = content.strip(JSON_WHITESPACE)
    if text[:1] not in ("{", "[") or len(text) > MAX_JSON_CHARS:
        return None
    # Indent first: the token pass is iterative and stops at MAX_JSON_DEPTH, so json.loads below never
    # meets nesting deep enough to recurse out of the stack.
    pretty = _indent(text)
    if pretty is None or not _is_json(text):
        return None
    return pretty


# Line breaks with the indentation of each depth, shared by every line at that depth.
_BREAKS = ["\n" + INDENT * depth for depth in range(MAX_JSON_DEPTH + 1)]
_COMMAS = ["," + line for line in _BREAKS]


def _indent(text: str) -> PrettyJson | None:
    # The hot loop of a page showing large JSON: 160 KB takes ~26 ms with the check, as long as
    # json.dumps(json.loads()) took.
    parts: list[str] = []
    append = parts.append
    depth = top_commas = 0
    opened = False  # the previous token opened an object or array: an empty one stays "[]"
    for token in _TOKEN.findall(text):
        if token == "}" or token == "]":
            depth -= 1
            if depth < 0:
                return None
            if not opened:
                append(_BREAKS[depth])
            opened = False
            append(token)
        elif token == ",":
            top_commas += depth == 1
            append(_COMMAS[depth])
        elif token == ":":
            append(": ")
        else:
            if opened:
                append(_BREAKS[depth])
            opened = token == "{" or token == "["
            if opened:
                depth += 1
                if depth > MAX_JSON_DEPTH:
                    return None
            append(token)
    if sum(map(len, parts)) > MAX_PRETTY_CHARS:
        return None
    empty = len(parts) < 2 or parts[1] in ("}", "]")
    kind = "object" if text[0] == "{" else "list"
    return PrettyJson("".join(parts), kind, 0 if empty else top_commas + 1)


def _refuse(literal: str) -> None:
    raise ValueError(f"{literal} is not JSON")


def _is_json(text: str) -> bool:
    """RFC 8259 JSON: no NaN/Infinity (Python's extension); numbers are checked but never converted (a
    5,000-digit integer is valid JSON, while int() would refuse it)."""
    try:
        json.loads(text, parse_int=len, parse_float=len, parse_constant=_refuse, object_pairs_hook=len)
    except (ValueError, RecursionError):
        return False
    return True


def display_text(text: str) -> str:
    """Text that can always be sent as UTF-8: an unpaired surrogate (which no validated write stores,
    but a JSON value decoded from ``"\\ud800"`` holds) is shown as U+FFFD instead of failing the page."""
    return _SURROGATE.sub("\ufffd", text)


def json_value_text(value: Any) -> str:
    """A stored JSON value (metadata) as compact JSON, or strings as they are; never raises."""
    if isinstance(value, str):
        return display_text(value)
    try:
        return display_text(json.dumps(value, ensure_ascii=False))
    except (ValueError, TypeError, RecursionError):
        return "(a value too large to show)"


# ---------------------------------------------------------------- one-line summaries of folded content

OUTLINE_CHARS = 60  # the keys a fold's summary names, at most about this long
# In pretty text (``_indent``), a line at depth d starts with exactly 2·d spaces; a direct child of the
# top object is a key at depth 1, and a property of a schema's top-level "properties" one at depth 2.
_TOP_KEY = re.compile(r'^  ("[^"\\]*(?:\\.[^"\\]*)*"): ', re.MULTILINE)
_PROPERTY_KEY = re.compile(r'    ("[^"\\]*(?:\\.[^"\\]*)*"): ')


def _key_name(token: str) -> str:
    try:
        name = json.loads(token)
    except ValueError:
        return token
    return display_text(name) if isinstance(name, str) else token


def _name_list(names: list[str], opener: str, closer: str) -> str:
    shown: list[str] = []
    for name in names:
        if shown and len(", ".join([*shown, name])) > OUTLINE_CHARS:
            return f"{opener} {', '.join(shown)} … {closer}"
        shown.append(name)
    return f"{opener} {', '.join(shown)} {closer}" if shown else f"{opener}{closer}"


def _plural(n: int, noun: str, nouns: str = "") -> str:
    return f"{n:,} {noun if n == 1 else nouns or noun + 's'}"


def json_outline(pretty: PrettyJson) -> tuple[str, str]:
    """(the top-level keys as ``{ a, b, c … }`` or ``[ … ]``, their count as "3 keys" / "12 items")."""
    if pretty.kind == "list":
        return ("[ … ]" if pretty.items else "[]"), _plural(pretty.items, "item")
    keys = [_key_name(token) for token in _TOP_KEY.findall(pretty.text)]
    return _name_list(keys, "{", "}"), _plural(pretty.items, "key")


def schema_outline(pretty: PrettyJson) -> tuple[str, str]:
    """A JSON Schema's property names (its top-level ``"properties"``) and their count, else its keys."""
    lines = pretty.text.split("\n")
    try:
        start = lines.index('  "properties": {')
    except ValueError:
        return json_outline(pretty)
    names = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break  # the object's closing "  }"
        if match := _PROPERTY_KEY.match(line):
            names.append(_key_name(match.group(1)))
    return _name_list(names, "{", "}"), _plural(len(names), "property", "properties")


# ---------------------------------------------------------------- a synapse's rendered prompt

# "Task: …\n\nInput: …\n\nResponse JSON Schema:\n{…}\n\nRespond with JSON only.": the schema runs from its
# heading to the next blank line (a pretty or compact JSON document has none) or the end.
_SCHEMA_HEADING = re.compile(
    r"^[ \t]*Response JSON Schema:[ \t]*(?:\n|(?=[{\[]))", re.MULTILINE | re.IGNORECASE
)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class PromptParts:
    head: str  # the text before the schema's heading
    schema: str  # the schema as written
    tail: str  # the text after it (from its blank line on), "" when the schema ends the prompt


def split_schema(content: str) -> PromptParts | None:
    """A rendered prompt cut around its "Response JSON Schema:" section, or None when it has none."""
    heading = _SCHEMA_HEADING.search(content)
    if heading is None:
        return None
    rest = content[heading.end() :]
    end = _BLANK_LINE.search(rest)
    schema, tail = (rest[: end.start()], rest[end.start() :]) if end else (rest, "")
    if not schema.strip():
        return None
    return PromptParts(content[: heading.start()], schema, tail)

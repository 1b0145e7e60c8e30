"""Syntax highlighting of the JSON the dashboard shows, by Pygments (server-side, CSS classes only).

The Content-Security-Policy allows no inline ``<style>`` and no inline ``style`` on content, so the
highlighter emits ``<span class="…">`` with Pygments' standard class names, and the colours come from
two static style sheets Pygments writes (``python -m sessions_app.web.highlight``): one for light mode and
one for dark, linked by the detail page with ``media`` queries. Highlighting only ever wraps the text:
what a reader sees is exactly the pretty text (tests/test_content_rendering.py checks it for any text).
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers.data import JsonLexer

SCOPE = ".hl"  # the class of the <pre> that holds highlighted text
LIGHT_STYLE, DARK_STYLE = "default", "github-dark"
STYLE_SHEETS = {
    "highlight-light.css": LIGHT_STYLE,
    "highlight-dark.css": DARK_STYLE,
}
STATIC_DIR = Path(__file__).resolve().parents[2] / "static" / "sessions_app"
# Pygments makes ~7 bytes of markup per byte of JSON at ~1 ms per KB: past this, the text is shown plain
# (only a "Show all" of a very large document gets there; folded content is at most a few KB).
MAX_HIGHLIGHT_CHARS = 100_000

# No stripping, no added newline: the tokens cover the text exactly as given.
_LEXER = JsonLexer(stripnl=False, ensurenl=False)
_FORMATTER = HtmlFormatter(nowrap=True)


def highlight_json(text: str) -> SafeString:
    """``text`` (JSON, or the start of it) as escaped HTML with highlighted tokens; never raises.

    Any text is accepted (the lexer marks what it cannot read as an error token); text too long to
    highlight, or anything the highlighter fails on, comes back escaped and unhighlighted."""
    if len(text) > MAX_HIGHLIGHT_CHARS or "\r" in text or text.startswith("\ufeff"):
        return escape(text)  # (the lexer reads \r as \n and drops a leading BOM: not as written)
    try:
        html = highlight(text, _LEXER, _FORMATTER)
    except Exception:  # noqa: BLE001 - stored content must render whatever a library does with it
        return escape(text)
    if html.endswith("\n") and not text.endswith("\n"):
        html = html[:-1]  # the formatter ends its last line with a newline of its own
    return mark_safe(html)  # noqa: S308 - Pygments escapes every token's text


def style_sheet(style: str) -> str:
    """The CSS of a Pygments style for the tokens under SCOPE (no background: the page's own)."""
    header = f"/* Pygments {style!r} token colours under {SCOPE}; made by"
    header += " `python -m sessions_app.web.highlight`. */"
    rules = HtmlFormatter(style=style).get_token_style_defs(SCOPE)
    return "\n".join([header, *rules]) + "\n"


def write_style_sheets(directory: Path = STATIC_DIR) -> list[Path]:
    written = []
    for name, style in STYLE_SHEETS.items():
        path = directory / name
        path.write_text(style_sheet(style), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_style_sheets():
        sys.stdout.write(f"wrote {path}\n")

"""Rendering of a word diff's pieces (sessions_app.history.word_diff) as <del>/<ins> markup.

Every piece's text goes through format_html, which escapes it: stored content stays text. Built here
rather than in a template loop because a diff may hold a few thousand pieces and fifty diffs share a page.
"""

from __future__ import annotations

from collections.abc import Iterable

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from sessions_app.history.word_diff import Piece

register = template.Library()

_MARKUP = {
    "same": "{}",
    "deleted": "<del>{}</del>",
    "inserted": "<ins>{}</ins>",
    # A folded stretch: only its length is shown (the text is in the "Show all" view).
    "gap": '<span class="gap" title="{} characters folded">…</span>',
}


def _args(piece: Piece) -> tuple[object]:
    return (f"{len(piece.text):,}",) if piece.kind == "gap" else (piece.text,)


@register.filter
def diff_pieces(pieces: Iterable[Piece]) -> SafeString:
    # Each part is already escaped by format_html; joining them keeps them safe.
    return mark_safe("".join(format_html(_MARKUP[p.kind], *_args(p)) for p in pieces))  # noqa: S308

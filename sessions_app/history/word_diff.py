"""Word-level diff of two texts, for history entries where one content became another.

Python's difflib (stdlib, maintained with CPython) on word tokens: the one diff engine the project already
uses for message lists (history.diff). diff-match-patch diffs characters (words need its line-encoding trick)
and redlines renders its own HTML with inline styles, which the CSP and the templates keep out.

Any stored text is accepted: the unchanged start and end are cut off at character level first (a one-word
edit of a 1 MB message compares a few words), and a changed middle over MAX_TOKENS tokens, or more than
a page's ``budget``, is not compared at all (``too_long``): SequenceMatcher is quadratic at worst, ~45 ms at
2,000 tokens of a small vocabulary (0.5 s at 4,000).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

MAX_TOKENS = 2_000  # per side of the changed middle (words, spaces and marks: ~1,000 words)
MAX_MIDDLE_CHARS = 40_000  # a middle longer than this is not even split into words
PAGE_BUDGET = 12_000  # tokens compared for one page (50 history entries or 500 diff entries)
CONTEXT_TOKENS = 10  # unchanged tokens (~5 words) kept on each side of a change when folded
FOLD_CHARS = 400  # a diff whose text is longer than this is shown folded
FOLDED_PIECE_CHARS = 200  # a deleted/inserted run longer than this is cut in the folded view
BOUNDARY_WINDOW = 200  # how far a cut moves back to a word boundary
_CHUNK = 65_536

# A word (or a number such as 1,284.50), a run of white space, or one punctuation mark. White space is
# common enough for autojunk to skip it as a seed, but matches still extend over it.
_TOKEN = re.compile(r"\d+(?:[.,]\d+)+|\w+|\s+|[^\w\s]")
_LAST_ANCHOR = re.compile(r"(?s).*\s(?=\S)")
_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class Piece:
    kind: str  # "same" | "deleted" | "inserted" | "gap" (folded text; ``text`` is what was left out)
    text: str


@dataclass(frozen=True)
class WordDiff:
    pieces: tuple[Piece, ...] = ()  # empty when too_long
    too_long: bool = False
    old_chars: int = 0  # length of the changed middle, old side (for the too-long summary)
    new_chars: int = 0
    folded: tuple[Piece, ...] = field(default=())  # empty when the whole diff is short enough to show

    @property
    def old_text(self) -> str:
        return "".join(p.text for p in self.pieces if p.kind in ("same", "deleted"))

    @property
    def new_text(self) -> str:
        return "".join(p.text for p in self.pieces if p.kind in ("same", "inserted"))

    @property
    def length(self) -> int:
        return sum(len(p.text) for p in self.pieces)

    @property
    def unchanged(self) -> bool:
        return not self.too_long and all(p.kind == "same" for p in self.pieces)


def _common_prefix(a: str, b: str) -> int:
    """Length of the common start: slice comparisons (C speed) a chunk at a time, then a binary search
    inside the first chunk that differs."""
    limit = min(len(a), len(b))
    low = 0
    while low + _CHUNK <= limit and a[low : low + _CHUNK] == b[low : low + _CHUNK]:
        low += _CHUNK
    high = min(limit, low + _CHUNK)
    while low < high:
        mid = (low + high + 1) // 2
        if a[low:mid] == b[low:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _common_suffix(a: str, b: str) -> int:
    return _common_prefix(a[::-1], b[::-1])


def _anchor(text: str, at: int) -> int | None:
    """A token start before ``at`` found without tokenizing from the beginning: 0, or the first character
    after white space."""
    start = max(0, at - BOUNDARY_WINDOW)
    found = _LAST_ANCHOR.match(text, start, at)
    return found.end() if found else (0 if start == 0 else None)


def _token_starts(text: str, anchor: int, low: int, high: int) -> list[int]:
    """Where tokens start in ``low..high`` (the end of ``text`` counts), tokenizing from ``anchor``."""
    starts = []
    for token in _TOKEN.finditer(text, anchor):
        if token.start() > high:
            return starts
        if token.start() >= low:
            starts.append(token.start())
    return [*starts, len(text)] if low <= len(text) <= high else starts


def _prefix_cut(old: str, new: str, prefix: int) -> int:
    """The end of the shared start, moved back to where a token starts in both texts (no word split)."""
    anchor = _anchor(old, prefix)  # the same in new: the texts agree before ``prefix``
    if anchor is None:  # no white space just before: cut where the texts part
        return prefix
    in_new = set(_token_starts(new, anchor, anchor, prefix))
    return max(start for start in _token_starts(old, anchor, anchor, prefix) if start in in_new)


def _suffix_cut(old: str, new: str, suffix: int) -> int:
    """Where the shared end starts in ``old``, moved forward to where a token starts in both texts."""
    start, shift = len(old) - suffix, len(new) - len(old)
    anchor_old, anchor_new = _anchor(old, start), _anchor(new, start + shift)
    if anchor_old is None or anchor_new is None:
        return start
    end = start + BOUNDARY_WINDOW
    in_new = {at - shift for at in _token_starts(new, anchor_new, start + shift, end + shift)}
    return next((at for at in _token_starts(old, anchor_old, start, end) if at in in_new), start)


class WordDiffer:
    """Diffs texts within one page's budget of compared tokens."""

    def __init__(self, budget: int = PAGE_BUDGET) -> None:
        self.budget = budget

    def diff(self, old: str, new: str) -> WordDiff:
        old, new = str(old), str(new)
        if old == new:
            return WordDiff(pieces=(Piece("same", old),) if old else ())
        prefix = _prefix_cut(old, new, _common_prefix(old, new))
        old_end = _suffix_cut(old, new, _common_suffix(old[prefix:], new[prefix:]))
        new_end = old_end - len(old) + len(new)
        middle_old, middle_new = old[prefix:old_end], new[prefix:new_end]
        too_long = WordDiff(too_long=True, old_chars=len(middle_old), new_chars=len(middle_new))
        if max(len(middle_old), len(middle_new)) > MAX_MIDDLE_CHARS:
            return too_long
        a, b = _TOKEN.findall(middle_old), _TOKEN.findall(middle_new)
        if max(len(a), len(b)) > MAX_TOKENS or len(a) + len(b) > self.budget:
            return too_long
        self.budget -= len(a) + len(b)
        pieces: list[Piece] = []
        _add(pieces, "same", old[:prefix])
        for unchanged, old_part, new_part in _merged_changes(a, b):
            if unchanged:
                _add(pieces, "same", old_part)
            else:
                _add(pieces, "deleted", old_part)
                _add(pieces, "inserted", new_part)
        _add(pieces, "same", old[old_end:])
        result = tuple(pieces)
        length = sum(len(p.text) for p in result)
        return WordDiff(
            pieces=result,
            old_chars=len(middle_old),
            new_chars=len(middle_new),
            folded=_fold(result) if length > FOLD_CHARS else (),
        )


def word_diff(old: str, new: str) -> WordDiff:
    """One diff with a budget of its own."""
    return WordDiffer().diff(old, new)


def _merged_changes(a: list[str], b: list[str]) -> list[tuple[bool, str, str]]:
    """(unchanged, old, new) text runs. An unchanged run between two changes that holds no word (a space,
    a quote) joins them, so "a b" → "c d" reads as one change, not two."""
    # autojunk stays on: without it a small vocabulary makes the match quadratic (5 s at 4,000 tokens).
    opcodes = difflib.SequenceMatcher(None, a, b).get_opcodes()
    runs: list[tuple[bool, str, str]] = []
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        old_part, new_part = "".join(a[i1:i2]), "".join(b[j1:j2])
        between = 0 < index < len(opcodes) - 1
        if tag == "equal" and not (between and not _WORD.search(old_part)):
            runs.append((True, old_part, old_part))
        elif runs and not runs[-1][0]:
            runs[-1] = (False, runs[-1][1] + old_part, runs[-1][2] + new_part)
        else:
            runs.append((False, old_part, new_part))
    return runs


def _add(pieces: list[Piece], kind: str, text: str) -> None:
    if not text:
        return
    if pieces and pieces[-1].kind == kind:
        pieces[-1] = Piece(kind, pieces[-1].text + text)
    else:
        pieces.append(Piece(kind, text))


def _fold(pieces: tuple[Piece, ...]) -> tuple[Piece, ...]:
    """The changes with CONTEXT_TOKENS unchanged words around each; the rest becomes "gap" pieces."""
    folded: list[Piece] = []
    last = len(pieces) - 1
    for index, piece in enumerate(pieces):
        if piece.kind == "same":
            tokens = _TOKEN.findall(piece.text) if len(piece.text) <= MAX_MIDDLE_CHARS else None
            keep_before = 0 if index == 0 else CONTEXT_TOKENS  # context after the previous change
            keep_after = 0 if index == last else CONTEXT_TOKENS  # context before the next change
            if tokens is None or len(tokens) > keep_before + keep_after:
                head = "".join(tokens[:keep_before]) if tokens else ""
                tail = "".join(tokens[len(tokens) - keep_after :]) if tokens and keep_after else ""
                if tokens is None:  # too long to split: cut by characters
                    head = piece.text[: 40 if keep_before else 0]
                    tail = piece.text[len(piece.text) - 40 :] if keep_after else ""
                _add(folded, "same", head)
                folded.append(Piece("gap", piece.text[len(head) : len(piece.text) - len(tail)]))
                _add(folded, "same", tail)
                continue
        elif len(piece.text) > FOLDED_PIECE_CHARS:
            folded.append(Piece(piece.kind, piece.text[:FOLDED_PIECE_CHARS]))
            folded.append(Piece("gap", piece.text[FOLDED_PIECE_CHARS:]))
            continue
        folded.append(piece)
    return tuple(folded)

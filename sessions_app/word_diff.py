"""Word-level diff of two texts, for history entries where one content became another.

Python's difflib (stdlib, maintained with CPython) on word tokens: the one diff engine the project already
uses for message lists (history.diff). diff-match-patch diffs characters (words need its line-encoding trick)
and redlines renders its own HTML with inline styles, which the CSP and the templates keep out.

Any stored text is accepted: the unchanged start and end are cut off at character level first (a one-word
edit of a 1 MB message compares a few words), and a changed middle longer than MAX_TOKENS words, or more than
a page's ``budget``, is not compared at all (``too_long``): SequenceMatcher is quadratic at worst, ~30 ms at
2,000 tokens of a small vocabulary.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

MAX_TOKENS = 2_000  # per side of the changed middle
MAX_MIDDLE_CHARS = 40_000  # a middle longer than this is not even split into words
PAGE_BUDGET = 20_000  # tokens compared for one page (50 history entries or 500 diff entries)
CONTEXT_TOKENS = 6  # unchanged words kept on each side of a change when folded
FOLD_CHARS = 400  # a diff whose text is longer than this is shown folded
FOLDED_PIECE_CHARS = 200  # a deleted/inserted run longer than this is cut in the folded view
BOUNDARY_WINDOW = 200  # how far a cut moves back to a word boundary
_CHUNK = 65_536

# A word with the white space after it, one punctuation mark with the white space after it, or leading space.
_TOKEN = re.compile(r"\w+\s*|[^\w\s]\s*|\s+")
_LAST_NON_WORD = re.compile(r"(?s).*\W")
_NON_WORD = re.compile(r"\W")


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
    deleted_words: int = 0
    inserted_words: int = 0
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


def _prefix_cut(old: str, new: str, prefix: int) -> int:
    """The end of the shared start, moved back to just after a non-word character if it splits a word."""
    if not (_inside_word(old, prefix) or _inside_word(new, prefix)):
        return prefix
    start = max(0, prefix - BOUNDARY_WINDOW)
    found = _LAST_NON_WORD.match(old, start, prefix)
    return found.end() if found else start


def _suffix_cut(old: str, new: str, suffix: int) -> int:
    """Where the shared end starts in ``old``, moved forward to a non-word character if it splits a word."""
    start = len(old) - suffix
    if not (_inside_word(old, start) or _inside_word(new, len(new) - suffix)):
        return start
    end = min(len(old), start + BOUNDARY_WINDOW)
    found = _NON_WORD.search(old, start, end)
    return found.start() if found else end


def _inside_word(text: str, at: int) -> bool:
    """Whether a cut at ``at`` splits a run of word characters."""
    return 0 < at < len(text) and not _NON_WORD.match(text, at - 1) and not _NON_WORD.match(text, at)


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
        deleted = inserted = 0
        _add(pieces, "same", old[:prefix])
        # autojunk stays on: without it a small vocabulary makes the match quadratic (5 s at 4,000 tokens).
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
            if tag == "equal":
                _add(pieces, "same", "".join(a[i1:i2]))
                continue
            removed, added = "".join(a[i1:i2]), "".join(b[j1:j2])
            # "brown " → "red ": the space after both words is not part of the change.
            space = _common_space_suffix(removed, added) if removed and added else 0
            _add(pieces, "deleted", removed[: len(removed) - space])
            _add(pieces, "inserted", added[: len(added) - space])
            _add(pieces, "same", added[len(added) - space :] if space else "")
            deleted += i2 - i1
            inserted += j2 - j1
        _add(pieces, "same", old[old_end:])
        result = tuple(pieces)
        length = sum(len(p.text) for p in result)
        return WordDiff(
            pieces=result,
            old_chars=len(middle_old),
            new_chars=len(middle_new),
            deleted_words=deleted,
            inserted_words=inserted,
            folded=_fold(result) if length > FOLD_CHARS else (),
        )


def word_diff(old: str, new: str) -> WordDiff:
    """One diff with a budget of its own."""
    return WordDiffer().diff(old, new)


def _common_space_suffix(a: str, b: str) -> int:
    count = 0
    while count < min(len(a), len(b)) - 1 and a[-1 - count] == b[-1 - count] and a[-1 - count].isspace():
        count += 1
    return count


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

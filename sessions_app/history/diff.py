"""What changed between two versions of a session: messages added, removed and changed, and the usage."""

from __future__ import annotations

import bisect
import difflib
import uuid
from collections import Counter
from dataclasses import dataclass, field

from sessions_app.domain.types import Message, TokenUsage
from sessions_app.history.states import VersionState, latest_version, state_after, state_at


@dataclass(frozen=True)
class DiffEntry:
    kind: str  # "added" | "removed" | "changed"
    old_index: int | None
    new_index: int | None
    old: Message | None
    new: Message | None


@dataclass(frozen=True)
class VersionDiff:
    old_version: int
    new_version: int
    entries: list[DiffEntry] = field(default_factory=list)
    old_usage: TokenUsage | None = None
    new_usage: TokenUsage | None = None
    old_len: int = 0
    new_len: int = 0

    @property
    def added(self) -> int:
        return sum(e.kind == "added" for e in self.entries)

    @property
    def removed(self) -> int:
        return sum(e.kind == "removed" for e in self.entries)

    @property
    def changed(self) -> int:
        return sum(e.kind == "changed" for e in self.entries)

    @property
    def usage_changed(self) -> bool:
        return self.old_usage != self.new_usage


# Stretches longer than this are matched with SequenceMatcher's "popular item" heuristic on, so
# many identical messages ("ok", "continue") cannot make a diff quadratic; any match it finds is real.
_EXACT_GAP = 200


def _longest_increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest run of ``pairs`` (sorted by i) whose j also increases (patience sorting)."""
    tails_j: list[int] = []
    tails: list[int] = []
    back = [-1] * len(pairs)
    for index, (_, j) in enumerate(pairs):
        k = bisect.bisect_left(tails_j, j)
        if k:
            back[index] = tails[k - 1]
        if k == len(tails_j):
            tails_j.append(j)
            tails.append(index)
        else:
            tails_j[k], tails[k] = j, index
    run: list[tuple[int, int]] = []
    index = tails[-1] if tails else -1
    while index != -1:
        run.append(pairs[index])
        index = back[index]
    return run[::-1]


def _matches(a: list[tuple[str, str]], b: list[tuple[str, str]]) -> list[tuple[int, int]]:
    """Pairs (i, j) with a[i] == b[j], increasing in both: a long common subsequence.

    Patience diff: messages that occur exactly once on each side anchor the match in O(n log n);
    only the stretches between anchors go to SequenceMatcher, which is quadratic on its own.
    """
    count_a, count_b = Counter(a), Counter(b)
    where_b = {item: j for j, item in enumerate(b) if count_b[item] == 1}
    unique = [(i, where_b[item]) for i, item in enumerate(a) if count_a[item] == 1 and item in where_b]
    pairs: list[tuple[int, int]] = []
    i0 = j0 = 0
    for i, j in [*_longest_increasing(unique), (len(a), len(b))]:
        if i > i0 and j > j0:
            gap_a, gap_b = a[i0:i], b[j0:j]
            big = len(gap_a) > _EXACT_GAP and len(gap_b) > _EXACT_GAP
            matcher = difflib.SequenceMatcher(None, gap_a, gap_b, autojunk=big)
            for block in matcher.get_matching_blocks():
                pairs.extend((i0 + block.a + k, j0 + block.b + k) for k in range(block.size))
        if i < len(a):
            pairs.append((i, j))
        i0, j0 = i + 1, j + 1
    return pairs


def diff(old: VersionState, new: VersionState) -> VersionDiff:
    """Messages added, removed and changed from ``old`` to ``new``, plus the usage change.

    A changed message is one whose slot was rewritten in place (same count replaced); unequal
    runs pair up as changed and the rest count as added or removed.
    """
    a = [(m.role, m.content) for m in old.messages]
    b = [(m.role, m.content) for m in new.messages]
    entries: list[DiffEntry] = []
    i0 = j0 = 0
    for i, j in [*_matches(a, b), (len(a), len(b))]:
        paired = min(i - i0, j - j0)
        for k in range(paired):
            entries.append(DiffEntry("changed", i0 + k, j0 + k, old.messages[i0 + k], new.messages[j0 + k]))
        for r in range(i0 + paired, i):
            entries.append(DiffEntry("removed", r, None, old.messages[r], None))
        for r in range(j0 + paired, j):
            entries.append(DiffEntry("added", None, r, None, new.messages[r]))
        i0, j0 = i + 1, j + 1
    return VersionDiff(
        old_version=old.version,
        new_version=new.version,
        entries=entries,
        old_usage=old.usage,
        new_usage=new.usage,
        old_len=len(a),
        new_len=len(b),
    )


def diff_versions(session_id: uuid.UUID, old_version: int, new_version: int) -> VersionDiff:
    latest = latest_version(session_id)
    old = state_at(session_id, old_version, current_version=latest)
    return diff(old, state_after(session_id, old, new_version, current_version=latest))

"""Order keys: where a message sits in its session, as a sparse integer only ever compared.

A message's index is its rank by order key. Keys written at the ends are GAP apart, so appends and
inserts at index 0 never meet another key; an insert between two messages takes the midpoint of their
keys. When two neighbours have no key left between them, a window of messages around the index is
respaced (``respace``): it grows until its rows can stand at least MIN_SPACING apart, so one
rebalance rewrites a few rows and leaves room for the next ones (tests/test_order_keys.py measures it).
Pure Python: the storage writes what these functions compute.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessions_app.domain.types import MAX_BIGINT

GAP = 1 << 32  # between keys written at either end: about 2·10⁹ appends before a 64-bit key runs out
MIN_SPACING = 1 << 10  # a respaced window leaves at least this much between neighbours
LARGEST, LOWEST = MAX_BIGINT, -MAX_BIGINT - 1  # PostgreSQL's and SQLite's 64-bit integers


def after(last: int, count: int) -> list[int]:
    """Keys for ``count`` new rows after the key ``last``."""
    return [last + GAP * (j + 1) for j in range(count)]


def before(first: int, count: int) -> list[int]:
    """Keys for ``count`` new rows before the key ``first``."""
    return [first - GAP * (count - j) for j in range(count)]


def between(lo: int, hi: int, count: int) -> list[int] | None:
    """Keys for ``count`` new rows evenly between the keys lo < hi, or None when there is no room."""
    spacing = (hi - lo) // (count + 1)
    return [lo + spacing * (j + 1) for j in range(count)] if spacing >= 1 else None


@dataclass(frozen=True)
class Respacing:
    """New keys for the ``rows`` rows of a window, leaving ``slots`` free keys after its first ``split``."""

    base: int  # the keys are base + spacing · (1, 2, …), skipping the slots
    spacing: int
    rows: int
    split: int
    slots: int

    def key(self, j: int) -> int:
        """The new key of the window's row j (0-based, in order)."""
        return self.base + self.spacing * (j + 1 + (self.slots if j >= self.split else 0))

    def slot_keys(self) -> list[int]:
        return [self.base + self.spacing * (self.split + 1 + i) for i in range(self.slots)]

    @property
    def highest(self) -> int:
        return self.base + self.spacing * (self.rows + self.slots)


def respace(lo: int | None, hi: int | None, rows: int, split: int, slots: int) -> Respacing | None:
    """New keys for the ``rows`` rows strictly between the keys lo and hi (None: that end of the
    session), with ``slots`` free keys after the first ``split`` of them. None when the window is too
    crowded to leave MIN_SPACING between neighbours, or when its keys would leave the 64-bit range:
    the caller then tries a wider window. Toward an end of the session the rows are spaced GAP apart;
    the whole session (both ends open) starts again from 0 and always fits."""
    needed = rows + slots + 1
    if lo is None and hi is None:
        return Respacing(0, GAP, rows, split, slots)
    if hi is None:
        plan = Respacing(lo, GAP, rows, split, slots)
    elif lo is None:
        plan = Respacing(hi - GAP * needed, GAP, rows, split, slots)
    else:
        spacing = (hi - lo) // needed
        plan = Respacing(lo, spacing, rows, split, slots) if spacing >= MIN_SPACING else None
    return plan if plan is not None and LOWEST <= plan.base and plan.highest <= LARGEST else None

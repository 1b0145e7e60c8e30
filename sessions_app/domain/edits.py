"""A table edit of a session's messages (rows changed, added, removed and reordered in one save) as a list of
Session API writes, in an order that keeps every index right. Pure Python: no Django."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sessions_app.domain.types import Message


@dataclass(frozen=True)
class RowEdit:
    """One row of the edited table: a loaded row (``original`` is its position then) or a new one."""

    message: Message | None  # the row's role and content as submitted; None for a removed row
    original: int | None = None  # None: a new row
    wanted: int | None = None  # the position asked for; None keeps a loaded row in place, appends a new one
    edited: bool = False  # a loaded row whose role or content changed
    removed: bool = False  # a loaded row marked for deletion


@dataclass
class _Item:
    message: Message | None
    original: int | None
    desired: float  # inf = "at the end"
    edited: bool


def plan_edits(rows: list[RowEdit]) -> list[tuple[str, dict[str, Any]]]:
    """The Session API writes ``(op, arguments by name)`` that turn the loaded rows into the edited table.

    Removals go first (highest position first), then in-place edits, then inserts and moves that turn the
    current order into the wanted one. A row moved up sorts before an unmoved row at its wanted position, a
    row moved down after it, a new row before it (as insert(index) does).
    """
    removed: list[int] = []
    kept: list[_Item] = []
    added: list[_Item] = []
    for row in rows:
        if row.original is None:
            added.append(_Item(row.message, None, math.inf if row.wanted is None else row.wanted, False))
        elif row.removed:
            removed.append(row.original)
        else:
            wanted = row.original if row.wanted is None else row.wanted
            kept.append(_Item(row.message, row.original, wanted, row.edited))

    def sort_key(item: _Item) -> tuple[float, int, float]:
        if item.original is None or item.desired < item.original:
            tie = 0
        elif item.desired == item.original:
            tie = 1
        else:
            tie = 2
        return (item.desired, tie, math.inf if item.original is None else item.original)

    kept.sort(key=lambda item: item.original)
    target = sorted(kept + added, key=sort_key)  # stable: new rows keep their order in the table
    calls: list[tuple[str, dict[str, Any]]] = [
        ("remove", {"index": p}) for p in sorted(removed, reverse=True)
    ]
    current = list(kept)
    for index, item in enumerate(current):
        if item.edited:
            calls.append(("replace", {"index": index, "message": item.message}))
    for index, item in enumerate(target):
        if item.original is None:
            calls.append(("insert", {"index": index, "message": item.message}))
            current.insert(index, item)
        elif current[index] is not item:
            start = next(i for i, c in enumerate(current) if c is item)
            calls.append(("move", {"from_index": start, "to_index": index}))
            current.insert(index, current.pop(start))
    return calls

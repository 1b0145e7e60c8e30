"""A session's messages by index: the detail page's windows of WINDOW_SIZE, a range, one message.

A message's index is its rank by order key: a range is read from the nearer end of the session's key
index (selectors/ranks.py), and each row read carries its index as ``position``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models.expressions import RawSQL

from sessions_app import models
from sessions_app.selectors.ranks import key_at

WINDOW_SIZE = 100  # messages per window on the detail page


@dataclass(frozen=True)
class Window:
    """A page of WINDOW_SIZE messages: indexes [start, stop)."""

    page: int
    count: int  # messages in the session

    @property
    def size(self) -> int:
        return WINDOW_SIZE

    @property
    def start(self) -> int:
        return self.page * WINDOW_SIZE

    @property
    def stop(self) -> int:
        return min(self.start + WINDOW_SIZE, self.count)

    @property
    def last_page(self) -> int:
        return max(0, (self.count - 1) // WINDOW_SIZE)

    @property
    def page_count(self) -> int:
        return self.last_page + 1

    @property
    def has_prev(self) -> bool:
        return self.page > 0

    @property
    def has_next(self) -> bool:
        return self.page < self.last_page

    @property
    def prev_page(self) -> int:
        return self.page - 1

    @property
    def next_page(self) -> int:
        return self.page + 1


def window_for(count: int, *, page: int | None = None, at: int | None = None) -> Window:
    """The window showing message ``at`` (or page ``page``), clamped to the session."""
    last = max(0, (count - 1) // WINDOW_SIZE)
    if at is not None:
        page = max(0, min(at, count - 1)) // WINDOW_SIZE if count else 0
    page = min(max(page or 0, 0), last)
    return Window(page=page, count=count)


def message_window(session_id: uuid.UUID, window: Window) -> list[models.Message]:
    return messages_between(session_id, window.start, window.stop, window.count)


def messages_between(session_id: uuid.UUID, start: int, stop: int, length: int) -> list[models.Message]:
    """The messages at indexes start ≤ i < stop of a session of ``length``, in order, with positions."""
    start, stop = max(0, start), min(stop, length)
    if stop <= start:
        return []
    rows = models.Message.objects.filter(session_id=session_id)
    # From the nearer end: the scan to the window's first key reads at most half the session's index.
    if start <= length - stop:
        lowest = RawSQL(*key_at(session_id, start, length))
        found = list(rows.filter(order_key__gte=lowest).order_by("order_key")[: stop - start])
    else:
        highest = RawSQL(*key_at(session_id, stop - 1, length))
        found = list(rows.filter(order_key__lte=highest).order_by("-order_key")[: stop - start])
        found.reverse()
    for i, row in enumerate(found):
        row.position = start + i
    return found


def message_at(session_id: uuid.UUID, index: int, length: int) -> models.Message | None:
    found = messages_between(session_id, index, index + 1, length)
    return found[0] if found else None

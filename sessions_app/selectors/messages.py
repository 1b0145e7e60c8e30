"""A session's messages by position: the detail page's windows of WINDOW_SIZE, a range, one message."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sessions_app import models

WINDOW_SIZE = 100  # messages per window on the detail page


@dataclass(frozen=True)
class Window:
    """A page of WINDOW_SIZE messages: positions [start, stop)."""

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
    return messages_between(session_id, window.start, window.stop)


def messages_between(session_id: uuid.UUID, start: int, stop: int) -> list[models.Message]:
    """The messages at positions start..stop-1 of a session, in order."""
    # The range scan uses the unique (session, position) index: constant cost at any depth.
    rows = models.Message.objects.filter(
        session_id=session_id, position__gte=start, position__lt=stop
    ).order_by("position")
    return list(rows)


def message_at(session_id: uuid.UUID, index: int) -> models.Message | None:
    return models.Message.objects.filter(session_id=session_id, position=index).order_by().first()

"""Checkpoints: snapshots a long replay leaves behind, so a later read of that stretch replays fewer events.

A cache, written by reads without the session lock: the state at a version never changes, so losing a race (or
the session) only costs speed. The snapshots compaction folds events into are written under the lock, by
services/history.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import DatabaseError, transaction

from sessions_app import models
from sessions_app.domain.types import Message, TokenUsage

# A replay longer than this leaves a checkpoint snapshot behind (at a multiple of CHECKPOINT_EVERY),
# so a later read of that stretch replays fewer than this many events. See docs/benchmarks.md.
CHECKPOINT_EVERY = 1000


def snapshot_fields(messages: Iterable[Message], usage: TokenUsage | None) -> dict[str, Any]:
    """A state as a SessionSnapshot row stores it."""
    return {"messages": [m.as_dict() for m in messages], "usage": None if usage is None else usage.as_dict()}


def checkpoint_row(
    session_id: uuid.UUID, version: int, messages: Iterable[Message], usage: TokenUsage | None
) -> models.SessionSnapshot:
    return models.SessionSnapshot(session_id=session_id, version=version, **snapshot_fields(messages, usage))


def save_checkpoint(row: models.SessionSnapshot) -> None:
    try:
        with transaction.atomic():
            models.SessionSnapshot.objects.bulk_create([row], ignore_conflicts=True)
    except DatabaseError:  # e.g. the session was deleted meanwhile, or SQLite stayed busy
        pass

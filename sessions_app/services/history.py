"""History writes: compaction (retention) folds a session's old events into one snapshot, under the session's
row lock like every write, so no write and no restore (which replays under that lock) sees the log half
compacted. History, diff and restore keep working from the snapshot on; the versions before it are gone."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Max

from sessions_app import models
from sessions_app.history import checkpoints
from sessions_app.history.states import oldest_version, state_at


@dataclass(frozen=True)
class Compacted:
    sessions: int
    events: int


def take_snapshot(session_id: uuid.UUID, version: int) -> models.SessionSnapshot:
    """Store the state at ``version``. Caller holds the session lock."""
    state = state_at(session_id, version)
    row, _ = models.SessionSnapshot.objects.update_or_create(
        session_id=session_id,
        version=version,
        defaults=checkpoints.snapshot_fields(state.messages, state.usage),
    )
    return row


def compaction_candidates(
    older_than: datetime, only: Iterable[uuid.UUID] = ()
) -> list[tuple[uuid.UUID, int]]:
    """(session id, newest version older than ``older_than``) of the sessions with such events, by id;
    ``only``: these sessions (all when empty)."""
    old = models.SessionEvent.objects.filter(created_at__lt=older_than)
    only = list(only)
    if only:
        old = old.filter(session_id__in=only)
    return list(old.values_list("session_id").annotate(upto=Max("version")).order_by("session_id"))


def events_to_compact(candidates: list[tuple[uuid.UUID, int]], keep_last: int) -> int:
    """At most how many events compact() would remove (the dry run); changes nothing."""
    versions = dict(
        models.Session.objects.filter(pk__in=[c[0] for c in candidates]).values_list("pk", "version")
    )
    return sum(
        max(0, min(upto, versions.get(pk, 0) - keep_last) - oldest_version(pk)) for pk, upto in candidates
    )


def compact_session(session_id: uuid.UUID, cutoff_version: int, keep_last: int) -> int:
    """Fold the events up to ``cutoff_version`` (and older than the last ``keep_last``) into a snapshot.

    Returns the number of events removed.
    """
    with transaction.atomic():
        row = models.Session.objects.select_for_update(of=("self",)).filter(pk=session_id).first()
        if row is None:
            return 0
        upto = min(cutoff_version, row.version - keep_last)
        if upto <= oldest_version(session_id):
            return 0
        take_snapshot(session_id, upto)
        removed, _ = models.SessionEvent.objects.filter(session_id=session_id, version__lte=upto).delete()
        models.SessionSnapshot.objects.filter(session_id=session_id, version__lt=upto).delete()
        return removed


def compact(
    candidates: Iterable[tuple[uuid.UUID, int]],
    keep_last: int,
    *,
    progress: Callable[[int], None] | None = None,
) -> Compacted:
    """compact_session for each candidate, one transaction each; ``progress(events removed so far)`` after
    each session."""
    sessions = events = 0
    for session_id, upto in candidates:
        removed = compact_session(session_id, upto, keep_last)
        if removed:
            sessions += 1
            events += removed
        if progress is not None:
            progress(events)
    return Compacted(sessions, events)

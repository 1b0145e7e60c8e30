"""A session's state at any version: the nearest full state at or below it (a snapshot, a restore event, or
the empty session at v0) with the events after it replayed (replay.apply_event). Events never change once
written, so neither does the state at a version."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sessions_app import models
from sessions_app.domain.checks import check_int
from sessions_app.domain.errors import InvalidArgument, SessionError
from sessions_app.domain.ids import session_not_found
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.history import checkpoints
from sessions_app.history.replay import apply_event


class VersionUnavailable(SessionError):
    """The version's events were compacted into a later snapshot (compact_events)."""

    code = "version_unavailable"
    http_status = 410

    def __init__(self, version: int, oldest: int) -> None:
        super().__init__(
            f"version {version} is no longer kept (older events were compacted); "
            f"the oldest version available is v{oldest}",
            version=version,
            oldest_version=oldest,
        )
        self.version = version
        self.oldest = oldest


@dataclass(frozen=True)
class VersionState:
    version: int
    messages: list[Message]
    usage: TokenUsage | None


def latest_version(session_id: uuid.UUID) -> int:
    found = models.Session.objects.filter(pk=session_id).values_list("version", flat=True).first()
    if found is None:
        raise session_not_found(session_id)
    return found


def oldest_version(session_id: uuid.UUID) -> int:
    """The oldest version that can still be rebuilt: v0 unless events were compacted away."""
    first_event = (
        models.SessionEvent.objects.filter(session_id=session_id)
        .order_by("version")
        .values_list("version", flat=True)
        .first()
    )
    if first_event == 1:
        return 0
    # compact_events keeps exactly one snapshot below the first kept event: the one it folded into.
    snapshot = (
        models.SessionSnapshot.objects.filter(session_id=session_id)
        .order_by("version")
        .values_list("version", flat=True)
        .first()
    )
    if snapshot is None:
        return 0 if first_event is None else first_event - 1
    return snapshot


def _usage(value: dict[str, int] | None) -> TokenUsage | None:
    return None if value is None else TokenUsage(**value)


def state_at(session_id: uuid.UUID, version: int, *, current_version: int | None = None) -> VersionState:
    """The session's messages and usage right after the write that made ``version`` (v0: empty).

    ``current_version`` lets a caller that holds the session lock skip re-reading it.
    """
    return _rebuild(session_id, version, None, current_version)


def state_after(
    session_id: uuid.UUID, known: VersionState, version: int, *, current_version: int | None = None
) -> VersionState:
    """The state at ``version``, replaying on from an already rebuilt ``known`` state when nothing
    closer is stored (two nearby versions then cost one replay, not two)."""
    return _rebuild(session_id, version, known, current_version)


def _rebuild(
    session_id: uuid.UUID, version: int, known: VersionState | None, current_version: int | None
) -> VersionState:
    check_int(version, "version", minimum=0)
    latest = latest_version(session_id) if current_version is None else current_version
    if version > latest:
        raise InvalidArgument(
            f"version {version} does not exist: this session is at v{latest}", field="version"
        )
    if known is not None and version < known.version:
        known = None
    return _replay_forward(session_id, _nearest_base(session_id, version, known), version)


def _nearest_base(session_id: uuid.UUID, version: int, known: VersionState | None = None) -> VersionState:
    """The latest full state at or below ``version`` to replay from: a snapshot, a restore event (its
    args hold the whole state, so the events before it are not even decoded), an already rebuilt
    ``known`` state, or the empty v0."""
    snapshots = models.SessionSnapshot.objects.filter(session_id=session_id, version__lte=version)
    snapshot_version = snapshots.order_by("-version").values_list("version", flat=True).first() or 0
    floor = snapshot_version if known is None else max(snapshot_version, known.version)
    restore = (
        models.SessionEvent.objects.filter(
            session_id=session_id, op="restore", version__gt=floor, version__lte=version
        )
        .order_by("-version")
        .values_list("version", "args")
        .first()
    )
    if restore is not None:
        found, args = restore
        messages = [Message(m["role"], m["content"]) for m in args["messages"]]
        return VersionState(version=found, messages=messages, usage=_usage(args.get("usage")))
    if known is not None and known.version >= snapshot_version:
        return VersionState(version=known.version, messages=list(known.messages), usage=known.usage)
    if snapshot_version == 0:
        return VersionState(version=0, messages=[], usage=None)
    stored, usage = snapshots.filter(version=snapshot_version).values_list("messages", "usage").get()
    messages = [Message(m["role"], m["content"]) for m in stored]
    return VersionState(version=snapshot_version, messages=messages, usage=_usage(usage))


def _replay_forward(session_id: uuid.UUID, base: VersionState, version: int) -> VersionState:
    """Apply the events after ``base`` up to ``version``; ``base.messages`` becomes the result's list."""
    messages, usage = base.messages, base.usage
    events = (
        models.SessionEvent.objects.filter(
            session_id=session_id, version__gt=base.version, version__lte=version
        )
        .order_by("version")
        .values_list("version", "op", "args")
    )
    # One checkpoint per long replay, at the last multiple of CHECKPOINT_EVERY on the way: writing
    # one at every multiple made a first view of 10,000 events 4x slower (docs/benchmarks.md).
    every = checkpoints.CHECKPOINT_EVERY
    checkpoint_at = version - version % every
    checkpoint: models.SessionSnapshot | None = None
    expected = base.version + 1
    for event_version, op, args in events.iterator(chunk_size=2000):
        if event_version != expected:  # a gap: the events before it were compacted away
            break
        usage = apply_event(messages, usage, op, args)
        expected += 1
        if event_version == checkpoint_at:
            checkpoint = checkpoints.checkpoint_row(session_id, event_version, messages, usage)
    if expected != version + 1:
        raise VersionUnavailable(version, oldest_version(session_id))
    if checkpoint is not None and version - base.version >= every:
        checkpoints.save_checkpoint(checkpoint)
    return VersionState(version=version, messages=messages, usage=usage)

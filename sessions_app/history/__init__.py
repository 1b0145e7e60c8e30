"""A session's history: its state at any version, diffs between versions, events in words, export.

Reads only. The state at version N is the nearest snapshot at or below N (or the empty session at
v0) with the events after it replayed (replay.apply_event). Events never change once written, so
neither does the state at a version: a snapshot is a cache that can be taken at any time.
"""

from __future__ import annotations

import bisect
import difflib
import json
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import QuerySet

from sessions_app import models
from sessions_app.domain.checks import check_int
from sessions_app.domain.errors import InvalidArgument, SessionError, SessionNotFound
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.history.replay import apply_event

# A replay longer than this leaves a checkpoint snapshot behind (at a multiple of CHECKPOINT_EVERY),
# so a later read of that stretch replays fewer than this many events. See docs/benchmarks.md.
CHECKPOINT_EVERY = 1000


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


# ---------------------------------------------------------------- state at a version


def latest_version(session_id: uuid.UUID) -> int:
    found = models.Session.objects.filter(pk=session_id).values_list("version", flat=True).first()
    if found is None:
        raise SessionNotFound(f"no session with id {session_id}", id=str(session_id))
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


def _usage_json(usage: TokenUsage | None) -> dict[str, int] | None:
    return None if usage is None else usage.as_dict()


def state_at(session_id: uuid.UUID, version: int, *, current_version: int | None = None) -> VersionState:
    """The session's messages and usage right after the write that made ``version`` (v0: empty).

    ``current_version`` lets a caller that holds the session lock skip re-reading it.
    """
    check_int(version, "version", minimum=0)
    latest = latest_version(session_id) if current_version is None else current_version
    if version > latest:
        raise InvalidArgument(
            f"version {version} does not exist: this session is at v{latest}", field="version"
        )
    return _replay_forward(session_id, _nearest_base(session_id, version), version)


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
    checkpoint_at = version - version % CHECKPOINT_EVERY
    checkpoint: models.SessionSnapshot | None = None
    expected = base.version + 1
    for event_version, op, args in events.iterator(chunk_size=2000):
        if event_version != expected:  # a gap: the events before it were compacted away
            break
        usage = apply_event(messages, usage, op, args)
        expected += 1
        if event_version == checkpoint_at:
            checkpoint = _snapshot_row(session_id, event_version, messages, usage)
    if expected != version + 1:
        raise VersionUnavailable(version, oldest_version(session_id))
    if checkpoint is not None and version - base.version >= CHECKPOINT_EVERY:
        _save_checkpoints([checkpoint])
    return VersionState(version=version, messages=messages, usage=usage)


def _snapshot_row(
    session_id: uuid.UUID, version: int, messages: Iterable[Message], usage: TokenUsage | None
) -> models.SessionSnapshot:
    return models.SessionSnapshot(
        session_id=session_id,
        version=version,
        messages=[m.as_dict() for m in messages],
        usage=_usage_json(usage),
    )


def _save_checkpoints(rows: list[models.SessionSnapshot]) -> None:
    """Best effort: a checkpoint is a cache, so losing a race (or the session) only costs speed."""
    if not rows:
        return
    try:
        with transaction.atomic():
            models.SessionSnapshot.objects.bulk_create(rows, ignore_conflicts=True)
    except DatabaseError:  # e.g. the session was deleted meanwhile, or SQLite stayed busy
        pass


def take_snapshot(session_id: uuid.UUID, version: int) -> models.SessionSnapshot:
    """Store the state at ``version`` (used by compact_events). Caller holds the session lock."""
    state = state_at(session_id, version)
    row, _ = models.SessionSnapshot.objects.update_or_create(
        session_id=session_id,
        version=version,
        defaults={"messages": [m.as_dict() for m in state.messages], "usage": _usage_json(state.usage)},
    )
    return row


# ---------------------------------------------------------------- diff


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


def state_after(
    session_id: uuid.UUID, known: VersionState, version: int, *, current_version: int | None = None
) -> VersionState:
    """The state at ``version``, replaying on from an already rebuilt ``known`` state when nothing
    closer is stored (two nearby versions then cost one replay, not two)."""
    check_int(version, "version", minimum=0)
    if version < known.version:
        return state_at(session_id, version, current_version=current_version)
    latest = latest_version(session_id) if current_version is None else current_version
    if version > latest:
        raise InvalidArgument(
            f"version {version} does not exist: this session is at v{latest}", field="version"
        )
    return _replay_forward(session_id, _nearest_base(session_id, version, known), version)


# ---------------------------------------------------------------- events in words


def snippet(content: str, limit: int = 40) -> str:
    """The start of a message on one line, quoted: '{"decision"…'."""
    text = " ".join(str(content).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'"


def _message(args: dict[str, Any]) -> str:
    return f"{args.get('role', '?')}: {snippet(args.get('content', ''))}"


def _removed(args: dict[str, Any]) -> str:
    count = args.get("removed_count")
    return "" if count is None else f" ({count} removed)"


def describe_usage(usage: dict[str, int] | TokenUsage | None) -> str:
    if usage is None:
        return "no usage"
    values = usage.as_dict() if isinstance(usage, TokenUsage) else usage
    return f"{values['prompt']} prompt + {values['completion']} completion = {values['total']} tokens"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def describe(op: str, args: dict[str, Any], *, brief: bool = False) -> str:
    """One event's operation and arguments in words, e.g. "truncated to first 1 + last 4 (12 removed)".

    ``brief``: without the contents that content_change shows as a diff (the history page).
    """
    if op == "create":
        return "created the session"
    if op == "append":
        return f"appended a message ({_message(args)})"
    if op == "clear":
        return f"cleared all messages{_removed(args)}"
    if op == "remove":
        return f"removed message {args['index']} ({_message(args.get('removed') or {})})"
    if op == "replace":
        previous = args.get("previous")
        if brief and previous:
            old_role, new_role = previous.get("role", "?"), args.get("role", "?")
            role = new_role if old_role == new_role else f"{old_role} → {new_role}"
            return f"replaced message {args['index']} ({role})"
        was = f" (was {_message(previous)})" if previous else ""
        return f"replaced message {args['index']} with {_message(args)}{was}"
    if op == "insert":
        return f"inserted message {args['index']} ({_message(args)})"
    if op == "prune":
        return f"pruned the last {_plural(args['n'], 'pair')}{_removed(args)}"
    if op == "truncate":
        return f"truncated to first {args['keep_first']} + last {args['keep_last']}{_removed(args)}"
    if op == "set_messages":
        return f"set all messages to {_plural(len(args['messages']), 'message')}{_removed(args)}"
    if op == "set_usage":
        if args.get("usage") is None:
            return "set usage to none (the previous usage stays)"
        return f"set usage to {describe_usage(args['usage'])}"
    if op == "move":
        return f"moved message {args['from_index']} to position {args['to_index']}"
    if op == "record_exchange":
        usage = "" if args.get("usage") is None else f", usage {describe_usage(args['usage'])}"
        return (
            f"recorded an exchange (user: {snippet(args['prompt'])} → "
            f"assistant: {snippet(args['response'])}){usage}"
        )
    if op == "restore":
        return (
            f"restored version {args.get('restored_version', '?')} "
            f"({_plural(len(args['messages']), 'message')}, {describe_usage(args.get('usage'))})"
            f"{_removed(args)}"
        )
    if op == "update_details":
        return describe_details(args)
    if op == "import":
        usage = "" if args.get("usage") is None else f", usage {describe_usage(args['usage'])}"
        source = (
            f" (as a new session; its file gave id {args['imported_from']})"
            if args.get("imported_from")
            else ""
        )
        return f"imported {_plural(len(args['messages']), 'message')}{usage}{source}"
    return f"{op} {snippet(repr(args), 80)}"


def describe_details(args: dict[str, Any]) -> str:
    """ "renamed 'a' → 'b'; metadata changed: program 'x' → 'y', added tier, removed owner"."""
    parts = []
    if "name" in args:
        parts.append(f"renamed {snippet(args.get('previous_name', ''))} → {snippet(args['name'])}")
    if "metadata" in args:
        old, new = args.get("previous_metadata") or {}, args["metadata"] or {}
        changes = [
            f"{key[:40]} {snippet(_json_text(old[key]))} → {snippet(_json_text(new[key]))}"
            for key in new
            if key in old and old[key] != new[key]
        ]
        changes += [f"added {key[:40]} = {snippet(_json_text(new[key]))}" for key in new if key not in old]
        changes += [f"removed {key[:40]}" for key in old if key not in new]
        shown = ", ".join(changes[:5]) + (f" and {len(changes) - 5} more" if len(changes) > 5 else "")
        parts.append(f"metadata changed: {shown}" if changes else "metadata set (unchanged)")
    return "; ".join(parts)


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (ValueError, RecursionError):  # a value stored before metadata was checked
        return "…"


def describe_event(event: models.SessionEvent, *, brief: bool = False) -> str:
    return describe(event.op, event.args, brief=brief)


@dataclass(frozen=True)
class ContentChange:
    """A text an event turned into another: a replaced message's content, the session's name."""

    what: str  # "content" | "name"
    old: str
    new: str


def content_change(op: str, args: dict[str, Any]) -> ContentChange | None:
    if op == "replace" and isinstance(args.get("previous"), dict):
        previous = str(args["previous"].get("content", ""))
        return ContentChange("content", previous, str(args.get("content", "")))
    if op == "update_details" and "name" in args:
        return ContentChange("name", str(args.get("previous_name", "")), str(args["name"]))
    return None


def events_newest_first(session_id: uuid.UUID) -> QuerySet[models.SessionEvent]:
    return models.SessionEvent.objects.filter(session_id=session_id).order_by("-version")


# ---------------------------------------------------------------- export


def export_history(session_id: uuid.UUID) -> dict[str, Any]:
    """The session and its whole kept history as JSON-safe data.

    ``base`` is the state the first kept event applies to: the empty session at v0, or the
    snapshot the older events were compacted into. Replaying ``events`` on it gives every kept
    version.
    """
    try:
        session = models.Session.objects.get(pk=session_id)
    except models.Session.DoesNotExist:
        raise SessionNotFound(f"no session with id {session_id}", id=str(session_id)) from None
    oldest = oldest_version(session_id)
    if oldest == 0:
        base: dict[str, Any] = {"version": 0, "messages": [], "usage": None}
    else:
        snap = models.SessionSnapshot.objects.get(session_id=session_id, version=oldest)
        base = {"version": oldest, "messages": snap.messages, "usage": snap.usage}
    events = (
        models.SessionEvent.objects.filter(session_id=session_id, version__gt=oldest)
        .order_by("version")
        .values_list("version", "op", "args", "actor", "created_at")
    )
    return {
        "format": "zyn-session-history/1",
        "session": {
            "id": str(session.pk),
            "name": session.name,
            "metadata": session.metadata,
            "version": session.version,
            "created_at": session.created_at.isoformat(),
            "updated_at": session.updated_at.isoformat(),
        },
        "base": base,
        "events": [
            {
                "version": v,
                "op": op,
                "args": args,
                "actor": actor,
                "at": at.isoformat(),
                "description": describe(op, args),
            }
            for v, op, args, actor, at in events.iterator(chunk_size=2000)
        ],
    }

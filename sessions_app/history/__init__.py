"""A session's history, read from its event log: the state at any version (states, with checkpoints as a
cache), diffs between versions (diff), events in words (wording) and the kept events as a timeline and an
export (timeline). Snapshots that fold events away are written by services/history.py under the session lock.
"""

from sessions_app.history.diff import DiffEntry, VersionDiff, diff, diff_versions
from sessions_app.history.states import (
    VersionState,
    VersionUnavailable,
    latest_version,
    oldest_version,
    state_after,
    state_at,
)
from sessions_app.history.timeline import describe_event, events_newest_first, export_history
from sessions_app.history.wording import (
    ContentChange,
    content_change,
    describe,
    describe_details,
    describe_usage,
    snippet,
)

__all__ = [
    "ContentChange",
    "DiffEntry",
    "VersionDiff",
    "VersionState",
    "VersionUnavailable",
    "content_change",
    "describe",
    "describe_details",
    "describe_event",
    "describe_usage",
    "diff",
    "diff_versions",
    "events_newest_first",
    "export_history",
    "latest_version",
    "oldest_version",
    "snippet",
    "state_after",
    "state_at",
]

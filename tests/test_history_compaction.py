"""compact_events: old events fold into a snapshot; history and restore keep working from it."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from sessions_app import history, models
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.history import VersionUnavailable
from sessions_app.history.replay import apply_event
from sessions_app.services import SessionService

pytestmark = pytest.mark.django_db


def build(writes: int = 30) -> tuple[SessionService, dict[int, tuple]]:
    s = SessionService.new(name="old")
    seen = {0: ([], None)}
    for i in range(writes):
        if i % 7 == 3:
            s.truncate(1, 2)
        elif i % 5 == 4:
            s.record_exchange(f"q{i}", f"a{i}", TokenUsage(i, 1, i + 1))
        else:
            s.insert(0, Message("user", f"m{i}"))
        seen[s.version()] = (s.messages(), s.last_usage())
    return s, seen


def age(s: SessionService, upto: int, days: int) -> None:
    models.SessionEvent.objects.filter(session_id=s.id, version__lte=upto).update(
        created_at=timezone.now() - timedelta(days=days)
    )


def compact(*args: str) -> str:
    out = io.StringIO()
    call_command("compact_events", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_compaction_folds_old_events_into_a_snapshot_and_history_keeps_working():
    s, seen = build()
    age(s, 20, days=100)
    assert "Compacted 20 events of 1 session(s)" in compact("--older-than-days", "90", "--keep-last", "5")
    assert list(models.SessionSnapshot.objects.filter(session_id=s.id).values_list("version", flat=True)) == [
        20
    ]
    assert models.SessionEvent.objects.filter(session_id=s.id).order_by("version").first().version == 21
    assert history.oldest_version(s.id) == 20
    for version in range(20, 31):
        state = history.state_at(s.id, version)
        assert (state.messages, state.usage) == seen[version]
    with pytest.raises(VersionUnavailable, match="the oldest version available is v20"):
        history.state_at(s.id, 19)
    # Restore keeps working: to the snapshot itself, and undo after it.
    s.restore(20, expected_version=30, actor="erin")
    assert (s.messages(), s.last_usage()) == seen[20]
    s.undo(expected_version=31)
    assert (s.messages(), s.last_usage()) == seen[30]
    with pytest.raises(VersionUnavailable):
        s.restore(5)


def test_keep_last_and_age_limit_what_is_compacted():
    s, seen = build()
    age(s, 30, days=100)
    compact("--keep-last", "10")
    assert history.oldest_version(s.id) == 20
    recent, _ = build()
    compact("--keep-last", "0")  # nothing of `recent` is old
    assert history.oldest_version(recent.id) == 0 and len(recent.events()) == 30


def test_compacting_again_builds_on_the_previous_snapshot_and_export_starts_there():
    s, seen = build()
    age(s, 10, days=100)
    compact("--keep-last", "0")
    age(s, 25, days=100)
    compact("--keep-last", "0", "--session", str(s.id))
    assert list(models.SessionSnapshot.objects.filter(session_id=s.id).values_list("version", flat=True)) == [
        25
    ]
    data = history.export_history(s.id)
    assert data["base"]["version"] == 25 and [e["version"] for e in data["events"]] == list(range(26, 31))
    messages = [Message(m["role"], m["content"]) for m in data["base"]["messages"]]
    usage = None if data["base"]["usage"] is None else TokenUsage(**data["base"]["usage"])
    for e in data["events"]:
        usage = apply_event(messages, usage, e["op"], e["args"])
    assert (messages, usage) == seen[30]


def test_everything_compacted_still_shows_the_current_version(admin_client):
    s, seen = build(12)
    age(s, 12, days=100)
    compact("--keep-last", "0")
    assert not s.events() and history.oldest_version(s.id) == 12
    assert (history.state_at(s.id, 12).messages, history.state_at(s.id, 12).usage) == seen[12]
    page = admin_client.get(reverse("history:list", args=[s.id])).content.decode()
    assert "older events were compacted" in page and ">v12<" in page
    assert admin_client.get(reverse("history:version", args=[s.id, 3])).status_code == 410


def test_dry_run_changes_nothing_and_bad_arguments_are_refused():
    s, _ = build()
    age(s, 20, days=100)
    assert "Would compact up to 20 events of 1 session(s)" in compact("--dry-run", "--keep-last", "0")
    assert len(s.events()) == 30
    with pytest.raises(CommandError, match="--keep-last must be 0 or more"):
        compact("--keep-last", "-1")
    with pytest.raises(CommandError, match="--session must be a session id"):
        compact("--session", "nope")

"""History: state at any version, restore / undo, diff, events in words, export."""

from __future__ import annotations

import json
import random
import uuid

import pytest

from sessions_app import history, models
from sessions_app.domain.errors import IndexOutOfRange, InvalidArgument, SessionNotFound, VersionConflict
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.history import VersionUnavailable, checkpoints
from sessions_app.history.replay import apply_event
from sessions_app.services import SessionService

pytestmark = pytest.mark.django_db

ROLES = ("user", "assistant", "system")


def observed(s: SessionService) -> tuple[list[Message], TokenUsage | None]:
    return s.messages(), s.last_usage()


def random_op(s: SessionService, rng: random.Random, step: int) -> None:
    """One random write, sometimes an invalid one (which must change nothing)."""
    n = s.len()
    text = f"m{step}-" + rng.choice(["hi", "", "ünï ✓", '{"decision": "ok"}', "x" * 50])
    msg = Message(rng.choice(ROLES), text)
    op = rng.choice(
        [
            "append", "append", "append", "insert", "remove", "replace", "move", "prune",
            "truncate", "set_messages", "set_usage", "set_usage_none", "record", "clear",
            "restore", "undo",
        ]
    )  # fmt: skip
    if op == "append":
        s.append(msg.role, msg.content)
    elif op == "insert":
        s.insert(rng.randint(0, n + 1), msg)  # n + 1 is out of range on purpose
    elif op == "remove":
        s.remove(rng.randint(0, n))
    elif op == "replace":
        s.replace(rng.randint(0, n), msg)
    elif op == "move":
        s.move(rng.randint(0, n), rng.randint(0, max(0, n - 1)))
    elif op == "prune":
        s.prune(rng.randint(0, 2))
    elif op == "truncate":
        s.truncate(rng.randint(0, 3), rng.randint(0, 3))
    elif op == "set_messages":
        s.set_messages([Message(rng.choice(ROLES), f"s{step}-{i}") for i in range(rng.randint(0, 4))])
    elif op == "set_usage":
        s.set_usage(TokenUsage(step, 1, step + 1))
    elif op == "set_usage_none":
        s.set_usage(None)
    elif op == "record":
        s.record_exchange(f"q{step}", f"a{step}", rng.choice([None, TokenUsage(step, 2, step + 2)]))
    elif op == "clear":
        s.clear()
    elif op == "restore":
        s.restore(rng.randint(0, s.version()))
    elif op == "undo":
        s.undo(expected_version=s.version())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_state_at_every_version_equals_the_state_the_session_had_then(seed, monkeypatch):
    # Small checkpoint interval: some reads start from checkpoints, others from v0.
    monkeypatch.setattr(checkpoints, "CHECKPOINT_EVERY", 7)
    rng = random.Random(seed)
    s = SessionService.new(name=f"random {seed}")
    seen = {0: ([], None)}
    for step in range(80):
        try:
            random_op(s, rng, step)
        except (IndexOutOfRange, InvalidArgument):
            pass  # tried an invalid index / nothing to undo: nothing changed, as tested elsewhere
        seen[s.version()] = observed(s)
    assert s.version() > 60
    for version in rng.sample(sorted(seen), len(seen)):  # any order: checkpoints land as we go
        state = history.state_at(s.id, version)
        assert (state.messages, state.usage) == seen[version], f"seed {seed}, v{version}"
    assert models.SessionSnapshot.objects.filter(session_id=s.id).exists()
    for _ in range(20):  # replaying on from a known state (what a diff does) agrees too
        a, b = sorted(rng.sample(sorted(seen), 2))
        later = history.state_after(s.id, history.state_at(s.id, a), b)
        assert (later.messages, later.usage) == seen[b], f"seed {seed}, v{a} → v{b}"
        assert_diff_is_an_edit_script(history.diff_versions(s.id, a, b), seen[a][0], seen[b][0])


def assert_diff_is_an_edit_script(d: history.VersionDiff, old: list[Message], new: list[Message]) -> None:
    """Every entry points at the right messages, and what no entry touches is the same on both sides."""
    touched_old, touched_new = set(), set()
    for e in d.entries:
        if e.old_index is not None:
            assert old[e.old_index] == e.old
            touched_old.add(e.old_index)
        if e.new_index is not None:
            assert new[e.new_index] == e.new
            touched_new.add(e.new_index)
    assert [m for i, m in enumerate(old) if i not in touched_old] == [
        m for j, m in enumerate(new) if j not in touched_new
    ]
    assert len(old) - d.removed + d.added == len(new)


def test_state_at_rejects_versions_that_do_not_exist():
    s = SessionService.new()
    s.append("user", "a")
    with pytest.raises(InvalidArgument, match="version 2 does not exist: this session is at v1"):
        history.state_at(s.id, 2)
    with pytest.raises(InvalidArgument, match="at least 0"):
        history.state_at(s.id, -1)
    with pytest.raises(InvalidArgument, match="integer"):
        history.state_at(s.id, "1")
    with pytest.raises(SessionNotFound):
        history.state_at(uuid.uuid4(), 0)


def seeded() -> SessionService:
    s = SessionService.new(name="seeded")
    s.append("system", "Answer in JSON.")  # v1
    s.record_exchange("Classify A", '{"decision": "a"}', TokenUsage(10, 5, 15))  # v2
    s.record_exchange("Classify B", '{"decision": "b"}', TokenUsage(20, 5, 25))  # v3
    s.remove(1)  # v4
    return s


def test_restore_is_one_new_write_with_messages_usage_and_actor(django_capture_on_commit_callbacks):
    s = seeded()
    v2 = history.state_at(s.id, 2)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert s.restore(2, expected_version=4, actor="alice") == 5
    assert len(callbacks) == 1
    assert observed(s) == (v2.messages, v2.usage) and s.len() == 3
    event = s.events()[-1]
    assert (event.version, event.op, event.actor) == (5, "restore", "alice")
    assert event.args["restored_version"] == 2 and event.args["removed_count"] == 4
    # The event alone replays to the restored state.
    messages: list[Message] = [Message("user", "whatever")]
    assert apply_event(messages, TokenUsage(1, 1, 2), event.op, event.args) == v2.usage
    assert messages == v2.messages


def test_restore_to_a_version_without_usage_clears_usage():
    s = seeded()
    s.restore(1)
    assert s.last_usage() is None and s.messages() == [Message("system", "Answer in JSON.")]
    s.restore(0)
    assert s.messages() == [] and s.last_usage() is None and s.len() == 0


def test_restore_can_be_undone_and_the_undo_undone():
    s = seeded()
    v4 = observed(s)
    s.restore(1, expected_version=4)  # v5
    assert s.undo(expected_version=5, actor="bob") == 6
    assert observed(s) == v4
    assert s.events()[-1].actor == "bob" and s.events()[-1].args["restored_version"] == 4
    s.undo(expected_version=6)  # undoes the undo
    assert observed(s) == (history.state_at(s.id, 1).messages, None)
    assert s.version() == 7


def unchanged_after(s: SessionService, call, error) -> None:
    before = (s.messages(), s.last_usage(), s.version(), len(s.events()))
    with pytest.raises(error):
        call()
    assert (s.messages(), s.last_usage(), s.version(), len(s.events())) == before


def test_restore_and_undo_with_a_stale_expected_version_are_refused():
    s = seeded()
    unchanged_after(s, lambda: s.restore(1, expected_version=3), VersionConflict)
    unchanged_after(s, lambda: s.undo(expected_version=3), VersionConflict)
    with pytest.raises(VersionConflict, match=r"v3 → v4"):
        s.undo(expected_version=3)


def test_restore_and_undo_reject_bad_arguments_without_changing_anything():
    s = seeded()
    unchanged_after(s, lambda: s.restore(9), InvalidArgument)
    unchanged_after(s, lambda: s.restore(-1), InvalidArgument)
    unchanged_after(s, lambda: s.restore("2"), InvalidArgument)
    unchanged_after(s, lambda: s.undo(expected_version=None), InvalidArgument)
    fresh = SessionService.new()
    with pytest.raises(InvalidArgument, match="nothing to undo"):
        fresh.undo(expected_version=0)


def test_diff_lists_added_removed_changed_and_usage():
    s = SessionService.new()
    s.set_messages([Message("system", "sys"), Message("user", "a"), Message("assistant", "b")])  # v1
    s.replace(1, Message("user", "A!"))
    s.remove(2)
    s.append("user", "c")
    s.append("assistant", "d")
    s.set_usage(TokenUsage(1, 2, 3))  # v6
    d = history.diff_versions(s.id, 1, 6)
    assert (d.added, d.removed, d.changed) == (1, 0, 2)
    kinds = [(e.kind, e.old_index, e.new_index) for e in d.entries]
    assert kinds == [("changed", 1, 1), ("changed", 2, 2), ("added", None, 3)]
    assert d.entries[0].old == Message("user", "a") and d.entries[0].new == Message("user", "A!")
    assert d.usage_changed and d.old_usage is None and d.new_usage == TokenUsage(1, 2, 3)
    assert (d.old_len, d.new_len) == (3, 4)
    back = history.diff_versions(s.id, 6, 0)
    assert back.removed == 4 and back.added == 0 and back.changed == 0
    same = history.diff_versions(s.id, 3, 3)
    assert same.entries == [] and not same.usage_changed


def test_events_in_words():
    s = SessionService.new()
    s.set_messages([Message("user", str(i)) for i in range(17)])
    s.truncate(1, 4)
    s.replace(4, Message("assistant", '{"decision": "escalate", "why": "a long explanation here"}'))
    s.remove(4)
    words = [history.describe(e.op, e.args) for e in s.events()]
    assert words[0] == "set all messages to 17 messages (0 removed)"
    assert words[1] == "truncated to first 1 + last 4 (12 removed)"
    assert words[3] == 'removed message 4 (assistant: \'{"decision": "escalate", "why": "a long…\')'
    assert history.describe("prune", {"n": 1, "removed_count": 2}) == "pruned the last 1 pair (2 removed)"
    assert history.describe("move", {"from_index": 3, "to_index": 0}) == "moved message 3 to position 0"
    assert history.describe("set_usage", {"usage": None}) == "set usage to none (the previous usage stays)"
    assert (
        history.describe("set_usage", {"usage": {"prompt": 1, "completion": 2, "total": 3}})
        == "set usage to 1 prompt + 2 completion = 3 tokens"
    )
    assert history.describe("clear", {"removed_count": 3}) == "cleared all messages (3 removed)"
    assert history.describe("append", {"role": "user", "content": "hi\nthere"}) == (
        "appended a message (user: 'hi there')"
    )
    restored = {"restored_version": 7, "messages": [{}] * 2, "usage": None, "removed_count": 5}
    assert history.describe("restore", restored) == "restored version 7 (2 messages, no usage) (5 removed)"


def test_export_replays_to_the_current_state():
    s = seeded()
    s.restore(2, actor="carol")
    data = json.loads(json.dumps(history.export_history(s.id)))
    assert data["session"]["id"] == str(s.id) and data["session"]["version"] == 5
    assert data["base"] == {"version": 0, "messages": [], "usage": None}
    assert [e["version"] for e in data["events"]] == [1, 2, 3, 4, 5]
    assert data["events"][-1]["actor"] == "carol"
    assert data["events"][-1]["description"].startswith("restored version 2")
    messages: list[Message] = []
    usage = None
    for e in data["events"]:
        usage = apply_event(messages, usage, e["op"], e["args"])
    assert (messages, usage) == observed(s)


def test_version_unavailable_when_events_are_missing():
    s = seeded()
    models.SessionEvent.objects.filter(session_id=s.id, version__lte=2).delete()
    with pytest.raises(VersionUnavailable) as info:
        history.state_at(s.id, 3)
    assert info.value.http_status == 410


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_undos_of_the_same_version_apply_once():
    """Two editors press "Undo" on v4 at the same moment: one wins, the other is refused (row lock)."""
    import threading

    from django.db import connection

    s = seeded()
    barrier = threading.Barrier(2)
    results: list[object] = []

    def press() -> None:
        try:
            barrier.wait()
            results.append(s.undo(expected_version=4, actor=threading.current_thread().name))
        except VersionConflict as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=press, name=f"editor-{i}") for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(r).__name__ for r in results) == ["VersionConflict", "int"]
    assert s.version() == 5 and observed(s) == (
        history.state_at(s.id, 3).messages,
        history.state_at(s.id, 3).usage,
    )


@pytest.mark.parametrize("seed", range(6))
def test_diff_is_a_valid_edit_script_with_many_repeated_messages(seed):
    """Patience anchors plus SequenceMatcher in the gaps, also past the exact-match gap size."""
    rng = random.Random(seed)
    pool = [Message("user", "ok"), Message("assistant", "ok"), Message("user", "continue")]
    old = [rng.choice(pool) if rng.random() < 0.6 else Message("user", f"u{i}") for i in range(600)]
    new = list(old)
    for _ in range(rng.randint(1, 80)):
        k = rng.randrange(len(new))
        action = rng.random()
        if action < 0.3:
            del new[k]
        elif action < 0.6:
            new.insert(k, rng.choice(pool + [Message("system", f"n{k}")]))
        else:
            new[k] = Message("assistant", f"changed {k}")
    if seed % 2:
        scrambled = new[:250]  # a long scrambled stretch
        rng.shuffle(scrambled)
        new[:250] = scrambled
    d = history.diff(history.VersionState(1, old, None), history.VersionState(2, new, None))
    assert_diff_is_an_edit_script(d, old, new)


def test_an_import_is_one_version_that_replays_to_the_imported_session():
    from tests.test_transfer import import_one

    s = import_one(
        {
            "name": "imported",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "ünï ✓"}],
            "usage": {"prompt": 5, "completion": 6, "total": 11},
        }
    )
    s.append("assistant", "after")
    events = models.SessionEvent.objects.filter(session_id=s.id).order_by("version")
    assert [(e.version, e.op) for e in events] == [(1, "import"), (2, "append")]
    assert history.describe_event(events[0]) == (
        "imported 2 messages, usage 5 prompt + 6 completion = 11 tokens"
    )
    v1 = history.state_at(s.id, 1)
    assert v1.messages == [Message("system", "Be brief."), Message("user", "ünï ✓")]
    assert v1.usage == TokenUsage(5, 6, 11)
    assert (
        history.state_at(s.id, 0).messages == [] and history.state_at(s.id, 2).messages[-1].content == "after"
    )
    # The event alone rebuilds it, whatever came before (replay.py).
    messages = [Message("user", "whatever")]
    assert apply_event(messages, None, "import", events[0].args) == TokenUsage(5, 6, 11)
    assert messages == v1.messages
    # Restoring v1 (or undoing the append) gives the import back.
    s.undo(expected_version=2)
    assert observed(s) == (v1.messages, v1.usage)
    assert history.describe(
        "import", {"messages": [], "usage": None, "imported_from": str(uuid.UUID(int=1))}
    ) == (f"imported 0 messages (as a new session; its file gave id {uuid.UUID(int=1)})")

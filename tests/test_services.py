"""SessionService: every Session API behaviour, errors included, and that failures change nothing."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from sessions_app import models
from sessions_app.domain.errors import (
    IndexOutOfRange,
    InvalidArgument,
    SessionError,
    SessionNotFound,
    VersionConflict,
)
from sessions_app.domain.types import Event, Message, Role, TokenUsage
from sessions_app.services import SessionService
from tests.order_checks import keys_in_order

pytestmark = pytest.mark.django_db

U, A, S = "user", "assistant", "system"


def make(*contents: str) -> SessionService:
    s = SessionService.new(name="t")
    s.set_messages([Message(U if i % 2 == 0 else A, c) for i, c in enumerate(contents)])
    return s


def contents(s: SessionService) -> list[str]:
    return [m.content for m in s.messages()]


def snapshot(s: SessionService) -> tuple:
    return (s.messages(), s.last_usage(), s.version(), len(s.events()))


def keys_ordered(s: SessionService) -> bool:
    return keys_in_order(s.id)


def test_types_compare_by_value_and_errors_have_the_promised_bases():
    assert Message(role="user", content="x") == Message(role=Role.USER, content="x")
    assert TokenUsage(1, 2, 3) == TokenUsage(prompt=1, completion=2, total=3)
    assert Role.ASSISTANT == "assistant"
    assert issubclass(IndexOutOfRange, SessionError) and issubclass(IndexOutOfRange, IndexError)
    assert issubclass(InvalidArgument, SessionError) and issubclass(InvalidArgument, ValueError)
    assert issubclass(SessionNotFound, SessionError) and issubclass(VersionConflict, SessionError)


def test_new_session_is_empty_at_version_zero_and_can_be_fetched():
    s = SessionService.new(name="demo", metadata={"program": "triage"})
    assert s.messages() == [] and s.len() == 0 and len(s) == 0
    assert s.last_usage() is None and s.version() == 0 and s.events() == []
    again = SessionService.get(str(s.id))
    assert again.id == s.id and again.row().metadata == {"program": "triage"}


@pytest.mark.parametrize("bad_id", ["nope", "00000000-0000-0000-0000-000000000000", 42])
def test_get_unknown_or_malformed_id_raises_not_found(bad_id):
    with pytest.raises(SessionNotFound):
        SessionService.get(bad_id)


def test_append_and_reads():
    s = SessionService.new()
    assert s.append(Role.USER, "Hello") == 1
    s.append("assistant", "Hi there!")
    assert s.messages() == [Message(U, "Hello"), Message(A, "Hi there!")]
    assert s.at(1) == Message(A, "Hi there!") and s.len() == 2 and s.version() == 2


def test_messages_returns_a_fresh_list():
    s = make("a")
    got = s.messages()
    got.append(Message(U, "not stored"))
    assert contents(s) == ["a"]


@pytest.mark.parametrize("index", [-1, 3, 100])
def test_at_out_of_bounds(index):
    s = make("a", "b", "c")
    with pytest.raises(IndexOutOfRange, match=rf"index {index} out of bounds \(len=3\)"):
        s.at(index)


def test_insert_at_start_middle_and_end():
    s = make("b", "d")
    s.insert(0, Message(S, "a"))
    s.insert(2, Message(U, "c"))
    s.insert(4, Message(U, "e"))  # len appends
    assert contents(s) == ["a", "b", "c", "d", "e"] and keys_ordered(s)


def test_remove_and_replace():
    s = make("a", "b", "c", "d")
    s.remove(1)
    assert contents(s) == ["a", "c", "d"] and keys_ordered(s)
    s.replace(2, Message(S, "D"))
    assert s.at(2) == Message(S, "D") and s.len() == 3


def test_prune_removes_last_pairs_and_empties_when_larger():
    s = make("1", "2", "3", "4", "5")
    s.prune(1)
    assert contents(s) == ["1", "2", "3"]
    s.prune(0)
    assert contents(s) == ["1", "2", "3"]
    s.prune(10)
    assert contents(s) == []


def test_truncate_keeps_first_and_last():
    s = make(*"abcdefg")
    s.truncate(2, 2)
    assert contents(s) == ["a", "b", "f", "g"] and keys_ordered(s)
    s.truncate(3, 1)  # 3 + 1 >= len: unchanged
    assert contents(s) == ["a", "b", "f", "g"]
    s.truncate(0, 1)
    assert contents(s) == ["g"]
    s.truncate(0, 0)
    assert contents(s) == []


def test_set_messages_copies_input():
    s = SessionService.new()
    source = [Message(U, "q"), {"role": "assistant", "content": "a"}]
    s.set_messages(source)
    source.append(Message(U, "later"))
    assert s.messages() == [Message(U, "q"), Message(A, "a")]


def test_set_usage_none_keeps_previous_and_counts_as_write():
    s = SessionService.new()
    s.set_usage(TokenUsage(100, 50, 150))
    v = s.version()
    s.set_usage(None)
    assert s.last_usage() == TokenUsage(100, 50, 150) and s.version() == v + 1


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(0, 3, "bcda"), (3, 0, "dabc"), (1, 2, "acbd"), (2, 2, "abcd"), (0, 0, "abcd")],
)
def test_move_puts_the_message_at_the_target_index(a, b, expected):
    s = make(*"abcd")
    s.move(a, b)
    assert "".join(contents(s)) == expected and keys_ordered(s)


def test_record_exchange_is_one_version_with_two_messages_and_usage():
    s = make("sys")
    v = s.version()
    s.record_exchange("2+2?", '{"answer": 4}', TokenUsage(10, 5, 15))
    assert s.messages()[-2:] == [Message(U, "2+2?"), Message(A, '{"answer": 4}')]
    assert s.last_usage() == TokenUsage(10, 5, 15) and s.version() == v + 1
    assert s.events(after=v)[0].op == "record_exchange"


def test_every_write_bumps_version_once_and_records_a_replayable_event():
    s = SessionService.new()
    calls = [
        lambda: s.append(U, "a"),
        lambda: s.insert(0, Message(S, "s")),
        lambda: s.replace(1, Message(U, "b")),
        lambda: s.record_exchange("p", "r", TokenUsage(1, 2, 3)),
        lambda: s.move(0, 2),
        lambda: s.remove(1),
        lambda: s.set_usage(TokenUsage(4, 5, 9)),
        lambda: s.truncate(1, 1),
        lambda: s.prune(0),
        lambda: s.set_messages([Message(U, "x")]),
        lambda: s.clear(),
    ]
    for i, call in enumerate(calls, start=1):
        assert call() == i and s.version() == i
    events = s.events()
    assert [e.version for e in events] == list(range(1, len(calls) + 1))
    assert all(isinstance(e, Event) and e.actor == "system" for e in events)
    assert [e.op for e in s.events(after=9)] == ["set_messages", "clear"]


def test_actor_is_recorded():
    s = SessionService.new()
    s.append(U, "hi", actor="alice")
    assert s.events()[0].actor == "alice"


def test_expected_version_matching_writes_and_stale_conflicts():
    s = make("a")
    v = s.version()
    s.append(U, "b", expected_version=v)
    before = snapshot(s)
    with pytest.raises(VersionConflict) as err:
        s.remove(0, expected_version=v)
    assert (err.value.expected, err.value.current) == (v, v + 1)
    assert "changed (v1 → v2)" in str(err.value)
    assert snapshot(s) == before


BAD_CALLS = {
    "remove out of range": (lambda s: s.remove(3), IndexOutOfRange),
    "remove negative": (lambda s: s.remove(-1), IndexOutOfRange),
    "replace out of range": (lambda s: s.replace(3, Message(U, "x")), IndexOutOfRange),
    "insert past len": (lambda s: s.insert(4, Message(U, "x")), IndexOutOfRange),
    "insert negative": (lambda s: s.insert(-1, Message(U, "x")), IndexOutOfRange),
    "move from out of range": (lambda s: s.move(3, 0), IndexOutOfRange),
    "move to out of range": (lambda s: s.move(0, 3), IndexOutOfRange),
    "prune negative": (lambda s: s.prune(-1), InvalidArgument),
    "truncate negative first": (lambda s: s.truncate(-1, 1), InvalidArgument),
    "truncate negative last": (lambda s: s.truncate(1, -1), InvalidArgument),
    "unknown role": (lambda s: s.append("robot", "x"), InvalidArgument),
    "role not text": (lambda s: s.append(1, "x"), InvalidArgument),
    "content not text": (lambda s: s.append(U, 5), InvalidArgument),
    "NUL in content": (lambda s: s.append(U, "a\x00b"), InvalidArgument),
    "unpaired surrogate": (lambda s: s.append(U, "a\ud800"), InvalidArgument),
    "oversized content": (lambda s: s.append(U, "x" * (1024 * 1024 + 1)), InvalidArgument),
    "oversized multibyte content": (lambda s: s.append(U, "é" * (512 * 1024 + 1)), InvalidArgument),
    "NUL in replace": (lambda s: s.replace(0, Message(U, "\x00")), InvalidArgument),
    "bad role in set_messages": (
        lambda s: s.set_messages([Message(U, "ok"), Message("x", "y")]),
        InvalidArgument,
    ),
    "set_messages not a list": (lambda s: s.set_messages("abc"), InvalidArgument),
    "set_messages extra field": (
        lambda s: s.set_messages([{"role": U, "content": "a", "x": 1}]),
        InvalidArgument,
    ),
    "negative usage": (lambda s: s.set_usage(TokenUsage(-1, 0, 0)), InvalidArgument),
    "usage not ints": (lambda s: s.set_usage(TokenUsage("1", 0, 0)), InvalidArgument),
    "usage wrong shape": (lambda s: s.set_usage({"prompt": 1}), InvalidArgument),
    "index not int": (lambda s: s.remove("0"), InvalidArgument),
    "index bool": (lambda s: s.remove(True), InvalidArgument),
    "huge index": (lambda s: s.remove(2**70), InvalidArgument),
    "NUL in exchange": (lambda s: s.record_exchange("p\x00", "r"), InvalidArgument),
    "bad expected_version": (lambda s: s.append(U, "x", expected_version="3"), InvalidArgument),
    "stale expected_version": (lambda s: s.clear(expected_version=0), VersionConflict),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_failing_call_raises_and_changes_nothing(name, django_capture_on_commit_callbacks):
    s = make("a", "b", "c")
    s.set_usage(TokenUsage(1, 1, 2))
    before = snapshot(s)
    call, error = BAD_CALLS[name]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with pytest.raises(error) as raised:
            call(s)
    assert str(raised.value)  # a message a person can read
    assert snapshot(s) == before and keys_ordered(s)
    assert callbacks == []  # no broadcast


def test_content_limit_is_configurable(settings):
    settings.ZYN_MAX_CONTENT_BYTES = 10
    s = SessionService.new()
    s.append(U, "x" * 10)
    with pytest.raises(InvalidArgument, match="11 bytes; the limit is 10"):
        s.append(U, "x" * 11)


def test_writes_on_a_deleted_session_raise_not_found():
    s = make("a")
    models.Session.objects.filter(pk=s.id).delete()
    with pytest.raises(SessionNotFound):
        s.append(U, "x")
    with pytest.raises(SessionNotFound):
        s.len()


@pytest.mark.parametrize(
    "op",
    [
        lambda s: s.insert(0, Message(U, "new")),
        lambda s: s.remove(0),
        lambda s: s.move(0, 9_999),
        lambda s: s.move(9_999, 0),
        lambda s: s.truncate(1, 1),
        lambda s: s.replace(0, Message(U, "r")),
    ],
    ids=["insert@0", "remove@0", "move 0→end", "move end→0", "truncate", "replace"],
)
def test_big_session_writes_take_a_constant_number_of_statements(op):
    s = SessionService.new()
    s.set_messages([Message(U, str(i)) for i in range(10_000)])
    with CaptureQueriesContext(connection) as queries:
        op(s)
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) <= 7, [sql[:80] for sql in statements]
    assert keys_ordered(s)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "x" * 201}, "name"),
        ({"name": "a\x00"}, "name"),
        ({"metadata": ["not", "an", "object"]}, "metadata"),
        ({"metadata": {"when": object()}}, "metadata"),
        ({"metadata": {"ratio": float("nan")}}, "metadata"),
    ],
)
def test_new_rejects_bad_name_and_metadata(kwargs, field):
    with pytest.raises(InvalidArgument) as err:
        SessionService.new(**kwargs)
    assert err.value.details["field"] == field and models.Session.objects.count() == 0


@pytest.mark.postgres
def test_foreign_keys_to_the_session_are_checked_per_statement_on_postgresql():
    """Migration 0007: the foreign keys to the session row are NOT DEFERRABLE (checked per statement,
    without the deferred-trigger queue that costs the append ~8 %). An AlterField on one of them would
    recreate it deferrable; this catches that."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, condeferrable FROM pg_constraint"
            " WHERE contype = 'f' AND confrelid = 'sessions_app_session'::regclass ORDER BY 1"
        )
        rows = cursor.fetchall()
    assert rows == [
        ("sessions_app_message", False),
        ("sessions_app_sessionevent", False),
        ("sessions_app_sessionsnapshot", False),
    ]
    s = SessionService.new()
    with pytest.raises(IntegrityError):  # checked at the statement, not at COMMIT
        with transaction.atomic():
            models.Message.objects.create(session_id=uuid.uuid4(), order_key=0, role="user", content="x")
    s.append("user", "still fine")
    assert s.len() == 1

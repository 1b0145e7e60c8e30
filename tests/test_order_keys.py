"""Order keys: positional edits write constant rows, and the rare respace stays local and cheap.

The adversarial tests insert thousands of times at the same index and at index 0 and check the order
(against a list), the keys' invariant (unique, increasing, indexes 0..len-1 by rank) and the cost:
rows re-keyed per insert and statements per write.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection

from sessions_app import models
from sessions_app.domain import order_keys
from sessions_app.domain.order_keys import GAP, LARGEST, MIN_SPACING
from sessions_app.domain.types import Message
from sessions_app.services import SessionService
from sessions_app.services.rows import Rows
from tests.order_checks import keys_in_order


def filled(n: int) -> SessionService:
    return SessionService.import_session(messages=[Message("user", f"m{i}") for i in range(n)])


def keys(s: SessionService) -> dict[int, int]:
    return dict(models.Message.objects.filter(session_id=s.id).values_list("id", "order_key"))


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """The statements run on the connection, savepoints aside (CaptureQueriesContext keeps only 9,000)."""
    seen: list[str] = []

    def count(execute, sql, params, many, context):  # noqa: ANN001, ANN202
        if not sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):
            seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield seen


@pytest.fixture
def rekeyed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of rows each respace re-keyed, in order."""
    counts: list[int] = []
    rekey = Rows.rekey

    def counting(self: Rows, plan: order_keys.Respacing, lo: int | None, hi: int | None) -> None:
        counts.append(plan.rows)
        rekey(self, plan, lo, hi)

    monkeypatch.setattr(Rows, "rekey", counting)
    return counts


# ---------------------------------------------------------------- pure arithmetic


def test_keys_at_the_ends_are_a_gap_apart_and_between_takes_the_midpoints():
    assert order_keys.after(10, 2) == [10 + GAP, 10 + 2 * GAP]
    assert order_keys.before(10, 2) == [10 - 2 * GAP, 10 - GAP]
    assert order_keys.between(0, 9, 2) == [3, 6]
    assert order_keys.between(0, 2, 1) == [1] and order_keys.between(0, 1, 1) is None


def test_a_respace_leaves_room_at_its_slots_or_declines():
    plan = order_keys.respace(0, 100 * MIN_SPACING, rows=4, split=2, slots=3)
    assert plan is not None
    keys = [plan.key(j) for j in range(4)]
    assert keys[:2] < plan.slot_keys() < keys[2:]
    assert sorted(keys + plan.slot_keys()) == keys[:2] + plan.slot_keys() + keys[2:]
    placed = [0, *keys[:2], *plan.slot_keys(), *keys[2:]]
    assert min(b - a for a, b in zip(placed, placed[1:], strict=False)) >= MIN_SPACING
    assert order_keys.respace(0, 8 * MIN_SPACING, rows=8, split=4, slots=1) is None  # too crowded
    at_end = order_keys.respace(LARGEST - GAP, None, rows=3, split=3, slots=1)
    assert at_end is None  # would leave the 64-bit range: a wider window is needed
    whole = order_keys.respace(None, None, rows=3, split=3, slots=1)
    assert whole is not None and whole.slot_keys() == [4 * GAP]


# ---------------------------------------------------------------- constant rows per edit


@pytest.mark.django_db
def test_insert_remove_and_move_change_one_row_and_truncate_deletes_only_its_range():
    s = filled(40)
    before = keys(s)
    s.insert(20, Message("user", "new"))
    after = keys(s)
    assert len(after) == 41 and {k: v for k, v in after.items() if k in before} == before
    s.remove(5)
    s.move(0, 39)
    s.move(30, 2)
    changed = {k for k, v in keys(s).items() if before.get(k) != v}
    assert len(changed) == 3  # the inserted row and the two moved ones
    kept = keys(s)
    s.truncate(1, 10)
    assert {k: kept[k] for k in keys(s)} == keys(s) and s.len() == 11
    assert keys_in_order(s.id)


@pytest.mark.django_db
def test_set_messages_writes_only_the_rows_that_differ(statements):
    s = filled(30)
    before = keys(s)
    wanted = [m for m in s.messages()]
    wanted[10] = Message("assistant", "changed")
    del wanted[20:23]
    wanted.insert(25, Message("user", "added"))
    statements.clear()
    s.set_messages(wanted)
    written = len(statements)  # lock, read, update, delete, neighbours, insert, bump, event
    assert s.messages() == wanted and keys_in_order(s.id)
    after = keys(s)
    assert len([k for k in before if after.get(k) == before[k]]) == 30 - 3  # one replaced, three gone
    assert written <= 8  # not one per row


# ---------------------------------------------------------------- adversarial inserts


# transaction=True: thousands of writes as savepoints of one test transaction slow PostgreSQL down
# (its subtransaction cache overflows); committed one by one they run as in production.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("index", [0, 1, 10])
def test_thousands_of_inserts_at_one_index_keep_order_with_rare_small_respaces(index, rekeyed, statements):
    s = filled(20)
    expected = s.messages()
    inserts = 2000
    statements.clear()
    for i in range(inserts):
        s.insert(index, Message("user", f"n{i}"))
        expected.insert(index, Message("user", f"n{i}"))
    per_insert = len(statements) / inserts
    assert s.messages() == expected and keys_in_order(s.id)
    assert sum(rekeyed) / inserts < 1  # rows re-keyed per insert, amortised
    assert max(rekeyed, default=0) <= 256  # no respace reaches far
    assert len(rekeyed) <= inserts / 8  # a respace is rare
    # (BEGIN on SQLite,) lock, neighbours, INSERT, bump, event; a respace adds a few now and then
    assert per_insert < 6.5


@pytest.mark.django_db(transaction=True)
def test_moves_to_the_same_place_and_inserts_after_the_last_inserted_stay_in_order(rekeyed):
    s = filled(50)
    expected = s.messages()
    for i in range(600):
        s.move(49, 1)
        expected.insert(1, expected.pop(49))
        s.insert(10 + i % 7, Message("user", f"x{i}"))
        expected.insert(10 + i % 7, Message("user", f"x{i}"))
        s.remove(len(expected) - 1)
        expected.pop()
    assert s.messages() == expected and keys_in_order(s.id)
    assert sum(rekeyed) / 1800 < 1


@pytest.mark.django_db
def test_keys_running_out_at_an_end_respace_the_session():
    s = filled(3)
    models.Session.objects.filter(pk=s.id).update(last_order_key=LARGEST - GAP // 2)
    models.Message.objects.filter(session_id=s.id, order_key=3 * GAP).update(order_key=LARGEST - GAP)
    s.append("user", "past the end")
    s.insert(4, Message("user", "and another"))
    assert [m.content for m in s.messages()] == ["m0", "m1", "m2", "past the end", "and another"]
    assert keys_in_order(s.id)
    assert models.Session.objects.get(pk=s.id).last_order_key < LARGEST // 2

"""Migration 0009 turns dense positions into order keys and back, with sessions in the database."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from sessions_app.domain.types import Message
from sessions_app.services import SessionService
from tests.order_checks import keys_in_order

BEFORE = [("sessions_app", "0008_message_search_vector")]
AFTER = [("sessions_app", "0009_message_order_keys")]
GAP = 1 << 32


def migrate(target: list[tuple[str, str]] | None = None):  # noqa: ANN201
    """Migrate to ``target`` (None: the latest migrations); the models as they are there."""
    executor = MigrationExecutor(connection)
    target = target or executor.loader.graph.leaf_nodes()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.fixture
def back_to_latest():  # noqa: ANN201
    yield
    migrate()  # the later tests expect the latest schema, whatever happened here


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("back_to_latest")
def test_positions_become_keys_and_keys_become_ranks_again():
    old = migrate(BEFORE)
    Session, Msg = old.get_model("sessions_app", "Session"), old.get_model("sessions_app", "Message")
    first = Session.objects.create(id=uuid.uuid4(), name="first", version=1, message_count=3)
    second = Session.objects.create(id=uuid.uuid4(), name="second", version=1, message_count=2)
    empty = Session.objects.create(id=uuid.uuid4(), name="empty")
    for position in (2, 0, 1):  # rows written out of order
        Msg.objects.create(session=first, position=position, role="user", content=f"a{position}")
    for position in (0, 1):
        Msg.objects.create(session=second, position=position, role="assistant", content=f"b{position}")

    new = migrate(AFTER)
    Msg = new.get_model("sessions_app", "Message")
    rows = Msg.objects.filter(session_id=first.id).order_by("order_key").values_list("content", "order_key")
    assert list(rows) == [("a0", GAP), ("a1", 2 * GAP), ("a2", 3 * GAP)]
    last = dict(new.get_model("sessions_app", "Session").objects.values_list("id", "last_order_key"))
    assert last == {first.id: 3 * GAP, second.id: 2 * GAP, empty.id: 0}
    service = SessionService(first.id)
    assert service.at(2) == Message("user", "a2") and keys_in_order(first.id) and keys_in_order(empty.id)
    service.insert(1, Message("system", "between"))  # a key that is no multiple of GAP
    service.move(3, 0)
    SessionService(second.id).append("user", "b2")
    expected = {
        first.id: ["a2", "a0", "between", "a1"],
        second.id: ["b0", "b1", "b2"],
    }

    old = migrate(BEFORE)
    Msg = old.get_model("sessions_app", "Message")
    for session_id, contents in expected.items():
        rows = Msg.objects.filter(session_id=session_id).order_by("position")
        assert [(m.position, m.content) for m in rows] == list(enumerate(contents))

    migrate()
    for session_id, contents in expected.items():
        assert [m.content for m in SessionService(session_id).messages()] == contents
        assert keys_in_order(session_id)

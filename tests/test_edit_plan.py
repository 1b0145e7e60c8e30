"""plan_edits: a table edit of messages becomes writes that, applied in order, give the table asked for."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sessions_app.domain import ops
from sessions_app.domain.edits import RowEdit, plan_edits
from sessions_app.domain.types import Message
from sessions_app.history.replay import apply_event


def applied(loaded: list[Message], rows: list[RowEdit]) -> list[Message]:
    """The plan's writes applied in order, each checked and recorded as the service records it."""
    messages = list(loaded)
    for op, args in plan_edits(rows):
        apply_event(messages, None, op, ops.API_WRITES[op].record(args))
    return messages


@st.composite
def table_edits(draw: st.DrawFn) -> tuple[list[Message], list[RowEdit], list[Message]]:
    """Loaded messages, an edit of every row with distinct wanted positions, and the table it asks for."""
    loaded = [Message("user", f"m{i}") for i in range(draw(st.integers(0, 8)))]
    removed = [draw(st.booleans()) for _ in loaded]
    edited = [draw(st.booleans()) for _ in loaded]
    added = draw(st.integers(0, 3))
    final = len(loaded) - sum(removed) + added
    positions = iter(draw(st.permutations(range(final))))
    rows, wanted = [], [None] * final
    for i, message in enumerate(loaded):
        if removed[i]:
            rows.append(RowEdit(None, original=i, removed=True))
            continue
        new = Message("assistant", f"{message.content} edited") if edited[i] else message
        wanted[position := next(positions)] = new
        rows.append(RowEdit(new, original=i, wanted=position, edited=edited[i]))
    for k in range(added):
        new = Message("system", f"new {k}")
        wanted[position := next(positions)] = new
        rows.append(RowEdit(new, wanted=position))
    return loaded, draw(st.permutations(rows)), wanted


@given(table_edits())
def test_the_writes_give_the_table_asked_for(case):
    loaded, rows, wanted = case
    assert applied(loaded, rows) == wanted


def test_an_untouched_table_is_no_write_and_new_rows_without_a_position_are_appended():
    loaded = [Message("user", "a"), Message("assistant", "b")]
    untouched = [RowEdit(m, original=i) for i, m in enumerate(loaded)]
    assert plan_edits(untouched) == []
    rows = [*untouched, RowEdit(Message("user", "c")), RowEdit(Message("user", "d"))]
    assert plan_edits(rows) == [
        ("insert", {"index": 2, "message": Message("user", "c")}),
        ("insert", {"index": 3, "message": Message("user", "d")}),
    ]
    assert applied(loaded, rows) == [*loaded, Message("user", "c"), Message("user", "d")]

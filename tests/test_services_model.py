"""Random op sequences against a plain-Python model of the Go semantics (tests/model.py).

After every step the database session must equal the model (messages, usage, version, dense
positions), errors must match (IndexOutOfRange where Go returns its bounds error, InvalidArgument
for negative counts), and replaying events(0) from empty must rebuild the final messages and usage.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from sessions_app.domain.errors import IndexOutOfRange, InvalidArgument, VersionConflict
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.history.replay import replay
from sessions_app.services import SessionService
from tests.model import ModelIndexError, ModelValueError, SessionModel
from tests.order_checks import keys_in_order

roles = st.sampled_from(["user", "assistant", "system"])
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
messages = st.tuples(roles, texts)
indexes = st.integers(min_value=-2, max_value=16)
counts = st.integers(min_value=-1, max_value=8)
usages = st.none() | st.tuples(*[st.integers(min_value=0, max_value=10**6)] * 3)


def as_usage(u: tuple[int, int, int] | None) -> TokenUsage | None:
    return None if u is None else TokenUsage(*u)


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.session = SessionService.new(name="model")
        self.model = SessionModel()

    def both(self, db_call, model_call) -> None:  # noqa: ANN001
        """Run the call on both sides; the same error class (or none) must come out."""
        try:
            model_call()
            model_error = None
        except ModelIndexError:
            model_error = IndexOutOfRange
        except ModelValueError:
            model_error = InvalidArgument
        if model_error is None:
            db_call()
        else:
            with pytest.raises(model_error):
                db_call()

    @rule(m=messages)
    def append(self, m):
        self.both(lambda: self.session.append(*m), lambda: self.model.append(*m))

    @rule()
    def clear(self):
        self.both(self.session.clear, self.model.clear)

    @rule(i=indexes)
    def remove(self, i):
        self.both(lambda: self.session.remove(i), lambda: self.model.remove(i))

    @rule(i=indexes, m=messages)
    def replace(self, i, m):
        self.both(lambda: self.session.replace(i, Message(*m)), lambda: self.model.replace(i, m))

    @rule(i=indexes, m=messages)
    def insert(self, i, m):
        self.both(lambda: self.session.insert(i, Message(*m)), lambda: self.model.insert(i, m))

    @rule(n=counts)
    def prune(self, n):
        self.both(lambda: self.session.prune(n), lambda: self.model.prune(n))

    @rule(first=counts, last=counts)
    def truncate(self, first, last):
        self.both(lambda: self.session.truncate(first, last), lambda: self.model.truncate(first, last))

    @rule(ms=st.lists(messages, max_size=14))
    def set_messages(self, ms):
        self.both(
            lambda: self.session.set_messages([Message(*m) for m in ms]), lambda: self.model.set_messages(ms)
        )

    @rule(u=usages)
    def set_usage(self, u):
        self.both(lambda: self.session.set_usage(as_usage(u)), lambda: self.model.set_usage(u))

    @rule(a=indexes, b=indexes)
    def move(self, a, b):
        self.both(lambda: self.session.move(a, b), lambda: self.model.move(a, b))

    @rule(p=texts, r=texts, u=usages)
    def record_exchange(self, p, r, u):
        self.both(
            lambda: self.session.record_exchange(p, r, as_usage(u)),
            lambda: self.model.record_exchange(p, r, u),
        )

    @rule(i=indexes, stale_by=st.integers(min_value=1, max_value=3))
    def stale_write_conflicts(self, i, stale_by):
        with pytest.raises(VersionConflict):
            self.session.remove(i, expected_version=self.model.version + stale_by)
        if self.model.version >= stale_by:
            with pytest.raises(VersionConflict):
                self.session.append("user", "x", expected_version=self.model.version - stale_by)

    @invariant()
    def database_equals_model(self):
        assert [(m.role, m.content) for m in self.session.messages()] == self.model.messages
        usage = self.session.last_usage()
        assert (None if usage is None else (usage.prompt, usage.completion, usage.total)) == self.model.usage
        assert self.session.version() == self.model.version
        assert self.session.len() == len(self.model.messages)
        assert keys_in_order(self.session.id)

    def teardown(self) -> None:
        events = self.session.events()
        assert [e.version for e in events] == list(range(1, self.model.version + 1))
        rebuilt, usage = replay(events)
        assert [(m.role, m.content) for m in rebuilt] == self.model.messages
        assert (None if usage is None else (usage.prompt, usage.completion, usage.total)) == self.model.usage


@pytest.mark.django_db
def test_random_op_sequences_match_the_go_model_and_replay():
    run_state_machine_as_test(
        SessionMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )

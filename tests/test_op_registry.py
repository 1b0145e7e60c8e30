"""The op registry (domain/ops.py) is the one definition of each write: these tests fail when an op is
missing from a layer built on it, and check its pure semantics against the independent Go model."""

from __future__ import annotations

import inspect

import pytest
from django.urls import NoReverseMatch, reverse
from hypothesis import given, settings
from hypothesis import strategies as st

import zyn_client
from sessions_app.api import schemas
from sessions_app.api.app import api
from sessions_app.domain import ops
from sessions_app.domain.errors import IndexOutOfRange, InvalidArgument
from sessions_app.domain.types import Message
from sessions_app.history.replay import apply_event
from sessions_app.services import SessionService
from tests.model import ModelIndexError, ModelValueError, SessionModel
from tests.test_services_model import counts, indexes, messages, texts, usages

# Writes a program makes and an operator has no form for (the dashboard shows their results).
PROGRAM_ONLY = {"record_exchange"}

# One recorded example of each op's event args, as the service records them.
RECORDED = {
    "append": {"role": "user", "content": "hi"},
    "insert": {"index": 0, "role": "user", "content": "hi"},
    "replace": {"index": 0, "role": "user", "content": "hi", "previous": {"role": "user", "content": "a"}},
    "remove": {"index": 0, "removed": {"role": "user", "content": "a"}},
    "move": {"from_index": 0, "to_index": 1},
    "prune": {"n": 1, "removed_count": 2},
    "truncate": {"keep_first": 1, "keep_last": 0, "removed_count": 1},
    "clear": {"removed_count": 2},
    "set_messages": {"messages": [{"role": "user", "content": "x"}], "removed_count": 2},
    "set_usage": {"usage": {"prompt": 1, "completion": 2, "total": 3}},
    "record_exchange": {"prompt": "p", "response": "r", "usage": None},
    "create": {},
    "update_details": {"name": "b", "previous_name": "a"},
    "restore": {"restored_version": 1, "messages": [], "usage": None, "removed_count": 2},
    "import": {"messages": [{"role": "user", "content": "x"}], "usage": None},
}


def test_every_op_has_a_recorded_example_that_replays_and_is_described():
    assert set(RECORDED) == set(ops.OPS)
    for name, args in RECORDED.items():
        messages = [Message("user", "a"), Message("assistant", "b")]
        apply_event(messages, None, name, args)  # replay knows it
        words = ops.describe(name, args)
        assert words and not words.startswith(name + " {"), name  # not the fallback for unknown ops
        assert ops.OPS[name].watch.kind in ("appended", "replaced", "window")


def positional_names(method) -> list[str]:  # noqa: ANN001
    return [
        p.name
        for p in inspect.signature(method).parameters.values()
        if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"
    ]


def test_every_session_api_write_is_a_service_method_with_the_declared_arguments():
    for name, op in ops.API_WRITES.items():
        assert positional_names(getattr(SessionService, name)) == [p.name for p in op.params], name


def test_every_session_api_write_is_a_route_whose_body_is_the_declared_arguments():
    doc = api.get_openapi_schema()
    for name, op in ops.API_WRITES.items():
        route = doc["paths"][f"/sessions/{{session_id}}/{name}"]["post"]
        assert route["summary"] == op.summary
        fields = set(schemas.WRITE_ARGS[name].model_fields)
        assert fields == {p.name for p in op.params} | {"expected_version"}, name


def test_every_session_api_write_is_a_client_method_with_the_declared_arguments():
    for name, op in ops.API_WRITES.items():
        assert positional_names(getattr(zyn_client.RemoteSession, name)) == [p.name for p in op.params], name


def test_every_session_api_write_an_operator_makes_has_a_dashboard_form():
    for name in ops.API_WRITES.keys() - PROGRAM_ONLY:
        try:
            reverse(f"sessions_app:{name}", args=["00000000-0000-0000-0000-000000000000"])
        except NoReverseMatch:
            reverse(f"sessions_app:{name}", args=["00000000-0000-0000-0000-000000000000", 0])


def test_only_ops_that_add_at_the_end_say_watchers_get_appended_rows():
    for name, args in RECORDED.items():
        op = ops.OPS[name]
        if op.watch.kind != "appended":
            continue
        change = op.change(args, 5)
        added = 0 if change is None else change.length_after(5) - 5
        assert added == op.watch.rows, name


# ---------------------------------------------------------------- pure semantics against the Go model

CALLS = st.one_of(
    st.tuples(st.just("append"), st.fixed_dictionaries({"role": st.just("user"), "content": texts})),
    st.tuples(st.just("clear"), st.just({})),
    st.tuples(st.just("remove"), st.fixed_dictionaries({"index": indexes})),
    st.tuples(st.just("replace"), st.fixed_dictionaries({"index": indexes, "message": messages})),
    st.tuples(st.just("insert"), st.fixed_dictionaries({"index": indexes, "message": messages})),
    st.tuples(st.just("prune"), st.fixed_dictionaries({"n": counts})),
    st.tuples(st.just("truncate"), st.fixed_dictionaries({"keep_first": counts, "keep_last": counts})),
    st.tuples(st.just("set_messages"), st.fixed_dictionaries({"messages": st.lists(messages, max_size=8)})),
    st.tuples(st.just("set_usage"), st.fixed_dictionaries({"usage": usages})),
    st.tuples(st.just("move"), st.fixed_dictionaries({"from_index": indexes, "to_index": indexes})),
    st.tuples(
        st.just("record_exchange"),
        st.fixed_dictionaries({"prompt": texts, "response": texts, "usage": usages}),
    ),
)


def _as_call(args: dict) -> dict:
    """The model's tuples as the service's call arguments."""
    out = dict(args)
    if "message" in out:
        out["message"] = dict(zip(("role", "content"), out["message"], strict=True))
    if "messages" in out:
        out["messages"] = [dict(zip(("role", "content"), m, strict=True)) for m in out["messages"]]
    if out.get("usage") is not None:
        out["usage"] = dict(zip(("prompt", "completion", "total"), out["usage"], strict=True))
    return out


def _model_call(model: SessionModel, name: str, args: dict) -> None:
    positional = {
        "append": lambda: (args["role"], args["content"]),
        "clear": lambda: (),
        "remove": lambda: (args["index"],),
        "replace": lambda: (args["index"], args["message"]),
        "insert": lambda: (args["index"], args["message"]),
        "prune": lambda: (args["n"],),
        "truncate": lambda: (args["keep_first"], args["keep_last"]),
        "set_messages": lambda: (args["messages"],),
        "set_usage": lambda: (args["usage"],),
        "move": lambda: (args["from_index"], args["to_index"]),
        "record_exchange": lambda: (args["prompt"], args["response"], args["usage"]),
    }[name]()
    getattr(model, name)(*positional)


@settings(max_examples=300, deadline=None)
@given(st.lists(CALLS, max_size=25))
def test_the_declared_changes_match_the_go_model_step_by_step(calls):
    model, messages, usage = SessionModel(), [], None
    for name, args in calls:
        try:
            _model_call(model, name, args)
            expected_error = None
        except ModelIndexError:
            expected_error = IndexOutOfRange
        except ModelValueError:
            expected_error = InvalidArgument
        op = ops.API_WRITES[name]
        if expected_error is not None:
            with pytest.raises(expected_error):
                op.change(op.record(_as_call(args)), len(messages))
            continue
        recorded = op.record(_as_call(args))
        change = op.change(recorded, len(messages))
        recorded.update(op.outcome(change, len(messages), None))
        usage = apply_event(messages, usage, name, recorded)
        assert [(m.role, m.content) for m in messages] == model.messages
        assert (None if usage is None else (usage.prompt, usage.completion, usage.total)) == model.usage


def test_the_admins_bulk_actions_are_session_api_writes_with_the_declared_arguments():
    from sessions_app.admin.sessions import _BULK

    for op, form_class, _title in _BULK.values():
        assert set(form_class.base_fields) == {p.name for p in ops.API_WRITES[op].params}, op


def test_the_dashboards_edits_are_the_session_api_writes_an_operator_makes():
    from sessions_app.web.edit_views import EDITS

    assert set(EDITS) == ops.API_WRITES.keys() - PROGRAM_ONLY


@pytest.mark.django_db
def test_a_write_by_name_with_wrong_arguments_is_refused_and_changes_nothing():
    session = SessionService.new()
    session.append("user", "kept")
    for op, args, words in [
        ("append", {"role": "user"}, "content is required"),
        ("append", {"role": "user", "content": "x", "colour": "red"}, "append takes no argument 'colour'"),
        ("remove", [0], "must be given by name"),
        ("explode", {}, "no write named 'explode'"),
    ]:
        with pytest.raises(InvalidArgument, match=words):
            session.write(op, args)
    assert session.version() == 1 and [m.content for m in session.messages()] == ["kept"]

"""Writes: ``POST /sessions/<id>/<op>`` with the op's arguments as a JSON object, one SessionService call,
answered ``{"version": <new version>}`` with that version as the ETag. One route per entry of WRITE_OPS."""

# No `from __future__ import annotations`: ninja reads the generated handlers' annotations as objects.
from collections.abc import Callable
from typing import Annotated, Any, NamedTuple
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Header, Router
from pydantic import WithJsonSchema

from sessions_app.api import schemas
from sessions_app.api.auth import WRITE, Access
from sessions_app.api.requests import IF_MATCH_PATTERN, JsonBody, expected_version_from
from sessions_app.api.responses import errors
from sessions_app.api.sessions import SessionId, tag_version
from sessions_app.domain.errors import SessionNotFound
from sessions_app.services import SessionService

router = Router(tags=["write"])


class WriteOp(NamedTuple):
    summary: str
    args: type[schemas.WriteArgs]
    call: Callable[..., int]  # (service, arguments as a dict, expected_version=, actor=) → new version


WRITE_OPS: dict[str, WriteOp] = {
    "append": WriteOp(
        "Add a message to the end",
        schemas.AppendArgs,
        lambda s, a, **kw: s.append(a["role"], a["content"], **kw),
    ),
    "insert": WriteOp(
        "Insert a message at index (0..len)",
        schemas.InsertArgs,
        lambda s, a, **kw: s.insert(a["index"], a["message"], **kw),
    ),
    "replace": WriteOp(
        "Replace the message at index",
        schemas.ReplaceArgs,
        lambda s, a, **kw: s.replace(a["index"], a["message"], **kw),
    ),
    "remove": WriteOp(
        "Remove the message at index",
        schemas.RemoveArgs,
        lambda s, a, **kw: s.remove(a["index"], **kw),
    ),
    "move": WriteOp(
        "Move the message at from_index to to_index",
        schemas.MoveArgs,
        lambda s, a, **kw: s.move(a["from_index"], a["to_index"], **kw),
    ),
    "prune": WriteOp(
        "Remove the last n user+assistant pairs (2n messages)",
        schemas.PruneArgs,
        lambda s, a, **kw: s.prune(a["n"], **kw),
    ),
    "truncate": WriteOp(
        "Keep the first keep_first and last keep_last messages",
        schemas.TruncateArgs,
        lambda s, a, **kw: s.truncate(a["keep_first"], a["keep_last"], **kw),
    ),
    "clear": WriteOp("Remove all messages", schemas.ClearArgs, lambda s, a, **kw: s.clear(**kw)),
    "set_messages": WriteOp(
        "Replace the whole history",
        schemas.SetMessagesArgs,
        lambda s, a, **kw: s.set_messages(a["messages"], **kw),
    ),
    "set_usage": WriteOp(
        "Set the last token usage (null keeps the previous one)",
        schemas.SetUsageArgs,
        lambda s, a, **kw: s.set_usage(a["usage"], **kw),
    ),
    "record_exchange": WriteOp(
        "Append a user prompt and the assistant response, and set usage: one version",
        schemas.RecordExchangeArgs,
        lambda s, a, **kw: s.record_exchange(a["prompt"], a["response"], a["usage"], **kw),
    ),
}

IfMatch = Annotated[
    str,
    WithJsonSchema({"type": "string", "pattern": IF_MATCH_PATTERN}),
    Header(
        None,
        alias="If-Match",
        description='expected version, e.g. "12" (same as the body field expected_version)',
    ),
]


def _session_uuid(session_id: str) -> UUID:
    try:
        return UUID(session_id)
    except ValueError:
        raise SessionNotFound(f"no session with id {session_id[:60]}", id=session_id[:60]) from None


def _add_route(name: str, op: WriteOp) -> None:
    # Bodies are optional where every field is (clear): an empty body is {}.
    required = any(field.is_required() for field in op.args.model_fields.values())

    def write(
        request: HttpRequest,
        response: HttpResponse,
        session_id: SessionId,
        body: Annotated[op.args, JsonBody(... if required else None)],
        if_match: IfMatch = None,
    ) -> dict[str, int]:
        # No existence query first: the write locks the row and raises SessionNotFound itself.
        service = SessionService(_session_uuid(session_id))
        arguments: dict[str, Any] = body.model_dump()
        expected = expected_version_from(if_match, arguments.pop("expected_version"), service)
        version = op.call(service, arguments, expected_version=expected, actor=request.auth.actor)
        tag_version(response, version)
        return {"version": version}

    write.__name__ = f"write_{name}"
    router.post(
        f"/sessions/{{session_id}}/{name}",
        response={200: schemas.Version, **errors(409, 413, 415)},
        auth=Access(WRITE),
        operation_id=name,
        summary=op.summary,
        url_name=f"api-{name}",
    )(write)


for _name, _op in WRITE_OPS.items():
    _add_route(_name, _op)

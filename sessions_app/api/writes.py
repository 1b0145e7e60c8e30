"""Writes: ``POST /sessions/<id>/<op>`` with the op's arguments as a JSON object, one SessionService call,
answered ``{"version": <new version>}`` with that version as the ETag. One route per write of the Session API
(``ops.API_WRITES``)."""

# No `from __future__ import annotations`: ninja reads the generated handlers' annotations as objects.
from typing import Annotated, Any

from django.http import HttpRequest, HttpResponse
from ninja import Header, Router
from pydantic import WithJsonSchema

from sessions_app.api import schemas
from sessions_app.api.auth import WRITE, Access
from sessions_app.api.requests import IF_MATCH_PATTERN, JsonBody, expected_version_from
from sessions_app.api.responses import errors
from sessions_app.api.sessions import SessionId, tag_version
from sessions_app.domain import ops
from sessions_app.domain.ids import parse_session_id
from sessions_app.services import SessionService

router = Router(tags=["write"])


IfMatch = Annotated[
    str,
    WithJsonSchema({"type": "string", "pattern": IF_MATCH_PATTERN}),
    Header(
        None,
        alias="If-Match",
        description='expected version, e.g. "12" (same as the body field expected_version)',
    ),
]


def _add_route(op: ops.Op) -> None:
    arguments_type = schemas.WRITE_ARGS[op.name]
    # Bodies are optional where every field is (clear): an empty body is {}.
    required = any(field.is_required() for field in arguments_type.model_fields.values())

    def write(
        request: HttpRequest,
        response: HttpResponse,
        session_id: SessionId,
        body: Annotated[arguments_type, JsonBody(... if required else None)],
        if_match: IfMatch = None,
    ) -> dict[str, int]:
        # No existence query first: the write locks the row and raises SessionNotFound itself.
        service = SessionService(parse_session_id(session_id))
        arguments: dict[str, Any] = body.model_dump()
        expected = expected_version_from(if_match, arguments.pop("expected_version"), service)
        version = service.write(op.name, arguments, expected_version=expected, actor=request.auth.actor)
        tag_version(response, version)
        return {"version": version}

    write.__name__ = f"write_{op.name}"
    router.post(
        f"/sessions/{{session_id}}/{op.name}",
        response={200: schemas.Version, **errors(409, 413, 415)},
        auth=Access(WRITE),
        operation_id=op.name,
        summary=op.summary,
        url_name=f"api-{op.name}",
    )(write)


for _op in ops.API_WRITES.values():
    _add_route(_op)

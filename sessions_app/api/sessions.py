"""Sessions and their reads: list, create, one session's summary, messages, one message, len, usage,
version, events. Each answer is a Pydantic schema (api/schemas.py)."""

from __future__ import annotations

from typing import Annotated, Any

from django.http import HttpRequest, HttpResponse
from ninja import Router
from ninja.responses import Status
from pydantic import WithJsonSchema

from sessions_app import models
from sessions_app.api import schemas
from sessions_app.api.auth import CREATE, READ, Access
from sessions_app.api.requests import JsonBody, path_index, query_int
from sessions_app.api.responses import errors
from sessions_app.domain.types import MAX_BIGINT
from sessions_app.services import SessionService

router = Router(tags=["sessions"])
reads = Router(tags=["read"])

# Matched as text and parsed by the service, so a malformed id is the JSON 404 of a missing session.
SessionId = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]


def usage_json(row: models.Session) -> dict[str, int] | None:
    if row.usage_total is None:
        return None
    return {"prompt": row.usage_prompt, "completion": row.usage_completion, "total": row.usage_total}


def session_json(row: models.Session) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "metadata": row.metadata,
        "version": row.version,
        "len": row.message_count,
        "usage": usage_json(row),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def tag_version(response: HttpResponse, version: int) -> None:
    response["ETag"] = f'"{version}"'


@router.get(
    "/sessions",
    response={200: schemas.SessionList, **errors()},
    auth=Access(READ),
    operation_id="list_sessions",
    summary="List sessions, most recently updated first",
    url_name="api-sessions",
)
def list_sessions(
    request: HttpRequest,
    limit: query_int(50, 1, 500),
    offset: query_int(0, 0, 2**31 - 1),
) -> dict[str, Any]:
    rows = models.Session.objects.order_by("-updated_at", "id")
    return {
        "count": rows.count(),
        "limit": limit,
        "offset": offset,
        "sessions": [session_json(r) for r in rows[offset : offset + limit]],
    }


@router.post(
    "/sessions",
    response={201: schemas.Session, **errors(413, 415)},
    auth=Access(CREATE),
    operation_id="create_session",
    summary="Create an empty session",
)
def create_session(
    request: HttpRequest,
    response: HttpResponse,
    body: Annotated[schemas.NewSession, JsonBody(None)],
) -> Status:
    body = body or schemas.NewSession()
    row = SessionService.new(name=body.name, metadata=body.metadata).row()
    tag_version(response, row.version)
    response["Location"] = f"{request.path.rstrip('/')}/{row.id}"
    return Status(201, session_json(row))


@reads.get(
    "/sessions/{session_id}",
    response={200: schemas.Session, **errors()},
    auth=Access(READ),
    operation_id="get_session",
    summary="A session's summary",
    url_name="api-session",
)
def get_session(request: HttpRequest, response: HttpResponse, session_id: SessionId) -> dict[str, Any]:
    row = SessionService.get(session_id).row()
    tag_version(response, row.version)
    return session_json(row)


@reads.get(
    "/sessions/{session_id}/messages",
    response={200: schemas.Messages, **errors()},
    auth=Access(READ),
    operation_id="messages",
    summary="All messages, with the version they are at",
    url_name="api-messages",
)
def get_messages(request: HttpRequest, response: HttpResponse, session_id: SessionId) -> dict[str, Any]:
    service = SessionService.get(session_id)
    # Messages and version are two reads without a lock: retry until the version did not move, so
    # the pair is a consistent snapshot (a writer between them would bump it).
    for _ in range(5):
        before = service.version()
        messages = service.messages()
        if service.version() == before:
            break
    tag_version(response, before)
    return {"version": before, "messages": [m.as_dict() for m in messages]}


@reads.get(
    "/sessions/{session_id}/messages/{index}",
    response={200: schemas.Message, **errors(409)},
    auth=Access(READ),
    operation_id="at",
    summary="The message at index",
    url_name="api-message",
)
def get_message(
    request: HttpRequest,
    session_id: SessionId,
    index: Annotated[
        int, path_index, WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_BIGINT})
    ],
) -> dict[str, str]:
    return SessionService.get(session_id).at(index).as_dict()


@reads.get(
    "/sessions/{session_id}/len",
    response={200: schemas.Len, **errors()},
    auth=Access(READ),
    operation_id="len",
    summary="Number of messages",
    url_name="api-len",
)
def get_len(request: HttpRequest, session_id: SessionId) -> dict[str, int]:
    return {"len": SessionService.get(session_id).len()}


@reads.get(
    "/sessions/{session_id}/usage",
    response={200: schemas.LastUsage, **errors()},
    auth=Access(READ),
    operation_id="last_usage",
    summary="Last token usage (null if none)",
    url_name="api-usage",
)
def get_usage(request: HttpRequest, session_id: SessionId) -> dict[str, Any]:
    usage = SessionService.get(session_id).last_usage()
    return {"usage": None if usage is None else usage.as_dict()}


@reads.get(
    "/sessions/{session_id}/version",
    response={200: schemas.Version, **errors()},
    auth=Access(READ),
    operation_id="version",
    summary="Current version",
    url_name="api-version",
)
def get_version(request: HttpRequest, response: HttpResponse, session_id: SessionId) -> dict[str, int]:
    version = SessionService.get(session_id).version()
    tag_version(response, version)
    return {"version": version}


@reads.get(
    "/sessions/{session_id}/events",
    response={200: schemas.Events, **errors()},
    auth=Access(READ),
    operation_id="events",
    summary="Events after a version, oldest first",
    url_name="api-events",
)
def get_events(
    request: HttpRequest,
    session_id: SessionId,
    after: query_int(0, 0, MAX_BIGINT),
    limit: query_int(1000, 1, 10_000),
) -> dict[str, Any]:
    service = SessionService.get(session_id)
    events = service.events(after)
    return {
        "events": [
            {"version": e.version, "op": e.op, "args": e.args, "actor": e.actor, "created_at": e.created_at}
            for e in events[:limit]
        ],
        "more": len(events) > limit,
    }

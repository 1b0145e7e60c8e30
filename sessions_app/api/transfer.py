"""Export and import (transfer.py's formats). Their bodies are text that transfer.py checks line by line,
so the schemas only describe them (the OpenAPI document's content types come from ``openapi_extra``)."""

from __future__ import annotations

from typing import Annotated, Any

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router
from ninja.responses import Status
from pydantic import BeforeValidator, ValidationInfo, WithJsonSchema

from sessions_app.api import schemas
from sessions_app.api.auth import CREATE, READ, Access
from sessions_app.api.errors import ApiError
from sessions_app.api.requests import JSON_CONTENT_TYPES, read_body
from sessions_app.api.responses import errors
from sessions_app.api.sessions import SessionId
from sessions_app.domain.errors import InvalidArgument
from sessions_app.services import SessionService, transfer

router = Router(tags=["transfer"])

IMPORT_CONTENT_TYPES = ("application/json", "application/x-ndjson", "application/jsonl", "text/plain")
_LINES = {"schema": {"type": "string"}}
EXPORT_CONTENT = {200: {"content": {"application/x-ndjson": _LINES}}}
IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-ndjson": _LINES,
            "application/json": {"schema": {"$ref": "#/components/schemas/ImportDocument"}},
        },
    }
}
_FORMAT_HELP = "json | jsonl | openai"


def _true_or_false(value: object, info: ValidationInfo) -> bool:
    if value not in ("true", "false"):
        raise InvalidArgument(f"{info.field_name} must be true or false", field=info.field_name)
    return value == "true"


# A query flag: the text true or false (as the document says), read as a bool (defaults too).
Flag = Annotated[
    bool, BeforeValidator(_true_or_false), WithJsonSchema({"type": "string", "enum": ["true", "false"]})
]


def export_response(session_ids: list[Any], fmt: str, label: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        (chunk.encode("utf-8") for chunk in transfer.export_lines(session_ids, fmt)),
        content_type=f"{transfer.CONTENT_TYPES[fmt]}; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{transfer.filename(fmt, label)}"'
    return response


@router.get(
    "/export",
    response={200: schemas.ExportDocument, **errors()},
    auth=Access(READ),
    operation_id="export_sessions",
    summary="Download sessions (all, or those given by repeated ?session=<id>)",
    description="The export: json → one document; jsonl and openai → one line per session",
    url_name="api-export",
    openapi_extra={"responses": EXPORT_CONTENT},
)
def export_all(
    request: HttpRequest,
    format: Annotated[schemas.Format, Query("jsonl", description=_FORMAT_HELP)],
    session: Annotated[list[Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]], Query([])],
) -> StreamingHttpResponse:
    # Each session once, however often it is named: an import refuses an id that appears twice.
    ids = list(dict.fromkeys(SessionService.get(s).id for s in session)) if session else None
    return export_response(transfer.all_session_ids() if ids is None else ids, format, "sessions")


@router.get(
    "/sessions/{session_id}/export",
    response={200: schemas.ExportDocument, **errors()},
    auth=Access(READ),
    operation_id="export_session",
    summary="Download one session (format json by default)",
    url_name="api-session-export",
    openapi_extra={"responses": EXPORT_CONTENT},
)
def export_one(
    request: HttpRequest,
    session_id: SessionId,
    format: Annotated[schemas.Format, Query("json", description=_FORMAT_HELP)],
) -> StreamingHttpResponse:
    service = SessionService.get(session_id)
    return export_response([service.id], format, f"session-{service.id}")


@router.post(
    "/import",
    response={201: schemas.ImportResult, **errors(413, 415)},
    auth=Access(CREATE),
    operation_id="import_sessions",
    summary="Import sessions; all are validated before anything is written",
    url_name="api-import",
    openapi_extra=IMPORT_BODY,
    by_alias=True,  # renamed: {"from", "to"}
)
def import_sessions(
    request: HttpRequest,
    format: Annotated[
        schemas.Format,
        Query(
            None,
            description="json for an application/json body (the only format it may be); "
            "jsonl by default for the line formats",
        ),
    ],
    skip_invalid: Annotated[
        Flag,
        Query(
            "false",
            validate_default=True,
            description="true: import the valid lines and list the invalid ones "
            "(jsonl and openai only: a json document is imported whole)",
        ),
    ],
    as_new: Annotated[
        Flag,
        Query(
            "false",
            validate_default=True,
            description="true: a session whose id is taken here is imported as a new session "
            "with a fresh id (listed in renamed); false: it is refused (400)",
        ),
    ],
) -> Status:
    # A JSON body is one document: the json format. jsonl and openai are one object per line.
    document = (request.content_type or "").lower() in JSON_CONTENT_TYPES
    fmt = format or ("json" if document else "jsonl")
    if document and fmt != "json":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"a {fmt} import is one JSON object per line: send it as application/x-ndjson",
        )
    raw = read_body(request, IMPORT_CONTENT_TYPES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_import", f"the body is not UTF-8 (byte {exc.start})") from None
    result = transfer.import_sessions(
        transfer.text_lines(text),
        fmt,
        skip_invalid=skip_invalid,
        as_new=as_new,
        actor=request.auth.actor,
    )
    return Status(
        201,
        {
            "format": fmt,
            "imported": len(result.ids),
            "ids": result.ids,
            "messages": result.messages,
            "skipped": [{"line": line, "message": message} for line, message in result.skipped],
            "renamed": [{"from": old, "to": new} for old, new in result.renamed],
        },
    )

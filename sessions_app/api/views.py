"""JSON API views: authenticate → parse and check the body → one SessionService call → JSON.

Writes are ``POST /api/v1/sessions/<id>/<op>`` with the op's arguments as a JSON object, so the
API mirrors SessionService one to one; the reply to a write is ``{"version": <new version>}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt

from sessions_app import models, transfer
from sessions_app.api.auth import CREATE, READ, WRITE, Caller, authenticate
from sessions_app.api.http import (
    JSON_CONTENT_TYPES,
    ApiError,
    check_fields,
    expected_version_from,
    parse_int_text,
    query_int,
    read_body,
    read_json_object,
    response_for,
)
from sessions_app.exceptions import SessionError, SessionNotFound
from sessions_app.services import MAX_BIGINT, SessionService

Handler = Callable[..., HttpResponse]

# ---------------------------------------------------------------- serialisation


def usage_json(row: models.Session) -> dict[str, int] | None:
    if row.usage_total is None:
        return None
    return {"prompt": row.usage_prompt, "completion": row.usage_completion, "total": row.usage_total}


def session_json(row: models.Session) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "metadata": row.metadata,
        "version": row.version,
        "len": row.message_count,
        "usage": usage_json(row),
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def _versioned(payload: dict[str, Any], version: int, status: int = 200) -> JsonResponse:
    response = JsonResponse(payload, status=status)
    response["ETag"] = f'"{version}"'
    return response


# ---------------------------------------------------------------- routing helpers


def endpoint(methods: dict[str, tuple[str, Handler]]) -> Callable[..., HttpResponse]:
    """One URL: method → (needed access, handler). Maps every client error to the JSON error shape."""

    @csrf_exempt
    def view(request: HttpRequest, **kwargs: str) -> HttpResponse:
        try:
            if request.method not in methods:
                raise ApiError(
                    405,
                    "method_not_allowed",
                    f"{request.method} is not allowed here; use {', '.join(methods)}",
                    headers={"Allow": ", ".join(methods)},
                )
            need, handler = methods[request.method]
            caller = authenticate(request, need)
            if request.method == "POST" and not getattr(handler, "raw_body", False):
                body = read_json_object(request)
                return handler(request, caller, body, **kwargs)
            return handler(request, caller, **kwargs)
        except (ApiError, SessionError) as exc:
            return response_for(exc)

    view.methods = tuple(methods)  # type: ignore[attr-defined]  # read by not_found
    return view


@csrf_exempt  # no view runs here: a POST gets the JSON 404 below, not the CSRF failure page
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Every /api/v1/ path no route matches; names the fix when a trailing slash is the only mistake."""
    path = request.path
    message = f"no API endpoint at {path[:200]}"
    target = path.rstrip("/")
    if target != path:
        try:
            methods = getattr(resolve(target).func, "methods", ())
        except Resolver404:
            methods = ()
        if request.method in methods:
            message = f"remove the trailing slash: {request.method} {target[:200]}"
        elif methods:
            message += f"; {target[:200]} (without the trailing slash) answers {', '.join(methods)}"
    return response_for(ApiError(404, "not_found", message))


# ---------------------------------------------------------------- sessions


def list_sessions(request: HttpRequest, caller: Caller) -> HttpResponse:
    limit = query_int(request, "limit", 50, minimum=1, maximum=500)
    offset = query_int(request, "offset", 0, minimum=0, maximum=2**31 - 1)
    rows = models.Session.objects.order_by("-updated_at", "id")
    return JsonResponse(
        {
            "count": rows.count(),
            "limit": limit,
            "offset": offset,
            "sessions": [session_json(r) for r in rows[offset : offset + limit]],
        }
    )


def create_session(request: HttpRequest, caller: Caller, body: dict[str, Any]) -> HttpResponse:
    check_fields(body, (), ("name", "metadata"))
    service = SessionService.new(name=body.get("name", ""), metadata=body.get("metadata"))
    row = service.row()
    response = _versioned(session_json(row), row.version, status=201)
    response["Location"] = f"{request.path.rstrip('/')}/{row.id}"
    return response


def get_session(request: HttpRequest, caller: Caller, session_id: str) -> HttpResponse:
    row = SessionService.get(session_id).row()
    return _versioned(session_json(row), row.version)


# ---------------------------------------------------------------- reads


def get_messages(request: HttpRequest, caller: Caller, session_id: str) -> HttpResponse:
    service = SessionService.get(session_id)
    # Messages and version are two reads without a lock: retry until the version did not move, so
    # the pair is a consistent snapshot (a writer between them would bump it).
    for _ in range(5):
        before = service.version()
        messages = service.messages()
        if service.version() == before:
            break
    payload = {"version": before, "messages": [m.as_dict() for m in messages]}
    return _versioned(payload, before)


def get_message(request: HttpRequest, caller: Caller, session_id: str, index: str) -> HttpResponse:
    service = SessionService.get(session_id)
    position = parse_int_text(index, "index")
    if abs(position) > MAX_BIGINT:
        raise ApiError(400, "invalid_argument", f"index is too large (got {position})", field="index")
    return JsonResponse(service.at(position).as_dict())


def get_len(request: HttpRequest, caller: Caller, session_id: str) -> HttpResponse:
    return JsonResponse({"len": SessionService.get(session_id).len()})


def get_usage(request: HttpRequest, caller: Caller, session_id: str) -> HttpResponse:
    usage = SessionService.get(session_id).last_usage()
    return JsonResponse({"usage": None if usage is None else usage.as_dict()})


def get_version(request: HttpRequest, caller: Caller, session_id: str) -> HttpResponse:
    version = SessionService.get(session_id).version()
    return _versioned({"version": version}, version)


def get_events(request: HttpRequest, caller: Caller, session_id: str) -> HttpResponse:
    service = SessionService.get(session_id)
    after = query_int(request, "after", 0, minimum=0, maximum=MAX_BIGINT)
    limit = query_int(request, "limit", 1000, minimum=1, maximum=10_000)
    events = service.events(after)
    return JsonResponse(
        {
            "events": [
                {
                    "version": e.version,
                    "op": e.op,
                    "args": e.args,
                    "actor": e.actor,
                    "created_at": e.created_at.isoformat(),
                }
                for e in events[:limit]
            ],
            "more": len(events) > limit,
        }
    )


# ---------------------------------------------------------------- writes
# Each op: (required fields, optional fields, call). Field values go to the service unchanged:
# it type-checks them (bools and floats are not ints, NUL/surrogates/oversize are refused).

WRITE_OPS: dict[str, tuple[tuple[str, ...], tuple[str, ...], Callable[..., int]]] = {
    "append": (("role", "content"), (), lambda s, b, **kw: s.append(b["role"], b["content"], **kw)),
    "insert": (("index", "message"), (), lambda s, b, **kw: s.insert(b["index"], b["message"], **kw)),
    "replace": (("index", "message"), (), lambda s, b, **kw: s.replace(b["index"], b["message"], **kw)),
    "remove": (("index",), (), lambda s, b, **kw: s.remove(b["index"], **kw)),
    "move": (
        ("from_index", "to_index"),
        (),
        lambda s, b, **kw: s.move(b["from_index"], b["to_index"], **kw),
    ),
    "prune": (("n",), (), lambda s, b, **kw: s.prune(b["n"], **kw)),
    "truncate": (
        ("keep_first", "keep_last"),
        (),
        lambda s, b, **kw: s.truncate(b["keep_first"], b["keep_last"], **kw),
    ),
    "clear": ((), (), lambda s, b, **kw: s.clear(**kw)),
    "set_messages": (
        ("messages",),
        (),
        lambda s, b, **kw: s.set_messages(_message_list(b["messages"]), **kw),
    ),
    "set_usage": (("usage",), (), lambda s, b, **kw: s.set_usage(b["usage"], **kw)),
    "record_exchange": (
        ("prompt", "response"),
        ("usage",),
        lambda s, b, **kw: s.record_exchange(b["prompt"], b["response"], b.get("usage"), **kw),
    ),
}


def _message_list(value: object) -> list[object]:
    # The service accepts any iterable; over JSON only an array is a list of messages.
    if not isinstance(value, list):
        raise ApiError(
            400, "invalid_argument", "messages must be an array of {role, content}", field="messages"
        )
    return value


def _session_uuid(session_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(session_id)
    except ValueError:
        raise SessionNotFound(f"no session with id {session_id[:60]}", id=session_id[:60]) from None


def write_view(op: str) -> Handler:
    required, optional, call = WRITE_OPS[op]

    def handler(request: HttpRequest, caller: Caller, body: dict[str, Any], session_id: str) -> HttpResponse:
        # No existence query first: the write locks the row and raises SessionNotFound itself.
        service = SessionService(_session_uuid(session_id))
        check_fields(body, required, (*optional, "expected_version"))
        expected = expected_version_from(request, body, service)
        version = call(service, body, expected_version=expected, actor=caller.actor)
        return _versioned({"version": version}, version)

    handler.__name__ = f"write_{op}"
    return handler


def write_endpoint(op: str) -> Callable[..., HttpResponse]:
    return endpoint({"POST": (WRITE, write_view(op))})


sessions_endpoint = endpoint({"GET": (READ, list_sessions), "POST": (CREATE, create_session)})
session_endpoint = endpoint({"GET": (READ, get_session)})
messages_endpoint = endpoint({"GET": (READ, get_messages)})
message_endpoint = endpoint({"GET": (READ, get_message)})
len_endpoint = endpoint({"GET": (READ, get_len)})
usage_endpoint = endpoint({"GET": (READ, get_usage)})
version_endpoint = endpoint({"GET": (READ, get_version)})
events_endpoint = endpoint({"GET": (READ, get_events)})


# ---------------------------------------------------------------- import / export


def export_response(session_ids: list[Any], fmt: str, label: str) -> HttpResponse:
    from django.http import StreamingHttpResponse

    response = StreamingHttpResponse(
        (chunk.encode("utf-8") for chunk in transfer.export_lines(session_ids, fmt)),
        content_type=f"{transfer.CONTENT_TYPES[fmt]}; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{transfer.filename(fmt, label)}"'
    return response


def _format_param(request: HttpRequest, default: str = "jsonl") -> str:
    return transfer.check_format(request.GET.get("format", default))


def export_all(request: HttpRequest, caller: Caller) -> HttpResponse:
    fmt = _format_param(request)
    wanted = request.GET.getlist("session")
    # Each session once, however often it is named: an import refuses an id that appears twice.
    ids = (
        list(dict.fromkeys(SessionService.get(s).id for s in wanted))
        if wanted
        else transfer.all_session_ids()
    )
    return export_response(ids, fmt, "sessions")


def export_one(request: HttpRequest, caller: Caller, session_id: str) -> HttpResponse:
    fmt = _format_param(request, "json")
    service = SessionService.get(session_id)
    return export_response([service.id], fmt, f"session-{service.id}")


def import_view(request: HttpRequest, caller: Caller) -> HttpResponse:
    # A JSON body is one document: the json format. jsonl and openai are one object per line.
    document = (request.content_type or "").lower() in JSON_CONTENT_TYPES
    fmt = _format_param(request, "json" if document else "jsonl")
    if document and fmt != "json":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"a {fmt} import is one JSON object per line: send it as application/x-ndjson",
        )
    flags = {name: _flag(request, name) for name in ("skip_invalid", "as_new")}
    raw = read_body(request, IMPORT_CONTENT_TYPES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_import", f"the body is not UTF-8 (byte {exc.start})") from None
    result = transfer.import_sessions(
        transfer.text_lines(text),
        fmt,
        skip_invalid=flags["skip_invalid"],
        as_new=flags["as_new"],
        actor=caller.actor,
    )
    return JsonResponse(
        {
            "format": fmt,
            "imported": len(result.ids),
            "ids": result.ids,
            "messages": result.messages,
            "skipped": [{"line": line, "message": message} for line, message in result.skipped],
            "renamed": [{"from": old, "to": new} for old, new in result.renamed],
        },
        status=201,
    )


def _flag(request: HttpRequest, name: str) -> bool:
    value = request.GET.get(name, "false")
    if value not in ("true", "false"):
        raise ApiError(400, "invalid_argument", f"{name} must be true or false", field=name)
    return value == "true"


import_view.raw_body = True  # type: ignore[attr-defined]
IMPORT_CONTENT_TYPES = ("application/json", "application/x-ndjson", "application/jsonl", "text/plain")

export_endpoint = endpoint({"GET": (READ, export_all)})
session_export_endpoint = endpoint({"GET": (READ, export_one)})
import_endpoint = endpoint({"POST": (CREATE, import_view)})

"""The OpenAPI 3.1 document of /api/v1/, written as Python data next to the route table it describes.

The write operations are generated from the same argument lists the views use (views.WRITE_OPS);
tests/test_api_schemathesis.py checks this document against the live server.
"""

from __future__ import annotations

from typing import Any

from sessions_app import transfer
from sessions_app.services import MAX_BIGINT, MAX_METADATA_DEPTH, MAX_NAME_LENGTH

INT64 = {"type": "integer", "minimum": 0, "maximum": MAX_BIGINT}
INDEX = {"type": "integer", "minimum": 0, "maximum": MAX_BIGINT}
# Text the service stores: no NUL (PostgreSQL text cannot hold it); at most ZYN_MAX_CONTENT_BYTES UTF-8 bytes.
TEXT = {"type": "string", "pattern": "^[^\\u0000]*$"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message", "details"],
        "properties": {
            "error": {"type": "string", "description": "machine-readable code, e.g. version_conflict"},
            "message": {"type": "string", "description": "what went wrong, for a person"},
            "details": {"type": "object", "description": "e.g. current_version on a 409"},
        },
    },
    "Role": {"type": "string", "enum": ["user", "assistant", "system"]},
    # What services.check_metadata accepts (its depth limit is said in words: JSON Schema cannot count).
    "Metadata": {
        "type": "object",
        "description": f"any JSON object, at most {MAX_METADATA_DEPTH} levels deep",
        "propertyNames": TEXT,
        "additionalProperties": ref("MetadataValue"),
    },
    "MetadataValue": {
        "anyOf": [
            TEXT,
            {"type": "number", "minimum": -MAX_BIGINT, "maximum": MAX_BIGINT},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "array", "items": ref("MetadataValue")},
            ref("Metadata"),
        ]
    },
    "Message": {
        "type": "object",
        "required": ["role", "content"],
        "additionalProperties": False,
        "properties": {"role": ref("Role"), "content": TEXT},
    },
    "Usage": {
        "type": "object",
        "required": ["prompt", "completion", "total"],
        "additionalProperties": False,
        "properties": {"prompt": INT64, "completion": INT64, "total": INT64},
    },
    "Session": {
        "type": "object",
        "required": ["id", "name", "metadata", "version", "len", "usage", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "name": {"type": "string"},
            "metadata": ref("Metadata"),
            "version": INT64,
            "len": INT64,
            "usage": nullable(ref("Usage")),
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "SessionList": {
        "type": "object",
        "required": ["count", "limit", "offset", "sessions"],
        "properties": {
            "count": INT64,
            "limit": INT64,
            "offset": INT64,
            "sessions": {"type": "array", "items": ref("Session")},
        },
    },
    "NewSession": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {**TEXT, "maxLength": MAX_NAME_LENGTH},
            "metadata": {**nullable(ref("Metadata")), "description": "null or left out: {}"},
        },
    },
    "Version": {"type": "object", "required": ["version"], "properties": {"version": INT64}},
    "Messages": {
        "type": "object",
        "required": ["version", "messages"],
        "properties": {"version": INT64, "messages": {"type": "array", "items": ref("Message")}},
    },
    "Len": {"type": "object", "required": ["len"], "properties": {"len": INT64}},
    "LastUsage": {"type": "object", "required": ["usage"], "properties": {"usage": nullable(ref("Usage"))}},
    "Event": {
        "type": "object",
        "required": ["version", "op", "args", "actor", "created_at"],
        "properties": {
            "version": INT64,
            "op": {"type": "string"},
            "args": {"type": "object"},
            "actor": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "Events": {
        "type": "object",
        "required": ["events", "more"],
        "properties": {"events": {"type": "array", "items": ref("Event")}, "more": {"type": "boolean"}},
    },
    "ExportedSession": {
        "type": "object",
        "required": ["id", "name", "metadata", "messages", "usage"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "name": {"type": "string"},
            "metadata": ref("Metadata"),
            "messages": {"type": "array", "items": ref("Message")},
            "usage": nullable(ref("Usage")),
        },
    },
    "ExportDocument": {
        "type": "object",
        "required": ["sessions"],
        "properties": {"sessions": {"type": "array", "items": ref("ExportedSession")}},
    },
    # What transfer.parse accepts in a json import: an export, or a session without the optional fields.
    "ImportedSession": {
        "type": "object",
        "required": ["messages"],
        "additionalProperties": False,
        "properties": {
            "id": {**nullable({"type": "string", "format": "uuid"}), "description": "null: a new id"},
            "name": {**TEXT, "maxLength": MAX_NAME_LENGTH},
            "metadata": nullable(ref("Metadata")),
            "messages": {"type": "array", "items": ref("Message")},
            "usage": nullable(ref("Usage")),
        },
    },
    "ImportDocument": {
        "anyOf": [
            {
                "type": "object",
                "required": ["sessions"],
                "additionalProperties": False,
                "properties": {"sessions": {"type": "array", "items": ref("ImportedSession")}},
            },
            {"type": "array", "items": ref("ImportedSession")},
        ]
    },
    "ImportResult": {
        "type": "object",
        "required": ["format", "imported", "ids", "messages", "skipped", "renamed"],
        "properties": {
            "format": {"type": "string", "enum": list(transfer.FORMATS)},
            "imported": INT64,
            "ids": {"type": "array", "items": {"type": "string", "format": "uuid"}},
            "messages": INT64,
            "skipped": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["line", "message"],
                    "properties": {"line": INT64, "message": {"type": "string"}},
                },
            },
            "renamed": {
                "type": "array",
                "description": "with as_new: each session whose id was taken here, and the fresh id it got",
                "items": {
                    "type": "object",
                    "required": ["from", "to"],
                    "properties": {
                        "from": {"type": "string", "format": "uuid"},
                        "to": {"type": "string", "format": "uuid"},
                    },
                },
            },
        },
    },
}

EXPECTED_VERSION = {
    **nullable(INT64),
    "description": "write only if the session is at this version (or send If-Match); else 409. "
    "null or left out: any version",
}

# op → (summary, properties of the body); required = every property except those listed optional.
WRITE_BODIES: dict[str, tuple[str, dict[str, Any]]] = {
    "append": ("Add a message to the end", {"role": ref("Role"), "content": TEXT}),
    "insert": ("Insert a message at index (0..len)", {"index": INDEX, "message": ref("Message")}),
    "replace": ("Replace the message at index", {"index": INDEX, "message": ref("Message")}),
    "remove": ("Remove the message at index", {"index": INDEX}),
    "move": ("Move the message at from_index to to_index", {"from_index": INDEX, "to_index": INDEX}),
    "prune": ("Remove the last n user+assistant pairs (2n messages)", {"n": INDEX}),
    "truncate": (
        "Keep the first keep_first and last keep_last messages",
        {"keep_first": INDEX, "keep_last": INDEX},
    ),
    "clear": ("Remove all messages", {}),
    "set_messages": ("Replace the whole history", {"messages": {"type": "array", "items": ref("Message")}}),
    "set_usage": (
        "Set the last token usage (null keeps the previous one)",
        {"usage": nullable(ref("Usage"))},
    ),
    "record_exchange": (
        "Append a user prompt and the assistant response, and set usage: one version",
        {"prompt": TEXT, "response": TEXT, "usage": nullable(ref("Usage"))},
    ),
}
OPTIONAL_FIELDS = {"record_exchange": {"usage"}}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ref("Error")}},
    }
    if headers:
        response["headers"] = headers
    return response


ERRORS: dict[str, Any] = {
    "400": _error("Bad request: malformed JSON, wrong types, bad argument or index out of range"),
    "401": _error(
        "No, unknown or revoked API key",
        {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
    ),
    "403": _error("Read-only key writing, missing permission, or CSRF failure (login session)"),
    "404": _error("No such session"),
    "429": _error(
        "Rate limit of this API key exceeded",
        {"Retry-After": {"schema": {"type": "integer"}, "required": True, "description": "seconds"}},
    ),
    # Server faults (sessions_app/server_errors.py), in the same error shape as every client mistake.
    "500": _error("The server failed on this request (logged); a write may or may not have been applied"),
    "503": _error(
        "The database cannot be reached right now (error database_unavailable); nothing was changed",
        {"Retry-After": {"schema": {"type": "integer"}, "required": True, "description": "seconds"}},
    ),
}
BODY_ERRORS: dict[str, Any] = {
    "413": _error("Body larger than ZYN_API_MAX_BODY_BYTES"),
    "415": _error("Body is not JSON"),
}
SESSION_ID = {
    "name": "session_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'expected version, e.g. "12" (same as the body field expected_version)',
    # Up to 18 digits: every such number is a version; 19 digits may pass 2^63-1 (refused as too large).
    "schema": {"type": "string", "pattern": '^(\\*|(W/)?"[0-9]{1,18}"|[0-9]{1,18})$'},
}
FORMAT = {
    "name": "format",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": list(transfer.FORMATS)},
}


def _ok(schema_name: str, description: str = "OK", status: str = "200") -> dict[str, Any]:
    return {
        status: {"description": description, "content": {"application/json": {"schema": ref(schema_name)}}}
    }


def _read(
    op_id: str,
    summary: str,
    schema_name: str,
    *,
    parameters: list[Any] | None = None,
    conflict: str | None = None,
) -> dict[str, Any]:
    responses = {**_ok(schema_name), **ERRORS}
    if conflict:
        responses["409"] = _error(conflict)
    return {
        "get": {
            "operationId": op_id,
            "summary": summary,
            "tags": ["read"],
            "parameters": [SESSION_ID, *(parameters or [])],
            "responses": responses,
        }
    }


def _write(op: str) -> dict[str, Any]:
    summary, properties = WRITE_BODIES[op]
    optional = OPTIONAL_FIELDS.get(op, set())
    body = {
        "type": "object",
        "additionalProperties": False,
        "required": [name for name in properties if name not in optional],
        "properties": {**properties, "expected_version": EXPECTED_VERSION},
    }
    return {
        "post": {
            "operationId": op,
            "summary": summary,
            "tags": ["write"],
            "parameters": [SESSION_ID, IF_MATCH],
            "requestBody": {"required": op != "clear", "content": {"application/json": {"schema": body}}},
            "responses": {
                **_ok("Version", "The new version"),
                **ERRORS,
                "409": _error(
                    "expected_version or If-Match is not the session's version (details.current_version), "
                    "or an index is past the end (details.len)"
                ),
                **BODY_ERRORS,
            },
        }
    }


def _export_responses() -> dict[str, Any]:
    return {
        "200": {
            "description": "The export: json → one document; jsonl and openai → one line per session",
            "content": {
                "application/json": {"schema": ref("ExportDocument")},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        },
        **ERRORS,
    }


def openapi_document() -> dict[str, Any]:
    from sessions_app.api.views import WRITE_OPS

    assert set(WRITE_OPS) == set(WRITE_BODIES), "schema and views disagree on the write ops"
    paths: dict[str, Any] = {
        "/sessions": {
            "get": {
                "operationId": "list_sessions",
                "summary": "List sessions, most recently updated first",
                "tags": ["sessions"],
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                    },
                ],
                "responses": {**_ok("SessionList"), **ERRORS},
            },
            "post": {
                "operationId": "create_session",
                "summary": "Create an empty session",
                "tags": ["sessions"],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": ref("NewSession")}},
                },
                "responses": {**_ok("Session", "Created", "201"), **ERRORS, **BODY_ERRORS},
            },
        },
        "/sessions/{session_id}": _read("get_session", "A session's summary", "Session"),
        "/sessions/{session_id}/messages": _read(
            "messages", "All messages, with the version they are at", "Messages"
        ),
        "/sessions/{session_id}/messages/{index}": _read(
            "at",
            "The message at index",
            "Message",
            parameters=[{"name": "index", "in": "path", "required": True, "schema": INDEX}],
            conflict="No message at index: it is past the end (details.len)",
        ),
        "/sessions/{session_id}/len": _read("len", "Number of messages", "Len"),
        "/sessions/{session_id}/usage": _read("last_usage", "Last token usage (null if none)", "LastUsage"),
        "/sessions/{session_id}/version": _read("version", "Current version", "Version"),
        "/sessions/{session_id}/events": _read(
            "events",
            "Events after a version, oldest first",
            "Events",
            parameters=[
                {"name": "after", "in": "query", "schema": INT64},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 10_000},
                },
            ],
        ),
        "/sessions/{session_id}/export": {
            "get": {
                "operationId": "export_session",
                "summary": "Download one session (format json by default)",
                "tags": ["transfer"],
                "parameters": [SESSION_ID, FORMAT],
                "responses": _export_responses(),
            }
        },
        "/export": {
            "get": {
                "operationId": "export_sessions",
                "summary": "Download sessions (all, or those given by repeated ?session=<id>)",
                "tags": ["transfer"],
                "parameters": [
                    FORMAT,
                    {
                        "name": "session",
                        "in": "query",
                        "schema": {"type": "array", "items": {"type": "string", "format": "uuid"}},
                        "style": "form",
                        "explode": True,
                    },
                ],
                "responses": _export_responses(),
            }
        },
        "/import": {
            "post": {
                "operationId": "import_sessions",
                "summary": "Import sessions; all are validated before anything is written",
                "tags": ["transfer"],
                "parameters": [
                    {
                        **FORMAT,
                        "description": "json for an application/json body (the only format it may be); "
                        "jsonl by default for the line formats",
                    },
                    {
                        "name": "skip_invalid",
                        "in": "query",
                        "description": "true: import the valid lines and list the invalid ones "
                        "(jsonl and openai only: a json document is imported whole)",
                        "schema": {"type": "string", "enum": ["true", "false"]},
                    },
                    {
                        "name": "as_new",
                        "in": "query",
                        "description": "true: a session whose id is taken here is imported as a new session "
                        "with a fresh id (listed in renamed); false: it is refused (400)",
                        "schema": {"type": "string", "enum": ["true", "false"]},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-ndjson": {"schema": {"type": "string"}},
                        "application/json": {"schema": ref("ImportDocument")},
                    },
                },
                "responses": {**_ok("ImportResult", "Imported", "201"), **ERRORS, **BODY_ERRORS},
            }
        },
    }
    for op in WRITE_BODIES:
        paths[f"/sessions/{{session_id}}/{op}"] = _write(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "zyn sessions API",
            "version": "1",
            "description": (
                "zyn's Session API over HTTP. Authenticate with `Authorization: Bearer <API key>` "
                "(keys are made in the admin) or a dashboard login session plus the X-CSRFToken header. "
                "Every write returns the new version; send expected_version (or If-Match) to write only "
                "if nobody else did. Errors are {error, message, details}."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "zyn_<prefix>_<secret>"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
            },
        },
    }

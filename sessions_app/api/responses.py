"""The error answers every operation documents (all in the Error schema), and what each status means."""

from __future__ import annotations

from typing import Any

from sessions_app.api.schemas import Error

_RETRY_AFTER = {"schema": {"type": "integer"}, "required": True, "description": "seconds"}

# status → (description, headers it always carries)
ERROR_STATUSES: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("Bad request: malformed JSON, wrong types, bad argument or a negative index", {}),
    401: (
        "No, unknown or revoked API key",
        {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
    ),
    403: ("Read-only key writing, missing permission, or CSRF failure (login session)", {}),
    404: ("No such session", {}),
    409: (
        "expected_version or If-Match is not the session's version (details.current_version), "
        "or an index is past the end (details.len)",
        {},
    ),
    413: ("Body larger than ZYN_API_MAX_BODY_BYTES", {}),
    415: ("Body is not JSON", {}),
    429: ("Rate limit of this API key exceeded", {"Retry-After": _RETRY_AFTER}),
    # Server faults (sessions_app/server_errors.py), in the same error shape as every client mistake.
    500: ("The server failed on this request (logged); a write may or may not have been applied", {}),
    503: (
        "The database cannot be reached right now (error database_unavailable); nothing was changed",
        {"Retry-After": _RETRY_AFTER},
    ),
}
EVERY_OPERATION = (400, 401, 403, 404, 429, 500, 503)


def errors(*more: int) -> dict[int, type[Error]]:
    """An operation's error answers: those of every operation, and ``more`` (409, 413, 415)."""
    return {status: Error for status in sorted({*EVERY_OPERATION, *more})}


def describe_errors(document: dict[str, Any]) -> None:
    """Puts each error answer's meaning and headers into the generated document (statuses as the JSON
    document writes them: text)."""
    for operations in document["paths"].values():
        for operation in operations.values():
            operation["responses"] = {
                str(status): answer for status, answer in operation["responses"].items()
            }
            for status, answer in operation["responses"].items():
                if int(status) in ERROR_STATUSES:
                    description, headers = ERROR_STATUSES[int(status)]
                    answer["description"] = description
                    if headers:
                        answer["headers"] = headers

"""The API's one error shape, ``{"error": code, "message": …, "details": {…}}``, and its handlers: one per
error family (mistakes the HTTP layer finds, domain errors, request validation). Server faults are not
handled here: they reach the site's handler500 (sessions_app/server_errors.py), which answers in this shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, JsonResponse
from ninja.errors import ValidationError

from sessions_app.domain.errors import SessionError


class ApiError(Exception):
    """A client error found by the HTTP layer (before or instead of a service call)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        **details: object,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details
        self.headers = dict(headers or {})


def error_response(
    status: int, code: str, message: str, details: Mapping[str, object] | None = None
) -> JsonResponse:
    return JsonResponse({"error": code, "message": message, "details": dict(details or {})}, status=status)


def on_api_error(request: HttpRequest, exc: ApiError) -> JsonResponse:
    response = error_response(exc.status, exc.code, exc.message, exc.details)
    for name, value in exc.headers.items():
        response[name] = value
    return response


def on_session_error(request: HttpRequest, exc: SessionError) -> JsonResponse:
    safe = {
        key: value if isinstance(value, str | int | float | bool | type(None)) else str(value)
        for key, value in exc.details.items()
    }
    return error_response(exc.http_status, exc.code, exc.message, safe)


def on_validation_error(request: HttpRequest, exc: ValidationError) -> JsonResponse:
    problem = first_problem(exc.errors)
    if isinstance(problem, ApiError):
        return on_api_error(request, problem)
    return on_session_error(request, problem)


def first_problem(errors: list[dict[str, Any]]) -> ApiError | SessionError:
    """The one error the API reports for a request Pydantic refused: a body of the wrong shape first
    (missing fields, then unknown ones), then the first argument the service's own check refused (the
    schemas run those checks, so the message and code are the service's)."""
    missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing"]
    if missing:
        return ApiError(
            400, "invalid_body", f"missing field(s): {', '.join(missing)}", missing=", ".join(missing)
        )
    unknown = [str(e["loc"][-1]) for e in errors if e["type"] == "extra_forbidden"]
    # Pydantic cannot read a key that is not valid Unicode (a lone surrogate): it names no field.
    unknown += [e["input"] for e in errors if e["type"] == "string_unicode" and not e["loc"]]
    unknown.sort()
    if unknown:
        shown = ", ".join(name[:40] for name in unknown[:5])
        return ApiError(400, "invalid_body", f"unknown field(s): {shown}", unknown=shown)
    # The service checks an op's arguments before expected_version.
    ordered = sorted(errors, key=lambda e: e["loc"][:1] == ("expected_version",))
    for error in ordered:
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, SessionError | ApiError):
            return cause
    error = ordered[0]
    where = ".".join(str(part) for part in error["loc"]) or "the body"
    return ApiError(400, "invalid_argument", f"{where}: {error['msg']}", field=where)

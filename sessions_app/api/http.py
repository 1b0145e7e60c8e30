"""HTTP plumbing of the JSON API: the one error shape, strict JSON bodies, strict integers in URLs.

Every client mistake becomes ``{"error": code, "message": …, "details": {…}}`` with a 4xx status;
domain errors (SessionError) are mapped here once, from their own ``code`` and ``http_status``.
"""

from __future__ import annotations

import decimal
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from sessions_app.exceptions import SessionError
from sessions_app.services import MAX_BIGINT, SessionService, check_expected_version, describe

JSON_CONTENT_TYPES = ("application/json",)
_INT_TEXT = re.compile(r"-?[0-9]{1,20}")


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


def response_for(exc: ApiError | SessionError) -> JsonResponse:
    if isinstance(exc, SessionError):
        return error_response(exc.http_status, exc.code, exc.message, _json_safe(exc.details))
    response = error_response(exc.status, exc.code, exc.message, exc.details)
    for name, value in exc.headers.items():
        response[name] = value
    return response


def _json_safe(details: Mapping[str, object]) -> dict[str, object]:
    safe: dict[str, object] = {}
    for key, value in details.items():
        safe[key] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
    return safe


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _json_number(text: str) -> int | float:
    """JSON has one number type and JSON Schema's "integer" includes 1.0 and 1e3: an integral value is
    that integer. Checked on the exact decimal, so 1.0000000000000000001 stays a fraction."""
    value = float(text)
    if value.is_integer() and abs(value) < 1e30:
        exact = decimal.Decimal(text)
        if exact == exact.to_integral_value():
            return int(exact)
    return value


def read_body(request: HttpRequest, accept: tuple[str, ...] = JSON_CONTENT_TYPES) -> bytes:
    """The raw request body; 413 past ZYN_API_MAX_BODY_BYTES (checked before reading), 415 for other types."""
    limit = int(settings.ZYN_API_MAX_BODY_BYTES)
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared:
        if not declared.isdigit():
            raise ApiError(400, "bad_request", "Content-Length must be a number of bytes")
        if int(declared) > limit:
            raise ApiError(
                413, "payload_too_large", f"the body is {declared} bytes; the limit is {limit}", limit=limit
            )
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, "payload_too_large", f"the body is over the limit of {limit} bytes", limit=limit)
    content_type = (request.content_type or "").lower()
    # An empty body (e.g. clear) may come with any content type, or none.
    if raw and content_type and content_type not in accept and not content_type.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the body as {' or '.join(accept)} (got {content_type[:60]})",
        )
    return raw


def read_json_object(request: HttpRequest) -> dict[str, Any]:
    """The request body as a JSON object (an empty body counts as {})."""
    raw = read_body(request)
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_json_number)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, "invalid_json", f"the body is not valid JSON: {exc.msg}", line=exc.lineno, column=exc.colno
        ) from None
    except (ValueError, RecursionError) as exc:
        # Integers past Python's digit limit, NaN/Infinity, or nesting too deep to parse.
        raise ApiError(400, "invalid_json", f"the body is not acceptable JSON: {str(exc)[:120]}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_body", f"the body must be a JSON object (got {describe(value)})")
    return value


def check_fields(body: Mapping[str, Any], required: Iterable[str], optional: Iterable[str] = ()) -> None:
    required, optional = tuple(required), tuple(optional)
    missing = [name for name in required if name not in body]
    if missing:
        raise ApiError(
            400, "invalid_body", f"missing field(s): {', '.join(missing)}", missing=", ".join(missing)
        )
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        shown = ", ".join(name[:40] for name in unknown[:5])
        raise ApiError(400, "invalid_body", f"unknown field(s): {shown}", unknown=shown)


def parse_int_text(text: str, name: str) -> int:
    """An integer from a URL segment or query string: digits with an optional minus, nothing else."""
    if not _INT_TEXT.fullmatch(text):
        raise ApiError(
            400, "invalid_argument", f"{name} must be an integer (got {describe(text, 30)})", field=name
        )
    return int(text)


def query_int(request: HttpRequest, name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = request.GET.get(name)
    if raw is None:
        return default
    value = parse_int_text(raw, name)
    if not minimum <= value <= maximum:
        raise ApiError(
            400,
            "invalid_argument",
            f"{name} must be between {minimum} and {maximum} (got {value})",
            field=name,
        )
    return value


# If-Match: "*" (any version), or one version as an entity tag: "12", W/"12" or a bare 12.
_IF_MATCH = re.compile(r'(?:W/)?"([0-9]+)"|([0-9]+)')


def expected_version_from(request: HttpRequest, body: Mapping[str, Any], service: SessionService) -> Any:
    """The expected version from ``If-Match`` and/or the body field ``expected_version``.

    Both are preconditions on the session's version: when they name different versions, at most one
    can hold, so the write is refused as a version conflict naming the one that does not.
    """
    header = request.headers.get("If-Match")
    field = body.get("expected_version")
    if header is None or header.strip() == "*":
        return field
    match = _IF_MATCH.fullmatch(header.strip())
    if match is None:
        raise ApiError(
            400,
            "invalid_argument",
            f'If-Match must be a session version such as "12" (got {describe(header, 30)})',
            field="If-Match",
        )
    digits = (match.group(1) or match.group(2)).lstrip("0") or "0"
    if len(digits) > len(str(MAX_BIGINT)) or int(digits) > MAX_BIGINT:
        raise ApiError(
            400,
            "invalid_argument",
            f"If-Match is too large: versions go up to {MAX_BIGINT}",
            field="If-Match",
        )
    from_header = int(digits)
    if field is None or check_expected_version(field) == from_header:
        return from_header
    current = service.version()  # SessionNotFound (404) first, like any write
    stale = from_header if from_header != current else field
    raise ApiError(
        409,
        "version_conflict",
        f"If-Match (v{from_header}) and expected_version (v{field}) disagree and the session is at "
        f"v{current}: send one of them",
        expected_version=stale,
        current_version=current,
    )

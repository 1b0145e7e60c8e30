"""What the API reads from a request beyond ninja's defaults: a bounded, strict JSON body; integers in URLs
written as digits only; the If-Match precondition.

ninja reads ``request.body`` whole before its parser sees it, so a body is bounded here instead
(``JsonBody``): its size is checked from Content-Length before anything is read.
"""

from __future__ import annotations

import decimal
import json
import re
from typing import Annotated, Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Query
from ninja.params.models import Body, BodyModel
from pydantic import BeforeValidator, ValidationInfo

from sessions_app.api.errors import ApiError
from sessions_app.domain.checks import check_expected_version, describe
from sessions_app.domain.errors import InvalidArgument
from sessions_app.domain.types import MAX_BIGINT
from sessions_app.services import SessionService

JSON_CONTENT_TYPES = ("application/json",)
_INT_TEXT = re.compile(r"-?[0-9]{1,20}")


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


class JsonObjectBodyModel(BodyModel):
    @classmethod
    def get_request_data(cls, request: HttpRequest, api: Any, path_params: Any) -> dict[str, Any]:
        data = read_json_object(request)
        name = getattr(cls, "__read_from_single_attr__", None)
        return {name: data} if name else data


class JsonBody(Body):
    """A body parameter read by ``read_json_object`` (ninja's own Body reads and parses it unbounded)."""

    _model = JsonObjectBodyModel

    @classmethod
    def _param_source(cls) -> str:
        return "body"


def parse_int_text(text: str, name: str) -> int:
    """An integer from a URL segment or query string: digits with an optional minus, nothing else."""
    if not _INT_TEXT.fullmatch(text):
        raise InvalidArgument(f"{name} must be an integer (got {describe(text, 30)})", field=name)
    return int(text)


def query_int(default: int, minimum: int, maximum: int) -> Any:
    """The type of an integer query parameter: digits only, within [minimum, maximum]. The bounds are
    checked here (with our message) and stated once, for the OpenAPI document too."""

    def check(value: object, info: ValidationInfo) -> int:
        name = str(info.field_name)
        number = parse_int_text(str(value), name)
        if not minimum <= number <= maximum:
            raise InvalidArgument(
                f"{name} must be between {minimum} and {maximum} (got {number})", field=name
            )
        return number

    return Annotated[int, BeforeValidator(check), Query(default, ge=minimum, le=maximum)]


def _path_index(value: object) -> int:
    # Negative indexes reach the service, which answers them (index_out_of_range, 400).
    position = parse_int_text(str(value), "index")
    if abs(position) > MAX_BIGINT:
        raise InvalidArgument(f"index is too large (got {position})", field="index")
    return position


path_index = BeforeValidator(_path_index)

# If-Match: "*" (any version), or one version as an entity tag: "12", W/"12" or a bare 12.
_IF_MATCH = re.compile(r'(?:W/)?"([0-9]+)"|([0-9]+)')
# What the document allows: up to 18 digits, so every such number is a version (19 digits may pass 2^63-1).
IF_MATCH_PATTERN = '^(\\*|(W/)?"[0-9]{1,18}"|[0-9]{1,18})$'


def expected_version_from(header: str | None, field: int | None, service: SessionService) -> int | None:
    """The expected version from ``If-Match`` and/or the body field ``expected_version``.

    Both are preconditions on the session's version: when they name different versions, at most one
    can hold, so the write is refused as a version conflict naming the one that does not.
    """
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

"""Error types of zyn_client: the Session API's own (sessions_app.domain.errors, pure Python) and the
errors only a remote call can have. A server error reply ``{"error": code, "message": …, "details": …}``
becomes the class with that code.
"""

from __future__ import annotations

from typing import Any

from sessions_app.domain.errors import (
    IndexOutOfRange,
    InvalidArgument,
    SessionError,
    SessionNotFound,
    VersionConflict,
)


class RequestTooLarge(InvalidArgument):
    code = "payload_too_large"
    http_status = 413


class AuthenticationFailed(SessionError):
    code = "unauthorized"
    http_status = 401


class PermissionDenied(SessionError):
    code = "forbidden"
    http_status = 403


class RateLimited(SessionError):
    code = "rate_limited"
    http_status = 429

    @property
    def retry_after(self) -> int:
        return int(self.details.get("retry_after", 1))


class ServerError(SessionError):
    """The server failed (5xx) or answered something that is not the API's JSON."""

    code = "server_error"
    http_status = 500


class TransportError(SessionError):
    """The server could not be reached (connection refused, reset, timed out)."""

    code = "transport_error"
    http_status = 0


_INVALID_CODES = {"invalid_argument", "invalid_body", "invalid_json", "bad_request", "unsupported_media_type"}


def from_reply(status: int, body: dict[str, Any]) -> SessionError:
    """The exception for an error reply, matching what SessionService would have raised."""
    code = str(body.get("error", ""))
    message = str(body.get("message", "")) or f"HTTP {status}"
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    if code == "index_out_of_range" and {"index", "len"} <= set(details):
        return IndexOutOfRange(int(details["index"]), int(details["len"]))
    if code == "version_conflict" and {"expected_version", "current_version"} <= set(details):
        return VersionConflict(int(details["expected_version"]), int(details["current_version"]))
    if code == "not_found":
        error: SessionError = SessionNotFound(message, **details)
    elif code == "payload_too_large" or status == 413:
        error = RequestTooLarge(message, **details)
    elif code in _INVALID_CODES:
        error = InvalidArgument(message, **details)
    elif code == "unauthorized" or status == 401:
        error = AuthenticationFailed(message, **details)
    elif code in {"forbidden", "csrf_failed"} or status == 403:
        error = PermissionDenied(message, **details)
    elif code == "rate_limited" or status == 429:
        error = RateLimited(message, **details)
    elif status >= 500:
        error = ServerError(message, status=status, **details)
    else:
        error = SessionError(message, status=status, **details)
    error.code = code or error.code
    return error

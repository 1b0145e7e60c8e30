"""Domain errors of the Session API; mapped to HTTP once (see http_status)."""

from __future__ import annotations


class SessionError(Exception):
    code = "session_error"
    http_status = 400

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class IndexOutOfRange(SessionError, IndexError):
    """Past the end: a conflict with the session's current length (409), like a stale version.
    Negative: never valid, a bad request (400)."""

    code = "index_out_of_range"
    http_status = 409

    def __init__(self, index: int, length: int) -> None:
        super().__init__(f"index {index} out of bounds (len={length})", index=index, len=length)
        self.index = index
        self.length = length
        if index < 0:
            self.http_status = 400


class InvalidArgument(SessionError, ValueError):
    code = "invalid_argument"
    http_status = 400


class SessionNotFound(SessionError, LookupError):
    code = "not_found"
    http_status = 404


class VersionConflict(SessionError):
    code = "version_conflict"
    http_status = 409

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(
            f"This session changed (v{expected} → v{current}) since you loaded it"
            if expected < current
            # A version from the future is a mistake, not a change made by someone else.
            else f"This session has no version v{expected} yet: it is at v{current}",
            expected_version=expected,
            current_version=current,
        )
        self.expected = expected
        self.current = current

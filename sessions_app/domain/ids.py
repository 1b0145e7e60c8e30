"""Session ids: the one parser, and the one "not found" for an id that names no session."""

from __future__ import annotations

import uuid

from sessions_app.domain.checks import describe
from sessions_app.domain.errors import SessionNotFound


def as_uuid(value: object) -> uuid.UUID | None:
    """``value`` as a UUID (a UUID, or text in any form ``uuid.UUID`` reads), else None."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def session_not_found(session_id: object) -> SessionNotFound:
    """The error for an id that is well formed but names no session."""
    return SessionNotFound(f"no session with id {session_id}", id=str(session_id))


def parse_session_id(value: object) -> uuid.UUID:
    """``value`` as a session id; anything that is not a UUID names no session (404, not 400)."""
    found = as_uuid(value)
    if found is None:
        raise SessionNotFound(f"no session with id {describe(value)}", id=str(value))
    return found

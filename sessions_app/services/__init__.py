"""The only code that writes: the locked write path of sessions (``SessionService``), API keys, accounts,
import and export. ``from sessions_app.services import SessionService, Message, …`` is the public import
programs and tests use; the value types and errors are the domain's own."""

from sessions_app.domain.errors import (
    IndexOutOfRange,
    InvalidArgument,
    SessionError,
    SessionNotFound,
    VersionConflict,
)
from sessions_app.domain.types import Event, Message, Role, TokenUsage
from sessions_app.services.sessions import SessionService, user_actor

__all__ = [
    "Event",
    "IndexOutOfRange",
    "InvalidArgument",
    "Message",
    "Role",
    "SessionError",
    "SessionNotFound",
    "SessionService",
    "TokenUsage",
    "VersionConflict",
    "user_actor",
]

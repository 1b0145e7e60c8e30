"""zyn_client: record zyn sessions on a zyn session dashboard from any Python program.

Standard library and the Session API's pure-Python definitions (sessions_app.domain); Django is not
imported::

    from zyn_client import RemoteSession, TokenUsage, connect

    api = connect("http://127.0.0.1:8000", "zyn_…")          # an API key made in the admin
    session = RemoteSession.new(api, name="triage", metadata={"program": "ticket-triage"})
    session.record_exchange("Classify: …", '{"primary": "billing"}', TokenUsage(120, 30, 150))

RemoteSession has SessionService's methods, takes and returns the same value types and raises the same
errors.
"""

from __future__ import annotations

from sessions_app.domain.types import Event, Message, Role, TokenUsage
from zyn_client.errors import (
    AuthenticationFailed,
    IndexOutOfRange,
    InvalidArgument,
    PermissionDenied,
    RateLimited,
    RequestTooLarge,
    ServerError,
    SessionError,
    SessionNotFound,
    TransportError,
    VersionConflict,
)
from zyn_client.session import Connection, RemoteSession, connect

__all__ = [
    "AuthenticationFailed",
    "Connection",
    "Event",
    "IndexOutOfRange",
    "InvalidArgument",
    "Message",
    "PermissionDenied",
    "RateLimited",
    "RemoteSession",
    "RequestTooLarge",
    "Role",
    "ServerError",
    "SessionError",
    "SessionNotFound",
    "TokenUsage",
    "TransportError",
    "VersionConflict",
    "connect",
]

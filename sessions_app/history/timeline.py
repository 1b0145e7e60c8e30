"""A session's kept events: newest first for the history page, in words, and exported with their base."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from sessions_app import models
from sessions_app.domain.ids import session_not_found
from sessions_app.history.states import oldest_version
from sessions_app.history.wording import describe


def describe_event(event: models.SessionEvent, *, brief: bool = False) -> str:
    return describe(event.op, event.args, brief=brief)


def events_newest_first(session_id: uuid.UUID) -> QuerySet[models.SessionEvent]:
    return models.SessionEvent.objects.filter(session_id=session_id).order_by("-version")


def export_history(session_id: uuid.UUID) -> dict[str, Any]:
    """The session and its whole kept history as JSON-safe data.

    ``base`` is the state the first kept event applies to: the empty session at v0, or the
    snapshot the older events were compacted into. Replaying ``events`` on it gives every kept
    version.
    """
    try:
        session = models.Session.objects.get(pk=session_id)
    except models.Session.DoesNotExist:
        raise session_not_found(session_id) from None
    oldest = oldest_version(session_id)
    if oldest == 0:
        base: dict[str, Any] = {"version": 0, "messages": [], "usage": None}
    else:
        snap = models.SessionSnapshot.objects.get(session_id=session_id, version=oldest)
        base = {"version": oldest, "messages": snap.messages, "usage": snap.usage}
    events = (
        models.SessionEvent.objects.filter(session_id=session_id, version__gt=oldest)
        .order_by("version")
        .values_list("version", "op", "args", "actor", "created_at")
    )
    return {
        "format": "zyn-session-history/1",
        "session": {
            "id": str(session.pk),
            "name": session.name,
            "metadata": session.metadata,
            "version": session.version,
            "created_at": session.created_at.isoformat(),
            "updated_at": session.updated_at.isoformat(),
        },
        "base": base,
        "events": [
            {
                "version": v,
                "op": op,
                "args": args,
                "actor": actor,
                "at": at.isoformat(),
                "description": describe(op, args),
            }
            for v, op, args, actor, at in events.iterator(chunk_size=2000)
        ],
    }

"""Token usage per exchange, read from the event log: the numbers behind the usage chart."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from sessions_app import models
from sessions_app.domain.ops import CHARTED_OPS

CHART_MAX_EXCHANGES = 120  # bars in the usage chart (the most recent ones)


def _usage_events(session_id: uuid.UUID, upto_version: int | None = None) -> QuerySet:
    """The events that draw a bar (usage set to numbers), newest first; at most the chart's window."""
    events = models.SessionEvent.objects.filter(
        session_id=session_id, op__in=CHARTED_OPS, args__usage__has_key="total"
    )
    if upto_version is not None:
        events = events.filter(version__lte=upto_version)
    return events.order_by("-version")[:CHART_MAX_EXCHANGES]


def usage_point(version: int, created_at: datetime, op: str, usage: Any) -> dict[str, Any] | None:
    """One bar's numbers from an event's ``usage`` arg; None when it draws no bar (``set_usage(None)``)."""
    if not isinstance(usage, dict):
        return None
    try:
        prompt, completion, total = (int(usage[k]) for k in ("prompt", "completion", "total"))
    except (KeyError, TypeError, ValueError):
        return None
    return {
        "version": version,
        "at": created_at,
        "op": op,
        "prompt": prompt,
        "completion": completion,
        "total": total,
    }


def usage_points(session_id: uuid.UUID, upto_version: int | None = None) -> list[dict[str, Any]]:
    """Usage per exchange from the event log, oldest first (the most recent CHART_MAX_EXCHANGES)."""
    # Only the usage key is read from args: record_exchange args also hold the prompt and response.
    rows = _usage_events(session_id, upto_version).values_list("version", "created_at", "op", "args__usage")
    points = [p for p in (usage_point(*row) for row in rows) if p is not None]
    points.reverse()
    return points

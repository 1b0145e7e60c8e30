"""What truncate and prune would remove, with the messages at the cuts: the preview before confirming."""

from __future__ import annotations

import operator
import uuid
from functools import reduce
from typing import Any

from django.db.models import Case, Q, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Substr

from sessions_app import models
from sessions_app.domain import ops
from sessions_app.domain.changes import DeleteRange
from sessions_app.selectors.ranks import key_at
from sessions_app.selectors.sessions import PREVIEW_CHARS


def _boundary(session_id: uuid.UUID, length: int, labelled: list[tuple[str, int]]) -> list[dict[str, Any]]:
    # The rows at a few indexes, in one query: each index's key found from the nearer end.
    keys = {index: RawSQL(*key_at(session_id, index, length)) for _, index in labelled}
    if not keys:
        return []
    found = {
        m.index: m
        for m in models.Message.objects.filter(session_id=session_id)
        .filter(reduce(operator.or_, (Q(order_key=key) for key in keys.values())))
        .order_by()
        .annotate(
            index=Case(*(When(order_key=key, then=Value(i)) for i, key in keys.items())),
            preview=Substr("content", 1, PREVIEW_CHARS + 1),
        )
    }
    out = []
    for label, position in labelled:
        m = found.get(position)
        if m is not None:
            text = " ".join(m.preview.split())
            out.append(
                {
                    "label": label,
                    "position": position,
                    "role": m.role,
                    "preview": text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…",
                }
            )
    return out


def removal_preview(session: models.Session, op: str, args: dict[str, Any]) -> dict[str, Any]:
    """What the write ``op`` (truncate or prune) would remove from ``session`` as it is now, with the
    messages at the cuts. Which rows go is the op's own declared change (domain/ops.py)."""
    declared = ops.API_WRITES[op]
    recorded = declared.record(args)
    length = session.message_count
    change = declared.change(recorded, length)
    assert isinstance(change, DeleteRange), f"{op} removes no range"
    start, stop = change.start, change.stop
    labelled: list[tuple[str, int]] = []
    if change.count:
        if start:
            # Truncate keeps rows at both ends, prune only at the start.
            labelled.append(("last kept at the start" if op == "truncate" else "last kept", start - 1))
        labelled.append(("first removed", start))
        if change.count > 1:
            labelled.append(("last removed", stop - 1))
        if stop < length:
            labelled.append(("first kept at the end", stop))
    return {
        "action": op,
        "version": session.version,
        "length": length,
        "removed": change.count,
        "remaining": length - change.count,
        **recorded,
        "removed_from": start,
        "removed_to": stop - 1,
        "boundary": _boundary(session.pk, length, labelled),
    }


def truncate_preview(session: models.Session, keep_first: int, keep_last: int) -> dict[str, Any]:
    """What truncate(keep_first, keep_last) would leave, with the messages at the cut."""
    return removal_preview(session, "truncate", {"keep_first": keep_first, "keep_last": keep_last})


def prune_preview(session: models.Session, n: int) -> dict[str, Any]:
    """What prune(n) would leave: the last n exchanges (2n messages) removed."""
    return removal_preview(session, "prune", {"n": n})

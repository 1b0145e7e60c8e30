"""What truncate and prune would remove, with the messages at the cuts: the preview before confirming."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models.functions import Substr

from sessions_app import models
from sessions_app.selectors.sessions import PREVIEW_CHARS


def _boundary(session_id: uuid.UUID, labelled: list[tuple[str, int]]) -> list[dict[str, Any]]:
    positions = [p for _, p in labelled]
    found = {
        m.position: m
        for m in models.Message.objects.filter(session_id=session_id, position__in=positions)
        .order_by()
        .annotate(preview=Substr("content", 1, PREVIEW_CHARS + 1))
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


def truncate_preview(session: models.Session, keep_first: int, keep_last: int) -> dict[str, Any]:
    """What truncate(keep_first, keep_last) would leave, with the messages at the cut."""
    length = session.message_count
    if keep_first + keep_last >= length:
        removed, tail_start = 0, length
    else:
        tail_start = length - keep_last
        removed = tail_start - keep_first
    labelled: list[tuple[str, int]] = []
    if removed:
        if keep_first:
            labelled.append(("last kept at the start", keep_first - 1))
        labelled.append(("first removed", keep_first))
        if removed > 1:
            labelled.append(("last removed", tail_start - 1))
        if keep_last:
            labelled.append(("first kept at the end", tail_start))
    return {
        "action": "truncate",
        "version": session.version,
        "length": length,
        "removed": removed,
        "remaining": length - removed,
        "keep_first": keep_first,
        "keep_last": keep_last,
        "removed_from": keep_first,
        "removed_to": tail_start - 1,
        "boundary": _boundary(session.pk, labelled),
    }


def prune_preview(session: models.Session, n: int) -> dict[str, Any]:
    """What prune(n) would leave: the last n exchanges (2n messages) removed."""
    length = session.message_count
    removed = min(2 * n, length)
    keep = length - removed
    labelled: list[tuple[str, int]] = []
    if removed:
        if keep:
            labelled.append(("last kept", keep - 1))
        labelled.append(("first removed", keep))
        if removed > 1:
            labelled.append(("last removed", length - 1))
    return {
        "action": "prune",
        "version": session.version,
        "length": length,
        "removed": removed,
        "remaining": keep,
        "n": n,
        "removed_from": keep,
        "removed_to": length - 1,
        "boundary": _boundary(session.pk, labelled),
    }

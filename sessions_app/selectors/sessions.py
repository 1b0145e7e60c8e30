"""The session list's queries (filters, search, one page, the last messages) and one session by id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Substr
from django.utils import timezone

from sessions_app import models
from sessions_app.domain.ids import as_uuid, session_not_found
from sessions_app.selectors import search
from sessions_app.selectors.ranks import key_at

LIST_PAGE_SIZE = 50  # sessions per page on the list
PREVIEW_CHARS = 140  # last-message preview on the list


@dataclass(frozen=True)
class ListFilters:
    q: str = ""
    key: str = ""
    value: str = ""
    since: date | None = None
    until: date | None = None
    page: int = 1

    def is_filtered(self) -> bool:
        return bool(self.q or self.key or self.since or self.until)

    def query_items(self, **overrides: Any) -> dict[str, str]:
        values = {
            "q": self.q,
            "key": self.key,
            "value": self.value,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "page": str(self.page) if self.page > 1 else "",
        }
        values.update({k: str(v) for k, v in overrides.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}


def search_sessions(filters: ListFilters, *, upto: int | None = None) -> QuerySet[models.Session]:
    """Sessions matching the filters, most recently updated first (``upto``: only that many are needed)."""
    sessions = models.Session.objects.all()
    if filters.key:
        if filters.value:
            # KeyTextTransform takes the key as a value, never as lookup syntax ("a__b" stays one key).
            # The Cast makes the comparison plain text on SQLite too (not a JSON comparison).
            meta_value = Cast(KeyTextTransform(filters.key, "metadata"), output_field=TextField())
            sessions = sessions.annotate(_meta_value=meta_value).filter(_meta_value=filters.value)
        else:
            sessions = sessions.filter(metadata__has_key=filters.key)
    tz = timezone.get_current_timezone()
    if filters.since:
        sessions = sessions.filter(updated_at__gte=datetime.combine(filters.since, time.min, tz))
    if filters.until:
        sessions = sessions.filter(
            updated_at__lt=datetime.combine(filters.until + timedelta(days=1), time.min, tz)
        )
    if filters.q:
        # The words last: the search merges branches in list order, each with the other filters applied.
        return search.search_sessions(sessions, filters.q, upto=upto)
    return sessions.order_by(*search.ORDER)


def session_page(filters: ListFilters) -> tuple[list[models.Session], bool]:
    """One page of the list, and whether a next page exists. No COUNT(*): one extra row tells."""
    offset = (filters.page - 1) * LIST_PAGE_SIZE
    upto = offset + LIST_PAGE_SIZE + 1
    page = list(search_sessions(filters, upto=upto)[offset:upto])
    return page[:LIST_PAGE_SIZE], len(page) > LIST_PAGE_SIZE


def last_messages(
    sessions: list[models.Session], skip: set[uuid.UUID] | frozenset[uuid.UUID] = frozenset()
) -> dict[uuid.UUID, tuple[str, str]]:
    """Each session's last message as (role, its first PREVIEW_CHARS + 1 characters): one query for
    the whole page, never one per row. ``skip``: sessions whose last message is not needed."""
    # One probe of the unique (session, order_key) index per row (its last key, read backwards),
    # OR-ed into one query. (A join on the sessions instead lets the planner hash-join the whole
    # session table when one page holds a very long session.)
    wanted = Q()
    for s in sessions:
        if s.message_count and s.pk not in skip:
            last = RawSQL(*key_at(s.pk, s.message_count - 1, s.message_count))
            wanted |= Q(session_id=s.pk, order_key=last)
    if not wanted:
        return {}
    found = (
        models.Message.objects.filter(wanted)
        .order_by()
        .annotate(preview=Substr("content", 1, PREVIEW_CHARS + 1))
        .values_list("session_id", "role", "preview")
    )
    return {sid: (role, preview) for sid, role, preview in found}


def get_session(session_id: uuid.UUID | str | models.Session) -> models.Session:
    """The session, by id; a Session already read (by the caller, in its snapshot) is used as it is.

    sessions_app.live.updates reads the session once per render and passes it to every context builder:
    one query instead of one per partial (each a round trip that waits for the GIL under load).
    """
    if isinstance(session_id, models.Session):
        session_id.ver = str(session_id.version)
        return session_id
    pk = as_uuid(session_id)
    session = models.Session.objects.filter(pk=pk).first() if pk else None
    if session is None:
        raise session_not_found(session_id)
    # Pre-formatted for templates: Django localises every int it prints, which adds up over 100 rows.
    session.ver = str(session.version)
    return session

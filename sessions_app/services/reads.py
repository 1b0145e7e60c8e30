"""The Session API's reads of one session: no lock, one or two statements each."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connection

from sessions_app import models
from sessions_app.domain.checks import check_int
from sessions_app.domain.errors import IndexOutOfRange
from sessions_app.domain.ids import session_not_found
from sessions_app.domain.types import Event, Message, TokenUsage
from sessions_app.selectors.ranks import key_at, key_at_any_length
from sessions_app.services.sql import db_value, query, table


class SessionReads:
    """The reads of SessionService (which adds the writes). Instances hold only the session's id."""

    id: uuid.UUID

    def __len__(self) -> int:
        return self.len()

    def row(self) -> models.Session:
        try:
            return models.Session.objects.get(pk=self.id)
        except models.Session.DoesNotExist:
            raise session_not_found(self.id) from None

    def messages(self) -> list[Message]:
        rows = models.Message.objects.filter(session_id=self.id).order_by("order_key")
        return [Message(role=r, content=c) for r, c in rows.values_list("role", "content")]

    def _columns(self, names: str) -> tuple[Any, ...]:
        # Hand-written: the ORM's query building cost twice the round trip of these hot reads.
        found = query(
            f"SELECT {names} FROM {table(models.Session)} WHERE id = %s",
            [db_value(models.Session, "id", self.id)],
        )
        if not found:
            raise session_not_found(self.id)
        return found[0]

    def len(self) -> int:
        return self._columns("message_count")[0]

    def at(self, index: int) -> Message:
        """The message at ``index``: its key found from the nearer end of the session's key index."""
        check_int(index, "index")
        found: list[tuple[Any, ...]] = []
        if connection.vendor == "postgresql":  # one statement: the length is read inside it
            at, params = key_at_any_length(self.id, index) if index >= 0 else ("NULL", [])
        else:
            length = self.len()
            at, params = key_at(self.id, index, length) if 0 <= index < length else ("NULL", [])
        found = query(
            f"SELECT role, content FROM {table(models.Message)} WHERE session_id = %s AND order_key = {at}",
            [db_value(models.Message, "session_id", self.id), *params],
        )
        if not found:
            raise IndexOutOfRange(index, self.len())
        return Message(role=found[0][0], content=found[0][1])

    def last_usage(self) -> TokenUsage | None:
        prompt, completion, total = self._columns("usage_prompt, usage_completion, usage_total")
        if total is None:
            return None
        return TokenUsage(prompt=prompt, completion=completion, total=total)

    def version(self) -> int:
        return self._columns("version")[0]

    def events(self, after: int = 0) -> list[Event]:
        check_int(after, "after")
        rows = models.SessionEvent.objects.filter(session_id=self.id, version__gt=after).order_by("version")
        return [
            Event(version=e.version, op=e.op, args=e.args, actor=e.actor, created_at=e.created_at)
            for e in rows
        ]

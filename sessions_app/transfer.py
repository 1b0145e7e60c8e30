"""Import and export of sessions: JSON, JSONL and the OpenAI chat format.

Shared by the management commands, the JSON API and the dashboard download.

- ``jsonl``: one session per line: ``{"id", "name", "metadata", "messages": [{role, content}], "usage"}``.
- ``json``: one document ``{"sessions": [<the same objects>]}``.
- ``openai``: ``{"messages": [{role, content}]}`` per session (one per line; a single object is one session).
  Only messages travel in this format.

Import validates every record first (with the service's own argument checks) and writes nothing if
one is bad — unless ``skip_invalid``, which imports the good records and reports the bad ones.
All writes go through SessionService inside one transaction, so a failure midway leaves nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from sessions_app import models
from sessions_app.exceptions import InvalidArgument, SessionError
from sessions_app.services import (
    Message,
    SessionService,
    TokenUsage,
    check_message,
    check_metadata,
    check_name,
    check_usage,
)

FORMATS = ("json", "jsonl", "openai")
CONTENT_TYPES = {
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "openai": "application/x-ndjson",
}
EXTENSIONS = {"json": "json", "jsonl": "jsonl", "openai": "jsonl"}
IMPORT_ACTOR = "import"

Progress = Callable[[int], object]


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class Record:
    """One session to import, already validated."""

    line: int
    id: uuid.UUID | None
    name: str
    metadata: dict[str, Any]
    messages: list[Message]
    usage: TokenUsage | None


@dataclass
class ImportResult:
    ids: list[str] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    messages: int = 0


class ImportFailed(SessionError):
    code = "invalid_import"
    http_status = 400

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}", line=line)
        self.line = line
        self.reason = message


def check_format(fmt: object) -> str:
    if fmt not in FORMATS:
        raise InvalidArgument(
            f"format must be one of {', '.join(FORMATS)} (got {str(fmt)[:20]!r})", field="format"
        )
    return str(fmt)


def _record(obj: object, line: int, fmt: str) -> Record:
    if not isinstance(obj, dict):
        raise InvalidArgument("each session must be a JSON object")
    allowed = {"messages"} if fmt == "openai" else {"id", "name", "metadata", "messages", "usage"}
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise InvalidArgument(f"unknown field(s): {', '.join(k[:40] for k in unknown[:5])}")
    if "messages" not in obj:
        raise InvalidArgument("missing field: messages")
    raw_messages = obj["messages"]
    if not isinstance(raw_messages, list):
        raise InvalidArgument("messages must be an array of {role, content}")
    messages = []
    for i, m in enumerate(raw_messages):
        try:
            messages.append(check_message(m))
        except InvalidArgument as exc:
            raise InvalidArgument(f"messages[{i}]: {exc.message}") from None
    session_id = None
    if obj.get("id") is not None:
        try:
            session_id = uuid.UUID(str(obj["id"])) if isinstance(obj["id"], str) else None
        except ValueError:
            session_id = None
        if session_id is None:
            raise InvalidArgument(f"id must be a UUID (got {str(obj['id'])[:40]!r})")
    usage = None if obj.get("usage") is None else check_usage(obj["usage"])
    return Record(
        line=line,
        id=session_id,
        name=check_name(obj.get("name", "")),
        metadata=check_metadata({} if obj.get("metadata") is None else obj["metadata"]),
        messages=messages,
        usage=usage,
    )


def _parse_json(text: str, line: int) -> object:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ImportFailed(line + exc.lineno - 1, f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise ImportFailed(line, f"not acceptable JSON: {str(exc)[:100]}") from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _documents(lines: Iterable[str], fmt: str) -> Iterator[tuple[int, object]]:
    """(line number, parsed object) per session; a ``json`` document is read whole."""
    if fmt == "json":
        text = "".join(lines)
        doc = _parse_json(text, 1)
        sessions = doc.get("sessions") if isinstance(doc, dict) else doc
        if not isinstance(sessions, list):
            raise ImportFailed(1, 'a JSON import is {"sessions": [...]} or an array of sessions')
        for i, obj in enumerate(sessions):
            # There are no lines inside one document: the position counts from 1 instead.
            yield i + 1, obj
        return
    for number, raw in enumerate(lines, start=1):
        if raw.strip():
            yield number, _parse_json(raw.strip(), number)


def parse(
    lines: Iterable[str], fmt: str, *, skip_invalid: bool = False, progress: Progress | None = None
) -> tuple[list[Record], list[tuple[int, str]]]:
    """Validate every record; returns (records, skipped). Raises ImportFailed on the first bad one."""
    check_format(fmt)
    records: list[Record] = []
    skipped: list[tuple[int, str]] = []
    seen: dict[uuid.UUID, int] = {}
    documents = _documents(lines, fmt)
    while True:
        try:
            number, obj = next(documents)
        except StopIteration:
            break
        except ImportFailed as exc:
            if not skip_invalid or fmt == "json":
                raise
            skipped.append((exc.line, exc.reason))
            continue
        try:
            record = _record(obj, number, fmt)
            if record.id is not None:
                if record.id in seen:
                    raise InvalidArgument(f"id {record.id} already appears on line {seen[record.id]}")
                if models.Session.objects.filter(pk=record.id).exists():
                    raise InvalidArgument(f"a session with id {record.id} already exists")
                seen[record.id] = number
        except InvalidArgument as exc:
            if not skip_invalid:
                raise ImportFailed(number, exc.message) from None
            skipped.append((number, exc.message))
            continue
        records.append(record)
        if progress:
            progress(1)
    return records, skipped


def write(records: list[Record], *, actor: str = IMPORT_ACTOR, progress: Progress | None = None) -> list[str]:
    """Create the validated sessions through SessionService, all or nothing."""
    ids = []
    with transaction.atomic():
        for record in records:
            service = SessionService.new(record.name, record.metadata, session_id=record.id)
            if record.messages:
                service.set_messages(record.messages, actor=actor)
            if record.usage is not None:
                service.set_usage(record.usage, actor=actor)
            ids.append(str(service.id))
            if progress:
                progress(1)
    return ids


def import_sessions(
    lines: Iterable[str],
    fmt: str,
    *,
    skip_invalid: bool = False,
    actor: str = IMPORT_ACTOR,
    validated: Progress | None = None,
    written: Progress | None = None,
) -> ImportResult:
    records, skipped = parse(lines, fmt, skip_invalid=skip_invalid, progress=validated)
    ids = write(records, actor=actor, progress=written)
    return ImportResult(ids=ids, skipped=skipped, messages=sum(len(r.messages) for r in records))


# ---------------------------------------------------------------- export


def session_record(session_id: uuid.UUID) -> dict[str, Any]:
    service = SessionService(session_id)
    row = service.row()
    usage = service.last_usage()
    return {
        "id": str(row.id),
        "name": row.name,
        "metadata": row.metadata,
        "messages": [m.as_dict() for m in service.messages()],
        "usage": None if usage is None else usage.as_dict(),
    }


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def export_lines(
    session_ids: Iterable[uuid.UUID], fmt: str, *, progress: Progress | None = None
) -> Iterator[str]:
    """The export as text chunks (streamable); every chunk ends with a newline."""
    check_format(fmt)
    if fmt == "json":
        yield '{"sessions":['
    for i, session_id in enumerate(session_ids):
        record = session_record(session_id)
        if fmt == "openai":
            yield _dumps({"messages": record["messages"]}) + "\n"
        elif fmt == "jsonl":
            yield _dumps(record) + "\n"
        else:
            yield ("" if i == 0 else ",") + "\n" + _dumps(record)
        if progress:
            progress(1)
    if fmt == "json":
        yield "\n]}\n"


def all_session_ids() -> list[uuid.UUID]:
    return list(models.Session.objects.order_by("created_at", "id").values_list("id", flat=True))


def filename(fmt: str, label: str) -> str:
    return f"{label}.{'openai.' if fmt == 'openai' else ''}{EXTENSIONS[fmt]}"

"""Import and export of sessions: JSON, JSONL and the OpenAI chat format.

Shared by the management commands, the JSON API and the dashboard download.

- ``jsonl``: one session per line: ``{"id", "name", "metadata", "messages": [{role, content}], "usage"}``.
- ``json``: one document ``{"sessions": [<the same objects>]}``.
- ``openai``: ``{"messages": [{role, content}]}`` per session (one per line; a single object is one session).
  Only messages travel in this format.

Import validates every record first (with the service's own argument checks) and writes nothing if
one is bad — unless ``skip_invalid``, which imports the good records and reports the bad ones.
``scan`` does the checks alone and collects every error by line (the dashboard's preview). A record
whose id is taken is refused, or with ``as_new`` imported under a fresh id. Each session is one write
(``SessionService.import_session``: version 1, op ``import``), all inside one transaction, so a failure
midway leaves nothing.
"""

from __future__ import annotations

import dataclasses
import io
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from sessions_app import models
from sessions_app.domain.checks import check_message, check_metadata, check_name, check_usage, describe
from sessions_app.domain.errors import InvalidArgument, SessionError
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.services import SessionService
from sessions_app.services.sessions import content_limit

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
    exists: bool = False  # a session here has this id already: imported only as a new session


@dataclass
class ImportResult:
    ids: list[str] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    messages: int = 0
    # (the id in the file, the fresh id) of each session imported as a new one
    renamed: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Scan:
    """Every record of an import read and checked, and every bad one's error by line (a preview)."""

    records: list[Record]
    errors: list[tuple[int, str]]

    @property
    def existing(self) -> list[Record]:
        return [r for r in self.records if r.exists]


class ImportFailed(SessionError):
    code = "invalid_import"
    http_status = 400

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}", line=line)
        self.line = line
        self.reason = message


def guess_format(filename: str) -> str:
    """The format a file's name says: *.openai.jsonl → openai, *.jsonl / *.ndjson → jsonl, else json."""
    name = filename.lower()
    if name.endswith(".openai.jsonl"):
        return "openai"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return "json"


def exists_message(session_id: uuid.UUID) -> str:
    return f"a session with id {session_id} already exists (import it as a new session to give it a fresh id)"


def check_format(fmt: object) -> str:
    if fmt not in FORMATS:
        raise InvalidArgument(
            f"format must be one of {', '.join(FORMATS)} (got {describe(fmt, 20)})", field="format"
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
            messages.append(check_message(m, limit=content_limit()))
        except InvalidArgument as exc:
            raise InvalidArgument(f"messages[{i}]: {exc.message}") from None
    session_id = None
    if obj.get("id") is not None:
        try:
            session_id = uuid.UUID(obj["id"]) if isinstance(obj["id"], str) else None
        except ValueError:
            session_id = None
        # Only the form an export writes (uuid.UUID also reads braces, "urn:uuid:" and bare hex).
        if session_id is None or str(session_id) != obj["id"].lower():
            raise InvalidArgument(f"id must be a UUID such as {uuid.UUID(int=0)} (got {describe(obj['id'])})")
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
    """(line number, parsed object or the ImportFailed of an unreadable line) per session.

    A ``json`` document is read whole. Errors are yielded, not raised: a generator that raises is
    finished, and the lines after a bad one must still be read (skip_invalid, previews).
    """
    if fmt == "json":
        text = "".join(lines)
        try:
            doc = _parse_json(text, 1)
        except ImportFailed as exc:
            yield exc.line, exc
            return
        sessions = doc.get("sessions") if isinstance(doc, dict) and set(doc) == {"sessions"} else doc
        if not isinstance(sessions, list):
            yield 1, ImportFailed(1, 'a JSON import is {"sessions": [...]} or an array of sessions')
            return
        for i, obj in enumerate(sessions):
            # There are no lines inside one document: the position counts from 1 instead.
            yield i + 1, obj
        return
    for number, raw in enumerate(lines, start=1):
        if raw.strip():
            try:
                parsed: object = _parse_json(raw.strip(), number)
            except ImportFailed as exc:
                parsed = exc
            yield number, parsed


def _existing_ids(ids: list[uuid.UUID]) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for i in range(0, len(ids), 500):
        found.update(models.Session.objects.filter(pk__in=ids[i : i + 500]).values_list("pk", flat=True))
    return found


def scan(lines: Iterable[str], fmt: str, *, progress: Progress | None = None) -> Scan:
    """Read and check every record, writing nothing; each bad one becomes an error naming its line.

    Records whose id is a session here already are kept, marked ``exists``: ``parse`` refuses them
    unless they are imported as new sessions.
    """
    check_format(fmt)
    records: list[Record] = []
    errors: list[tuple[int, str]] = []
    seen: dict[uuid.UUID, int] = {}
    for number, obj in _documents(lines, fmt):
        if isinstance(obj, ImportFailed):
            errors.append((obj.line, obj.reason))
            continue
        try:
            record = _record(obj, number, fmt)
            if record.id is not None:
                if record.id in seen:
                    raise InvalidArgument(f"id {record.id} already appears on line {seen[record.id]}")
                seen[record.id] = number
        except InvalidArgument as exc:
            errors.append((number, exc.message))
            continue
        records.append(record)
        if progress:
            progress(1)
    existing = _existing_ids(list(seen))
    if existing:
        records = [dataclasses.replace(r, exists=r.id in existing) for r in records]
    return Scan(records=records, errors=errors)


def parse(
    lines: Iterable[str],
    fmt: str,
    *,
    skip_invalid: bool = False,
    as_new: bool = False,
    progress: Progress | None = None,
) -> tuple[list[Record], list[tuple[int, str]]]:
    """Validate every record; returns (records, skipped). Raises ImportFailed on the first bad one.

    ``as_new``: a record whose id is a session here already is imported as a new session (a fresh id)
    instead of being refused.
    """
    check_format(fmt)
    if skip_invalid and fmt == "json":
        # A json document is written whole by an export: a bad record in it means a bad document.
        raise InvalidArgument(
            "skip_invalid is for the line formats (jsonl, openai): a json document is imported whole",
            field="skip_invalid",
        )
    scanned = scan(lines, fmt, progress=progress)
    errors = list(scanned.errors)
    records = []
    for record in scanned.records:
        if record.exists and not as_new:
            errors.append((record.line, exists_message(record.id)))  # type: ignore[arg-type]
        else:
            records.append(record)
    errors.sort(key=lambda e: e[0])
    if errors and not skip_invalid:
        raise ImportFailed(*errors[0])
    return records, errors


def write(
    records: list[Record], *, actor: str = IMPORT_ACTOR, progress: Progress | None = None
) -> ImportResult:
    """Create the validated sessions through SessionService, all or nothing: one write (v1) each.

    A record marked ``exists`` (parse lets it through only ``as_new``) gets a fresh id.
    """
    result = ImportResult()
    with transaction.atomic():
        for record in records:
            service = SessionService.import_session(
                record.name,
                record.metadata,
                record.messages,
                record.usage,
                session_id=None if record.exists else record.id,
                imported_from=record.id if record.exists else None,
                actor=actor,
            )
            result.ids.append(str(service.id))
            result.messages += len(record.messages)
            if record.exists:
                result.renamed.append((str(record.id), str(service.id)))
            if progress:
                progress(1)
    return result


def import_sessions(
    lines: Iterable[str],
    fmt: str,
    *,
    skip_invalid: bool = False,
    as_new: bool = False,
    actor: str = IMPORT_ACTOR,
    validated: Progress | None = None,
    written: Progress | None = None,
) -> ImportResult:
    records, skipped = parse(lines, fmt, skip_invalid=skip_invalid, as_new=as_new, progress=validated)
    result = write(records, actor=actor, progress=written)
    result.skipped = skipped
    return result


def decode(data: bytes) -> str:
    """An uploaded file's text; bytes that are not UTF-8 are an ImportFailed naming their line."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")  # (a byte order mark some editors write)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportFailed(line, f"not UTF-8 text (byte {exc.start} of the file: {exc.reason})") from None


def text_lines(text: str) -> Iterator[str]:
    """The lines of an import's text, split at newlines only: str.splitlines would also split at U+2028,
    U+0085 … that JSON strings may hold raw (files written by other tools), breaking a record in two."""
    return iter(io.StringIO(text, newline="\n"))


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


# Line breaks to str.splitlines (and so to many JSON Lines readers) that json.dumps leaves raw when
# ensure_ascii is off. They can only occur inside JSON strings, where the escape means the same.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _dumps(value: object) -> str:
    """Compact JSON on one line, for every line splitter."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_LINE_BREAKS)


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

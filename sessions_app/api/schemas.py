"""The API's Pydantic schemas: request bodies and answers. The OpenAPI document is generated from them.

Argument types run the service's own checks (checks.check_*), so a refused value gets the service's
message and code, and bounds stay defined once, in the service. Bounds the service enforces after a lock
(an index past the end, a negative index) or that JSON Schema can say but Pydantic need not check are
documented with ``documented(...)``: in the document, not enforced twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from django.conf import settings
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    create_model,
)
from typing_extensions import TypeAliasType

from sessions_app.domain import checks, ops
from sessions_app.domain.checks import MAX_METADATA_DEPTH, MAX_NAME_LENGTH
from sessions_app.domain.errors import InvalidArgument
from sessions_app.domain.types import MAX_BIGINT, Role
from sessions_app.services import transfer


class Schema(BaseModel):
    """Plain Pydantic models: answers are built from dicts, so ninja's Schema (which reads ORM objects
    attribute by attribute, in Python, for every nested model) would only slow long lists down."""


def documented(**schema: Any) -> Any:
    """JSON Schema keywords for the document only (the service enforces them, with its own messages)."""
    return Field(json_schema_extra=schema)


# Text the service stores: no NUL (PostgreSQL text cannot hold it); sizes are the service's to check.
NO_NUL = "^[^\\u0000]*$"
Text = Annotated[str, documented(pattern=NO_NUL)]
Count = Annotated[int, documented(minimum=0, maximum=MAX_BIGINT)]
Timestamp = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

# What checks.check_metadata accepts (its depth limit is said in words: JSON Schema cannot count).
MetadataNumber = Annotated[
    int | float, WithJsonSchema({"type": "number", "minimum": -MAX_BIGINT, "maximum": MAX_BIGINT})
]
MetadataValue = TypeAliasType(
    "MetadataValue", "Text | MetadataNumber | bool | None | list[MetadataValue] | Metadata"
)
Metadata = TypeAliasType(
    "Metadata",
    Annotated[
        dict[str, MetadataValue],
        documented(
            description=f"any JSON object, at most {MAX_METADATA_DEPTH} levels deep",
            propertyNames={"type": "string", "pattern": NO_NUL},
        ),
    ],
)


# ---------------------------------------------------------------- the service's checks, as validators


def _int(value: object, info: ValidationInfo) -> int:
    return checks.check_int(value, str(info.field_name))


def _text(value: object, info: ValidationInfo) -> str:
    return checks.check_content(value, str(info.field_name), limit=settings.ZYN_MAX_CONTENT_BYTES)


def _message(value: object) -> dict[str, str]:
    return checks.check_message(value, limit=settings.ZYN_MAX_CONTENT_BYTES).as_dict()


def _messages(value: object) -> object:
    # The service accepts any iterable; over JSON only an array is a list of messages.
    if not isinstance(value, list):
        raise InvalidArgument("messages must be an array of {role, content}", field="messages")
    return value


def _usage(value: object) -> dict[str, int] | None:
    return None if value is None else checks.check_usage(value).as_dict()


def _metadata(value: object) -> dict[str, Any] | None:
    return None if value is None else checks.check_metadata(value)


# ---------------------------------------------------------------- shared shapes


class Error(Schema):
    error: str = Field(description="machine-readable code, e.g. version_conflict")
    message: str = Field(description="what went wrong, for a person")
    details: dict[str, Any] = Field(description="e.g. current_version on a 409")


class Message(Schema):
    model_config = ConfigDict(extra="forbid")
    role: Role
    content: Text


class Usage(Schema):
    model_config = ConfigDict(extra="forbid")
    prompt: Count
    completion: Count
    total: Count


Index = Annotated[int, BeforeValidator(_int), documented(minimum=0, maximum=MAX_BIGINT)]
Content = Annotated[str, BeforeValidator(_text), documented(pattern=NO_NUL)]
MessageArg = Annotated[Message, BeforeValidator(_message)]
UsageArg = Annotated[Usage | None, BeforeValidator(_usage)]
ExpectedVersion = Annotated[
    Count | None,
    BeforeValidator(checks.check_expected_version),
    documented(
        description="write only if the session is at this version (or send If-Match); else 409. "
        "null or left out: any version"
    ),
]


# ---------------------------------------------------------------- write arguments (one class per op)


class WriteArgs(Schema):
    model_config = ConfigDict(extra="forbid")
    expected_version: ExpectedVersion = None


# One class per write of the Session API, made from its declaration (domain/ops.py): AppendArgs, ….
ARGUMENT_TYPES: dict[ops.Kind, Any] = {
    ops.Kind.POSITION: Index,
    ops.Kind.COUNT: Index,  # (the service says "at least 0" itself)
    ops.Kind.ROLE: Annotated[Role, BeforeValidator(checks.check_role)],
    ops.Kind.CONTENT: Content,
    ops.Kind.MESSAGE: MessageArg,
    ops.Kind.MESSAGES: Annotated[list[MessageArg], BeforeValidator(_messages)],
    ops.Kind.USAGE: UsageArg,
}


def _write_args(op: ops.Op) -> type[WriteArgs]:
    fields: dict[str, Any] = {
        p.name: (ARGUMENT_TYPES[p.kind], None) if p.optional else (ARGUMENT_TYPES[p.kind], ...)
        for p in op.params
    }
    name = "".join(part.title() for part in op.name.split("_")) + "Args"
    return create_model(name, __base__=WriteArgs, __module__=__name__, **fields)


WRITE_ARGS: dict[str, type[WriteArgs]] = {name: _write_args(op) for name, op in ops.API_WRITES.items()}


# ---------------------------------------------------------------- sessions and reads


class NewSession(Schema):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[
        str, BeforeValidator(checks.check_name), documented(pattern=NO_NUL, maxLength=MAX_NAME_LENGTH)
    ] = ""
    metadata: Annotated[Metadata | None, BeforeValidator(_metadata)] = Field(
        None, description="null or left out: {}"
    )


class Session(Schema):
    id: uuid.UUID
    name: str
    metadata: Metadata
    version: Count
    len: Count
    usage: Usage | None
    created_at: Timestamp
    updated_at: Timestamp


class SessionList(Schema):
    count: Count
    limit: Count
    offset: Count
    sessions: list[Session]


class Version(Schema):
    version: Count


class Messages(Schema):
    version: Count
    messages: list[Message]


class Len(Schema):
    len: Count


class LastUsage(Schema):
    usage: Usage | None


class Event(Schema):
    version: Count
    op: str
    args: dict[str, Any]
    actor: str
    created_at: Timestamp


class Events(Schema):
    events: list[Event]
    more: bool


# ---------------------------------------------------------------- import and export
# Bodies read and written as text (transfer.py checks and words them): these only describe them.

Format = Annotated[str, BeforeValidator(transfer.check_format), documented(enum=list(transfer.FORMATS))]


class ExportedSession(Schema):
    id: uuid.UUID
    name: str
    metadata: Metadata
    messages: list[Message]
    usage: Usage | None


class ExportDocument(Schema):
    sessions: list[ExportedSession]


class ImportedSession(Schema):
    """What transfer.parse accepts in a json import: an export, or a session without the optional fields."""

    model_config = ConfigDict(extra="forbid")
    id: uuid.UUID | None = Field(None, description="null: a new id")
    name: Annotated[str, documented(pattern=NO_NUL, maxLength=MAX_NAME_LENGTH)] = ""
    metadata: Metadata | None = None
    messages: list[Message]
    usage: Usage | None = None


class ImportSessions(Schema):
    model_config = ConfigDict(extra="forbid")
    sessions: list[ImportedSession]


ImportDocument = TypeAliasType("ImportDocument", ImportSessions | list[ImportedSession])


class SkippedLine(Schema):
    line: Count
    message: str


class Renamed(Schema):
    from_: uuid.UUID = Field(alias="from")
    to: uuid.UUID


class ImportResult(Schema):
    format: Annotated[str, documented(enum=list(transfer.FORMATS))]
    imported: Count
    ids: list[uuid.UUID]
    messages: Count
    skipped: list[SkippedLine]
    renamed: list[Renamed] = Field(
        description="with as_new: each session whose id was taken here, and the fresh id it got"
    )

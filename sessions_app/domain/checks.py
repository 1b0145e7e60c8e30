"""Argument checks of the Session API: each raises InvalidArgument (or IndexOutOfRange) with a message a
person understands, before any database work. Pure Python."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sessions_app.domain.errors import IndexOutOfRange, InvalidArgument
from sessions_app.domain.types import MAX_BIGINT, ROLES, Message, TokenUsage

SYSTEM_ACTOR = "system"


def describe(value: object, limit: int = 40) -> str:
    """A value as a person reading a JSON error sees it: text quoted, other values by their JSON type."""
    if isinstance(value, str):
        # Quoted as JSON (a NUL shows as \u0000); a lone surrogate shows escaped, so the message is printable.
        text = json.dumps(value[:limit], ensure_ascii=False).encode("utf-8", "backslashreplace").decode()
        return text if len(value) <= limit else text[:-1] + '…"'
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        # NaN and ±Infinity print by their JavaScript names; integers too long to print are not printed.
        text = json.dumps(value) if not isinstance(value, int) or abs(value) < 10**limit else "a huge number"
        return text if len(text) <= limit else "a long number"
    return {type(None): "null", list: "an array", tuple: "an array", dict: "an object"}.get(
        type(value), "an object" if isinstance(value, Mapping) else f"a {type(value).__name__}"
    )


def check_int(value: object, name: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an integer (got {describe(value)})", field=name)
    if minimum is not None and value < minimum:
        raise InvalidArgument(f"{name} must be at least {minimum} (got {value})", field=name)
    if abs(value) > MAX_BIGINT:
        raise InvalidArgument(f"{name} is too large: at most {MAX_BIGINT}", field=name)
    return value


def check_role(role: object) -> str:
    if isinstance(role, str) and role in ROLES:
        return str(role)
    raise InvalidArgument(f"role must be one of user, assistant, system (got {describe(role)})", field="role")


def check_text(value: object, name: str) -> str:
    """Text every database stores as given: no NUL (PostgreSQL text cannot hold it), no lone surrogates."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{name} must be text (got {describe(value)})", field=name)
    if "\x00" in value:
        raise InvalidArgument(f"{name} must not contain NUL characters (\\x00)", field=name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(f"{name} is not valid Unicode text (unpaired surrogate)", field=name) from None
    return value


def check_content(content: object, name: str = "content", *, limit: int | None = None) -> str:
    """Text as in check_text, of at most ``limit`` UTF-8 bytes (None: no limit)."""
    check_text(content, name)
    size = len(content.encode("utf-8"))
    if limit is not None and size > limit:
        raise InvalidArgument(f"{name} is {size} bytes; the limit is {limit} bytes", field=name)
    return content


MAX_NAME_LENGTH = 200
MAX_METADATA_DEPTH = 32


def check_name(name: object) -> str:
    """A session's name: text of at most MAX_NAME_LENGTH characters (Session.name's max_length)."""
    check_text(name, "name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(f"name is {len(name)} characters; the limit is {MAX_NAME_LENGTH}", field="name")
    return name


def check_metadata(metadata: object) -> dict[str, Any]:
    """A JSON object every database stores and every reader parses back as it was given: text as in
    check_text, numbers within ±MAX_BIGINT (no NaN/Infinity, no integers too long to print), at most
    MAX_METADATA_DEPTH levels deep."""
    if not isinstance(metadata, Mapping):
        raise InvalidArgument(f"metadata must be a JSON object (got {describe(metadata)})", field="metadata")

    def walk(value: object, path: str, depth: int) -> None:
        if depth > MAX_METADATA_DEPTH:
            raise InvalidArgument(
                f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels", field="metadata"
            )
        if isinstance(value, str):
            check_text(value, path)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise InvalidArgument(f"{path} keys must be text", field="metadata")
                check_text(key, f"{path} key")
                walk(item, f"{path}.{key[:40]}", depth + 1)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]", depth + 1)
        elif isinstance(value, bool) or value is None:
            pass
        elif isinstance(value, int | float):
            # NaN fails both comparisons; ±Infinity and huge numbers fail one.
            if not -MAX_BIGINT <= value <= MAX_BIGINT:
                raise InvalidArgument(
                    f"{path} must be a number between -{MAX_BIGINT} and {MAX_BIGINT}", field="metadata"
                )
        else:
            raise InvalidArgument(f"{path} is not a JSON value (got {describe(value)})", field="metadata")

    walk(metadata, "metadata", 0)
    return dict(metadata)


def check_message(message: object, *, limit: int | None = None) -> Message:
    if isinstance(message, Message):
        role, content = message.role, message.content
    elif isinstance(message, Mapping):
        unknown = set(message) - {"role", "content"}
        if unknown or "role" not in message or "content" not in message:
            raise InvalidArgument("a message must have exactly the fields role and content", field="message")
        role, content = message["role"], message["content"]
    else:
        raise InvalidArgument(
            f"a message must be a Message or {{role, content}} (got {describe(message)})",
            field="message",
        )
    return Message(role=check_role(role), content=check_content(content, limit=limit))


def check_usage(usage: object) -> TokenUsage:
    if isinstance(usage, TokenUsage):
        values = usage.as_dict()
    elif isinstance(usage, Mapping) and set(usage) == {"prompt", "completion", "total"}:
        values = dict(usage)
    else:
        raise InvalidArgument(
            "usage must have the integer fields prompt, completion and total", field="usage"
        )
    return TokenUsage(**{k: check_int(v, f"usage.{k}", minimum=0) for k, v in values.items()})


def check_expected_version(expected_version: object) -> int | None:
    if expected_version is None:
        return None
    return check_int(expected_version, "expected_version", minimum=0)


def check_actor(actor: object) -> str:
    if actor is None or actor == "":
        return SYSTEM_ACTOR
    if not isinstance(actor, str):
        raise InvalidArgument("actor must be text", field="actor")
    return actor[:200]


def check_index(index: int, length: int, *, allow_end: bool = False) -> None:
    upper = length if allow_end else length - 1
    if index < 0 or index > upper:
        raise IndexOutOfRange(index, length)

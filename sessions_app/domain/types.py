"""The Session API's value types (pure Python: the stdlib-only client uses them too)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_BIGINT = 2**63 - 1


class Role(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


ROLES = frozenset(r.value for r in Role)


@dataclass(frozen=True)
class Message:
    role: str
    content: str

    def __post_init__(self) -> None:
        if isinstance(self.role, Role):
            object.__setattr__(self, "role", self.role.value)

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class TokenUsage:
    prompt: int
    completion: int
    total: int

    def as_dict(self) -> dict[str, int]:
        return {"prompt": self.prompt, "completion": self.completion, "total": self.total}


@dataclass(frozen=True)
class Event:
    version: int
    op: str
    args: dict[str, Any]
    actor: str
    created_at: datetime

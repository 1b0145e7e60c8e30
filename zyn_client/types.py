"""Value types of zyn_client: equal by value to sessions_app.services.sessions' Message/TokenUsage/Role."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class Role(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


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

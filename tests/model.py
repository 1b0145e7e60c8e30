"""A plain-Python model of zyn's Go Session semantics, independent of the app's code."""

from __future__ import annotations

from dataclasses import dataclass, field


class ModelIndexError(Exception):
    pass


class ModelValueError(Exception):
    pass


@dataclass
class SessionModel:
    messages: list[tuple[str, str]] = field(default_factory=list)
    usage: tuple[int, int, int] | None = None
    version: int = 0

    def _bump(self) -> None:
        self.version += 1

    def _check(self, index: int, *, allow_end: bool = False) -> None:
        upper = len(self.messages) if allow_end else len(self.messages) - 1
        if index < 0 or index > upper:
            raise ModelIndexError(index)

    def append(self, role: str, content: str) -> None:
        self.messages.append((role, content))
        self._bump()

    def clear(self) -> None:
        self.messages = []
        self._bump()

    def remove(self, index: int) -> None:
        self._check(index)
        self.messages = self.messages[:index] + self.messages[index + 1 :]
        self._bump()

    def replace(self, index: int, message: tuple[str, str]) -> None:
        self._check(index)
        self.messages = self.messages[:index] + [message] + self.messages[index + 1 :]
        self._bump()

    def insert(self, index: int, message: tuple[str, str]) -> None:
        self._check(index, allow_end=True)
        self.messages = self.messages[:index] + [message] + self.messages[index:]
        self._bump()

    def prune(self, n: int) -> None:
        if n < 0:
            raise ModelValueError(n)
        keep = max(0, len(self.messages) - 2 * n)
        self.messages = self.messages[:keep]
        self._bump()

    def truncate(self, first: int, last: int) -> None:
        if first < 0 or last < 0:
            raise ModelValueError((first, last))
        if first + last < len(self.messages):
            self.messages = self.messages[:first] + self.messages[len(self.messages) - last :]
        self._bump()

    def set_messages(self, messages: list[tuple[str, str]]) -> None:
        self.messages = list(messages)
        self._bump()

    def set_usage(self, usage: tuple[int, int, int] | None) -> None:
        if usage is not None:
            self.usage = usage
        self._bump()

    def move(self, a: int, b: int) -> None:
        self._check(a)
        self._check(b)
        item = self.messages[a]
        rest = self.messages[:a] + self.messages[a + 1 :]
        self.messages = rest[:b] + [item] + rest[b:]
        self._bump()

    def record_exchange(self, prompt: str, response: str, usage: tuple[int, int, int] | None) -> None:
        self.messages = self.messages + [("user", prompt), ("assistant", response)]
        if usage is not None:
            self.usage = usage
        self._bump()

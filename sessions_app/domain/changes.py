"""What a write does to a session's message rows, as values: the one place of the ops' index arithmetic.

An op turns its recorded arguments and the session's length into one ``Change`` (domain/ops.py). The
same value is applied to a list of messages (replay, previews, the model in the tests) and to the
database rows (services/storage.py), so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessions_app.domain.types import Message


@dataclass(frozen=True)
class AppendRows:
    messages: tuple[Message, ...]

    def apply(self, messages: list[Message]) -> None:
        messages.extend(self.messages)

    def length_after(self, length: int) -> int:
        return length + len(self.messages)


@dataclass(frozen=True)
class InsertRow:
    index: int  # 0..length
    message: Message

    def apply(self, messages: list[Message]) -> None:
        messages.insert(self.index, self.message)

    def length_after(self, length: int) -> int:
        return length + 1


@dataclass(frozen=True)
class ReplaceRow:
    index: int
    message: Message

    def apply(self, messages: list[Message]) -> None:
        messages[self.index] = self.message

    def length_after(self, length: int) -> int:
        return length


@dataclass(frozen=True)
class RemoveRow:
    index: int

    def apply(self, messages: list[Message]) -> None:
        del messages[self.index]

    def length_after(self, length: int) -> int:
        return length - 1


@dataclass(frozen=True)
class MoveRow:
    """The message at from_index ends at to_index; the ones between step toward the gap it left."""

    from_index: int
    to_index: int

    def apply(self, messages: list[Message]) -> None:
        messages.insert(self.to_index, messages.pop(self.from_index))

    def length_after(self, length: int) -> int:
        return length


@dataclass(frozen=True)
class DeleteRange:
    """The rows at indexes start ≤ i < stop go; the ones after close the gap (empty when start == stop)."""

    start: int
    stop: int

    @property
    def count(self) -> int:
        return self.stop - self.start

    def apply(self, messages: list[Message]) -> None:
        del messages[self.start : self.stop]

    def length_after(self, length: int) -> int:
        return length - self.count


@dataclass(frozen=True)
class ReplaceAll:
    messages: tuple[Message, ...]

    def apply(self, messages: list[Message]) -> None:
        messages[:] = self.messages

    def length_after(self, length: int) -> int:
        return len(self.messages)


Change = AppendRows | InsertRow | ReplaceRow | RemoveRow | MoveRow | DeleteRange | ReplaceAll

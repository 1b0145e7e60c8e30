"""Parsing of the dashboard's forms. Forms only parse and check shape; SessionService decides the rest.

Every write form carries ``expected_version``: the version the operator's page was rendered at.
The service refuses the write when the session moved on, so an edit can never land on a
message other than the one the operator clicked.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Any

from django import forms

from sessions_app.domain.checks import check_message
from sessions_app.domain.errors import InvalidArgument
from sessions_app.domain.types import Message, Role, TokenUsage
from sessions_app.services.sessions import content_limit

ROLE_CHOICES = [(role.value, role.value) for role in Role]
# Plenty for any real conversation paste, and it keeps one request from building a huge list in memory.
MAX_JSON_MESSAGES = 20_000


def _int_field(label: str, *, minimum: int = 0, required: bool = True) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        min_value=minimum,
        max_value=2**31 - 1,
        required=required,
        error_messages={
            "required": f"{label} is required.",
            "invalid": f"{label} must be a whole number.",
            "min_value": f"{label} must be at least {minimum}.",
            "max_value": f"{label} is too large.",
        },
    )


class VersionedForm(forms.Form):
    expected_version = forms.IntegerField(
        min_value=0,
        error_messages={
            "required": (
                "The form did not say which version of the session it was made from; reload the page."
            ),
            "invalid": "The session version sent with the form is not a number; reload the page.",
            "min_value": "The session version sent with the form is not valid; reload the page.",
        },
    )

    def error_text(self) -> str:
        """All errors as one sentence list, field order first, for the inline error box."""
        parts: list[str] = []
        for errors in self.errors.values():
            parts.extend(str(e) for e in errors)
        return " ".join(parts)


def _role_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=ROLE_CHOICES,
        error_messages={
            "required": "Choose a role: user, assistant or system.",
            "invalid_choice": "Role must be user, assistant or system (got %(value)s).",
        },
    )


def _content_field() -> forms.CharField:
    # strip=False: whitespace is part of a message and is kept exactly.
    return forms.CharField(
        strip=False,
        required=False,
        widget=forms.Textarea,
        error_messages={
            "required": "Content is required.",
            "null_characters_not_allowed": "Content must not contain NUL characters (\\x00).",
        },
    )


class MessageForm(VersionedForm):
    """A role + content pair (append, insert, replace)."""

    role = _role_field()
    content = _content_field()

    def clean_content(self) -> str:
        content = self.cleaned_data.get("content", "")
        # The Session API accepts empty content; an operator typing an empty message is a mistake.
        if not content.strip():
            raise forms.ValidationError("Content is empty; type the message text.")
        return content

    def message(self) -> Message:
        return Message(role=self.cleaned_data["role"], content=self.cleaned_data["content"])


class InsertForm(MessageForm):
    index = _int_field("Index")


class MoveForm(VersionedForm):
    to_index = _int_field("Target index")


class TruncateForm(VersionedForm):
    keep_first = _int_field("Keep first")
    keep_last = _int_field("Keep last")


class PruneForm(VersionedForm):
    n = _int_field("Exchanges to remove")


class ConfirmForm(VersionedForm):
    """Clear and remove: nothing but the version; the confirmation is the separate step before it."""


class UsageForm(VersionedForm):
    prompt = _int_field("Prompt tokens")
    completion = _int_field("Completion tokens")
    total = _int_field("Total tokens", required=False)

    def usage(self) -> TokenUsage:
        data = self.cleaned_data
        total = data["total"] if data.get("total") is not None else data["prompt"] + data["completion"]
        return TokenUsage(prompt=data["prompt"], completion=data["completion"], total=total)


class SetMessagesForm(VersionedForm):
    messages_json = forms.CharField(
        strip=False,
        widget=forms.Textarea,
        error_messages={
            "required": "Paste a JSON list of {role, content} objects.",
            "null_characters_not_allowed": "The JSON must not contain NUL characters (\\x00).",
        },
    )

    def clean_messages_json(self) -> list[Message]:
        return parse_messages_json(self.cleaned_data["messages_json"])


def parse_messages_json(text: str) -> list[Message]:
    """Parse a pasted JSON list of {role, content}; errors name the line or item that is wrong."""
    try:
        data = json.loads(text, parse_int=_whole_number, parse_constant=_not_json_number)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(
            f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    except RecursionError:
        # json.loads recurses once per [ or {: a paste nested past Python's stack is not a message list.
        raise forms.ValidationError(
            'The JSON is nested too deeply to read; paste a list of {"role", "content"} objects.'
        ) from None
    if not isinstance(data, list):
        raise forms.ValidationError(
            f'Expected a JSON list like [{{"role": "user", "content": "…"}}], got a {_json_type(data)}.'
        )
    if len(data) > MAX_JSON_MESSAGES:
        raise forms.ValidationError(f"At most {MAX_JSON_MESSAGES} messages at once (got {len(data)}).")
    messages: list[Message] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise forms.ValidationError(
                f"Item {i} must be an object with role and content, got a {_json_type(item)}."
            )
        try:
            messages.append(check_message(item, limit=content_limit()))
        except InvalidArgument as exc:
            raise forms.ValidationError(f"Item {i}: {exc.message}.") from None
    return messages


def _whole_number(literal: str) -> int:
    # int() refuses literals past Python's digit limit with a ValueError meant for programmers.
    digits, limit = len(literal.lstrip("-")), sys.get_int_max_str_digits()
    if limit and digits > limit:
        raise forms.ValidationError(
            f"The JSON holds a number with {digits:,} digits, too long to read; a message list holds text."
        )
    return int(literal)


def _not_json_number(name: str) -> None:
    # Python's json accepts NaN, Infinity and -Infinity; JSON (RFC 8259) does not.
    raise forms.ValidationError(f"Not valid JSON: {name} is not a JSON value (write it as text in quotes).")


def _json_type(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


class MessageSearchForm(forms.Form):
    """The detail page's ``?q=``: search words to mark in the messages and to step through."""

    q = forms.CharField(
        required=False,
        max_length=200,
        strip=True,
        error_messages={
            "max_length": "Search words must be at most 200 characters (got %(show_value)d).",
            "null_characters_not_allowed": "Search words must not contain NUL characters (\\x00).",
        },
    )


class ListFilterForm(forms.Form):
    """The session list's query string. Bad values are reported and ignored, never a 500."""

    q = forms.CharField(required=False, max_length=200, strip=True)
    key = forms.CharField(required=False, max_length=100, strip=True)
    value = forms.CharField(required=False, max_length=200, strip=True)
    since = forms.DateField(
        required=False, error_messages={"invalid": "From date must look like 2026-11-25."}
    )
    until = forms.DateField(required=False, error_messages={"invalid": "To date must look like 2026-11-25."})
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since: date | None = data.get("since")
        until: date | None = data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The From date is after the To date.")
        if data.get("value") and not data.get("key"):
            raise forms.ValidationError("Give a metadata key to filter by its value.")
        return data


IMPORT_FORMAT_CHOICES = [
    ("", "From the file name"),
    ("jsonl", "JSONL: one session per line"),
    ("json", 'JSON: {"sessions": […]}'),
    ("openai", "OpenAI: {messages} per line"),
]


class ImportForm(forms.Form):
    """An import's upload. The file is only received here; transfer.scan reads and checks it."""

    file = forms.FileField(
        widget=forms.ClearableFileInput(
            attrs={
                "id": "import-file",
                "accept": ".json,.jsonl,.ndjson,application/json,application/x-ndjson,text/plain",
            }
        ),
        error_messages={
            "required": "Choose a file to import.",
            "empty": "The file is empty: there is nothing to import.",
            "invalid": "The upload is not a file.",
        },
    )
    format = forms.ChoiceField(
        choices=IMPORT_FORMAT_CHOICES,
        required=False,
        widget=forms.Select(attrs={"id": "import-format"}),
        error_messages={"invalid_choice": "Format must be json, jsonl or openai."},
    )
    # The preview's fingerprint of the file and format: an import posts it back, so what is imported
    # is exactly what was previewed.
    fingerprint = forms.RegexField(
        regex=r"^[0-9a-f]{64}$",
        required=False,
        error_messages={"invalid": "The preview sent with the form is not valid; preview the file again."},
    )

    def error_text(self) -> str:
        return " ".join(str(e) for errors in self.errors.values() for e in errors)

"""The session admin's forms: the session (name, metadata, the version it was loaded at), its message rows,
and the bulk actions' arguments. Every check is the service's own, shown as a form error."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.forms.fields import InvalidJSONInput
from django.forms.models import BaseInlineFormSet

from sessions_app import models
from sessions_app.domain.checks import MAX_METADATA_DEPTH, check_message, check_metadata, check_name
from sessions_app.domain.edits import RowEdit
from sessions_app.domain.errors import InvalidArgument, VersionConflict
from sessions_app.domain.types import Message
from sessions_app.services.sessions import content_limit


def _same_text(a: str, b: str) -> bool:
    return a.replace("\r\n", "\n") == b.replace("\r\n", "\n")


class MessageInlineForm(forms.ModelForm):
    position = forms.IntegerField(
        min_value=0,
        required=False,
        widget=forms.NumberInput(attrs={"style": "width: 5em"}),
        help_text="Change to move the message; blank on a new row appends it.",
    )
    # Content is kept exactly (no strip); browsers post textarea newlines as CRLF, see clean_content.
    content = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 80})
    )

    class Meta:
        model = models.Message
        fields = ["position", "role", "content"]

    def validate_unique(self) -> None:
        # A reorder passes through duplicate positions; the service keeps the order keys unique.
        pass

    def clean_content(self) -> str:
        content = self.cleaned_data["content"]
        original = self.initial.get("content")
        if original is not None and _same_text(content, original):
            return original  # an untouched textarea: the browser's CRLFs are not an edit
        return content.replace("\r\n", "\n")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "role" in data and "content" in data:
            try:
                check_message({"role": data["role"], "content": data["content"]}, limit=content_limit())
            except InvalidArgument as exc:
                raise forms.ValidationError(exc.message) from None
        return data


class MessageInlineFormSet(BaseInlineFormSet):
    def _construct_form(self, i: int, **kwargs: Any) -> forms.Form:
        form = super()._construct_form(i, **kwargs)
        if i < self.initial_form_count():  # a loaded row: its index (the queryset is in key order)
            form.initial["position"] = i
        return form

    def validate_unique(self) -> None:
        pass  # see MessageInlineForm.validate_unique

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        final = 0
        for form in self.forms:
            if form.instance.pk is None and not form.has_changed():
                continue
            if not (form.instance.pk is not None and self._should_delete_form(form)):
                final += 1
        for form in self.forms:
            wanted = form.cleaned_data.get("position")
            moved = wanted is not None and wanted != form.initial.get("position")
            if moved and wanted >= final and not self._should_delete_form(form):
                form.add_error(
                    "position", f"position must be between 0 and {final - 1} (the session will have {final})"
                )

    def row_edits(self) -> list[RowEdit]:
        """The valid formset's rows, for plan_edits; untouched extra rows are left out."""
        rows = []
        for form in self.forms:
            loaded = form.instance.pk is not None
            if not loaded and not form.has_changed():
                continue
            # form.initial: the row as loaded (validation already copied the new values onto form.instance).
            if loaded and self._should_delete_form(form):
                rows.append(RowEdit(None, original=form.initial["position"], removed=True))
                continue
            data = form.cleaned_data
            message = Message(data["role"], data["content"])
            if not loaded:
                rows.append(RowEdit(message, wanted=data.get("position")))
                continue
            edited = (data["role"], data["content"]) != (form.initial["role"], form.initial["content"])
            rows.append(RowEdit(message, form.initial["position"], data.get("position"), edited))
        return rows


class _NotJson(ValueError):
    """NaN, Infinity and -Infinity: Python's json reads them, JSON has no such values."""


def _reject_constant(name: str) -> None:
    raise _NotJson(name)


class MetadataField(forms.JSONField):
    """The metadata textarea: any text in, a form error out, never a 500.

    Django's JSONField lets json.loads' RecursionError (deep nesting) and ValueError (an integer past
    Python's digit limit) escape, reads NaN, and re-renders a refused value by parsing it again. Here the
    text is parsed strictly, then checked by the service's own check_metadata, and a refused text is shown
    back exactly as it was typed.
    """

    def to_python(self, value: Any) -> Any:
        if self.disabled:
            return value
        if value in self.empty_values:
            return {}
        if not isinstance(value, str):
            raise forms.ValidationError('metadata must be a JSON object, e.g. {"program": "triage"}')
        try:
            parsed = json.loads(value, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"metadata is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
        except _NotJson as exc:
            raise forms.ValidationError(f"metadata holds {exc}, which JSON has no way to write") from None
        except RecursionError:
            raise forms.ValidationError(
                f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels"
            ) from None
        except ValueError:  # the only other one: int("…") past sys.get_int_max_str_digits()
            raise forms.ValidationError("metadata holds a number with too many digits to read") from None
        try:
            return check_metadata(parsed)
        except InvalidArgument as exc:
            raise forms.ValidationError(exc.message) from None

    def bound_data(self, data: Any, initial: Any) -> Any:
        if self.disabled or data is None:
            return super().bound_data(data, initial)
        return InvalidJSONInput(data)  # shown back as typed (prepare_value keeps it as it is)


class SessionAdminForm(forms.ModelForm):
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)
    metadata = MetadataField(
        required=False, initial=dict, help_text='A JSON object, e.g. {"program": "triage"}'
    )

    class Meta:
        model = models.Session
        fields = ["name", "metadata"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and not self.instance._state.adding:
            self.fields["expected_version"].initial = self.instance.version

    def clean_name(self) -> str:
        try:
            return check_name(self.cleaned_data.get("name", ""))
        except InvalidArgument as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_expected_version(self) -> int | None:
        expected = self.cleaned_data.get("expected_version")
        if self.instance._state.adding:
            return 0
        if expected is None:
            raise forms.ValidationError(
                "This form has no version; reload the page and make your change again."
            )
        current = models.Session.objects.filter(pk=self.instance.pk).values_list("version", flat=True).first()
        if current is not None and current != expected:
            conflict = VersionConflict(expected, current)  # worded as everywhere else (also a future version)
            raise forms.ValidationError(
                f"{conflict.message}. Nothing was saved: reload the page and make your change again."
            )
        return expected


class PruneForm(forms.Form):
    n = forms.IntegerField(min_value=0, label="Pairs to remove from the end", initial=1)


class TruncateForm(forms.Form):
    keep_first = forms.IntegerField(min_value=0, label="Keep first", initial=1)
    keep_last = forms.IntegerField(min_value=0, label="Keep last", initial=4)


class ClearForm(forms.Form):
    pass

"""Django admin for sessions, writing through SessionService.

The admin never saves Message rows: the inline's changes (edit, add, delete, reorder) and the
actions (clear, truncate, prune) become SessionService calls, so every change bumps the version,
records an event and is published after commit like any other write. A stale form (the session
changed since it was loaded) is refused with a clear error instead of overwriting.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTransform
from django.forms.fields import InvalidJSONInput
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from sessions_app import history, models
from sessions_app.domain.checks import MAX_METADATA_DEPTH, check_message, check_metadata, check_name
from sessions_app.domain.errors import InvalidArgument, SessionError, VersionConflict
from sessions_app.domain.types import Message
from sessions_app.services import SessionService, user_actor
from sessions_app.services import accounts as admin_accounts
from sessions_app.services.sessions import content_limit

# Larger sessions are edited in the dashboard: a formset of thousands of rows is no editor.
ADMIN_INLINE_LIMIT = 500


def _actor(request: HttpRequest) -> str:
    return user_actor(request.user)


class CheckedSelectionMixin:
    """Admin actions refuse selected ids that are not ids of the model, instead of a 500.

    Django filters the queryset with the posted ``_selected_action`` values as they are, and a value
    the primary key cannot hold (``not-a-uuid`` for a UUID, text for an integer) raises there.
    """

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        pk = self.model._meta.pk
        for value in request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME):
            try:
                pk.to_python(value)
            except ValidationError:
                self.message_user(
                    request,
                    f"Nothing was changed: '{value[:40]}' is not the id of a "
                    f"{self.model._meta.verbose_name}. Reload the page and select again.",
                    messages.ERROR,
                )
                return None  # the changelist redirects back to itself and shows the message
        return super().response_action(request, queryset)


def _check_selection_of_auth_admins() -> None:
    """The auth app's admins (users, groups: their delete action) get the same check."""
    for model in (get_user_model(), Group):
        registered = type(admin.site.get_model_admin(model))
        admin.site.unregister(model)
        admin.site.register(model, type(registered.__name__, (CheckedSelectionMixin, registered), {}))


admin_accounts.register()  # users and groups with the operator roles in view
_check_selection_of_auth_admins()  # django.contrib.auth comes before sessions_app in INSTALLED_APPS


# ---------------------------------------------------------------- inline → service calls


@dataclass
class _Item:
    """One message of the edited session as the admin form wants it."""

    message: Message
    original: int | None  # position when loaded; None for a new row
    desired: float  # wanted position; inf = "at the end"
    edited: bool = False


def plan_inline_changes(formset: BaseInlineFormSet) -> list[tuple[str, tuple[Any, ...]]]:
    """Translate a valid message formset into SessionService calls, in an order that keeps indexes right.

    Removals go first (highest position first), then in-place edits, then inserts and moves that
    turn the current order into the wanted one. A row moved up sorts before an unmoved row at its
    wanted position, a row moved down after it, a new row before it (as insert(index) does).
    """
    removed: list[int] = []
    kept: list[_Item] = []
    added: list[_Item] = []
    for form in formset.forms:
        if not form.has_changed() and form.instance.pk is None:
            continue  # an untouched extra row
        data = form.cleaned_data
        # form.initial: the row as loaded (validation already copied the new values onto form.instance).
        if form.instance.pk is not None and formset._should_delete_form(form):
            removed.append(form.initial["position"])
            continue
        message = Message(data["role"], data["content"])
        wanted = data.get("position")
        if form.instance.pk is None:
            added.append(_Item(message, None, math.inf if wanted is None else wanted))
            continue
        original = form.initial["position"]
        edited = (data["role"], data["content"]) != (form.initial["role"], form.initial["content"])
        kept.append(_Item(message, original, original if wanted is None else wanted, edited))

    def sort_key(item: _Item) -> tuple[float, int, float]:
        if item.original is None or item.desired < item.original:
            tie = 0
        elif item.desired == item.original:
            tie = 1
        else:
            tie = 2
        return (item.desired, tie, math.inf if item.original is None else item.original)

    kept.sort(key=lambda item: item.original)
    target = sorted(kept + added, key=sort_key)  # stable: new rows keep their form order
    calls: list[tuple[str, tuple[Any, ...]]] = [("remove", (p,)) for p in sorted(removed, reverse=True)]
    current = list(kept)
    for index, item in enumerate(current):
        if item.edited:
            calls.append(("replace", (index, item.message)))
    for index, item in enumerate(target):
        if item.original is None:
            calls.append(("insert", (index, item.message)))
            current.insert(index, item)
        elif current[index] is not item:
            start = next(i for i, c in enumerate(current) if c is item)
            calls.append(("move", (start, index)))
            current.insert(index, current.pop(start))
    return calls


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
        # A reorder passes through duplicate positions; the service keeps them dense and unique.
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


class MessageInline(admin.TabularInline):
    model = models.Message
    form = MessageInlineForm
    formset = MessageInlineFormSet
    fields = ["position", "role", "content"]
    ordering = ["order_key"]
    extra = 1
    can_delete = True

    # The inline edits the session: the session permissions decide, not the Message model's.
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("sessions_app.view_session")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("sessions_app.change_session")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("sessions_app.change_session")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("sessions_app.change_session")


# ---------------------------------------------------------------- session form, filters, actions


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


class MetadataFilter(admin.SimpleListFilter):
    """Sessions whose metadata has key = value; choices from recently updated sessions."""

    title = "metadata"
    parameter_name = "metadata"
    SAMPLE = 500
    CHOICES = 30

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        seen: Counter[tuple[str, Any]] = Counter()
        recent = models.Session.objects.order_by("-updated_at").values_list("metadata", flat=True)
        for metadata in recent[: self.SAMPLE]:
            if isinstance(metadata, dict):
                for key, value in metadata.items():
                    if isinstance(value, str | int | float | bool) and len(str(value)) <= 80:
                        seen[(key, value)] += 1
        pairs = sorted(seen.most_common(self.CHOICES), key=lambda kv: (kv[0][0], str(kv[0][1])))
        return [(json.dumps([k, v]), f"{k} = {v}") for (k, v), _ in pairs]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        raw = self.value()
        if raw is None:
            return queryset
        try:
            key, value = json.loads(raw)
            if not isinstance(key, str):
                raise TypeError
        except (ValueError, TypeError):
            raise IncorrectLookupParameters(
                f"metadata filter must be a JSON [key, value] pair (got {raw!r})"
            ) from None
        return queryset.alias(_metadata_value=KeyTransform(key, "metadata")).filter(_metadata_value=value)


class PruneForm(forms.Form):
    n = forms.IntegerField(min_value=0, label="Pairs to remove from the end", initial=1)


class TruncateForm(forms.Form):
    keep_first = forms.IntegerField(min_value=0, label="Keep first", initial=1)
    keep_last = forms.IntegerField(min_value=0, label="Keep last", initial=4)


class ClearForm(forms.Form):
    pass


_BULK = {
    "clear_messages": ("clear", ClearForm, "Clear all messages"),
    "prune_messages": ("prune", PruneForm, "Prune the last message pairs"),
    "truncate_messages": ("truncate", TruncateForm, "Truncate to first + last messages"),
}


@admin.register(models.Session)
class SessionAdmin(CheckedSelectionMixin, admin.ModelAdmin):
    form = SessionAdminForm
    inlines = [MessageInline]
    list_display = ["__str__", "id", "message_count", "version", "usage_total", "updated_at", "history_link"]
    list_filter = [("updated_at", admin.DateFieldListFilter), MetadataFilter]
    search_fields = ["name", "id"]
    ordering = ["-updated_at"]
    list_per_page = 50
    show_full_result_count = False  # no COUNT(*) over every session on each list page
    actions = ["clear_messages", "prune_messages", "truncate_messages"]
    readonly_fields = ["id", "version", "message_count", "usage", "created_at", "updated_at", "history_link"]
    fieldsets = [
        (None, {"fields": ["name", "metadata", "expected_version"]}),
        ("State", {"fields": readonly_fields}),
    ]

    @admin.display(description="usage")
    def usage(self, obj: models.Session) -> str:
        if obj.usage_total is None:
            return "no usage"
        return history.describe_usage(
            {"prompt": obj.usage_prompt, "completion": obj.usage_completion, "total": obj.usage_total}
        )

    @admin.display(description="history")
    def history_link(self, obj: models.Session) -> str:
        if obj.pk is None or obj._state.adding:
            return "—"
        return format_html('<a href="{}">history</a>', reverse("history:list", args=[obj.pk]))

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        if obj is None:
            return [(None, {"fields": ["name", "metadata"]})]
        return super().get_fieldsets(request, obj)

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list:
        if obj is not None and obj.message_count > ADMIN_INLINE_LIMIT:
            return []
        return super().get_inline_instances(request, obj)

    def render_change_form(
        self, request: HttpRequest, context: dict, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        obj = kwargs.get("obj")
        if obj is not None and obj.message_count > ADMIN_INLINE_LIMIT:
            self.message_user(
                request,
                f"This session has {obj.message_count} messages; the admin edits sessions of at most "
                f"{ADMIN_INLINE_LIMIT}. Use the dashboard to edit its messages.",
                messages.WARNING,
            )
        return super().render_change_form(request, context, *args, **kwargs)

    # Sessions are never deleted here: deleting would drop message rows outside the service.
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except SessionError as exc:
            # Raised inside the admin's transaction: everything this save did is rolled back.
            self.message_user(request, f"Nothing was saved: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request: HttpRequest, obj: models.Session, form: forms.Form, change: bool) -> None:
        if not change:
            created = SessionService.new(name=obj.name, metadata=obj.metadata)
            obj.pk = created.id
            obj._state.adding = False
            obj.refresh_from_db()
            return
        # A rename or a metadata edit is one service write at the version the form was loaded at: it
        # bumps the version, and the inline's writes (save_formset) continue from the version it made.
        edited = {f: form.cleaned_data[f] for f in ("name", "metadata") if f in form.changed_data}
        if edited:
            form.cleaned_data["expected_version"] = SessionService(obj.pk).update_details(
                **edited, expected_version=form.cleaned_data["expected_version"], actor=_actor(request)
            )

    def save_formset(self, request: HttpRequest, form: forms.Form, formset: Any, change: bool) -> None:
        if formset.model is not models.Message:  # pragma: no cover - the only inline
            raise TypeError("SessionAdmin only edits messages through SessionService")
        service = SessionService(form.instance.pk)
        # The version the form was loaded at, or the one save_model's write made.
        version = form.cleaned_data.get("expected_version") or 0
        for op, args in plan_inline_changes(formset):
            version = getattr(service, op)(*args, expected_version=version, actor=_actor(request))
        # construct_change_message reads what formset.save() would have recorded.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> Any:
        message = super().construct_change_message(request, form, formsets, add)
        version = models.Session.objects.filter(pk=form.instance.pk).values_list("version", flat=True).first()
        return message + [{"changed": {"fields": [f"messages (now v{version})"]}}] if formsets else message

    # ------------------------------------------------------------ actions (intermediate form)

    @admin.action(description="Clear all messages of the selected sessions", permissions=["change"])
    def clear_messages(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._bulk(request, queryset, "clear_messages")

    @admin.action(description="Prune the last message pairs of the selected sessions", permissions=["change"])
    def prune_messages(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._bulk(request, queryset, "prune_messages")

    @admin.action(
        description="Truncate the selected sessions to first + last messages", permissions=["change"]
    )
    def truncate_messages(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._bulk(request, queryset, "truncate_messages")

    def _bulk(self, request: HttpRequest, queryset: QuerySet, action: str) -> HttpResponse | None:
        op, form_class, title = _BULK[action]
        sessions = list(queryset.order_by("-updated_at"))
        form = form_class(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done, failed = 0, []
            for session in sessions:
                raw = request.POST.get(f"version_{session.pk}", "")
                try:
                    expected = int(raw)
                except ValueError:
                    failed.append(f"{session}: no version in the form, reload and try again")
                    continue
                try:
                    getattr(SessionService(session.pk), op)(
                        **form.cleaned_data, expected_version=expected, actor=_actor(request)
                    )
                    done += 1
                except SessionError as exc:
                    failed.append(f"{session}: {exc.message}")
            if done:
                self.message_user(request, f"{title}: {done} session(s) changed.", messages.SUCCESS)
            for failure in failed:
                self.message_user(request, f"{title}: not changed — {failure}", messages.ERROR)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "action": action,
            "form": form,
            "sessions": sessions,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/sessions_app/session/bulk_action.html", context)


@admin.register(models.SessionEvent)
class SessionEventAdmin(CheckedSelectionMixin, admin.ModelAdmin):
    """The event log, read-only: it is written by SessionService only."""

    list_display = ["session", "version", "op", "description", "actor", "created_at"]
    list_filter = ["op", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["actor", "op"]  # a session id is matched exactly in get_search_results
    list_select_related = ["session"]
    ordering = ["-id"]  # newest first by primary key: no sort over an unindexed column
    show_full_result_count = False
    fields = ["session", "version", "op", "description", "args", "actor", "created_at"]
    readonly_fields = fields

    @admin.display(description="what")
    def description(self, obj: models.SessionEvent) -> str:
        return history.describe_event(obj)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple:
        try:
            uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(session_id=search_term.strip()), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# ============================================================================ API keys (JSON API, issue 6)
# Owned by the API helper; keep other admin registrations above this block.
from django.contrib import admin as _apikey_admin  # noqa: E402
from django.http import HttpRequest as _HttpRequest  # noqa: E402
from django.http import HttpResponse as _HttpResponse  # noqa: E402
from django.template.response import TemplateResponse as _TemplateResponse  # noqa: E402

from sessions_app.models import ApiKey as _ApiKey  # noqa: E402
from sessions_app.services import apikeys as _apikeys  # noqa: E402


@_apikey_admin.register(_ApiKey)
class ApiKeyAdmin(CheckedSelectionMixin, _apikey_admin.ModelAdmin):
    """Keys are made here; the raw key is shown once on the page after "Save" and never stored."""

    list_display = ("name", "scope", "prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    list_filter = ("scope", ("revoked_at", _apikey_admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke_keys"]

    def get_fields(self, request: _HttpRequest, obj: _ApiKey | None = None) -> list[str]:
        if obj is None:
            return ["name", "scope"]
        return ["name", "scope", *self.readonly_fields]

    def save_model(self, request: _HttpRequest, obj: _ApiKey, form: object, change: bool) -> None:
        if not change:
            obj.created_by = request.user
            # Kept on the request only, for response_add to show once.
            request._zyn_raw_api_key = _apikeys.assign_secret(obj)  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: _HttpRequest, obj: _ApiKey, post_url_continue: str | None = None
    ) -> _HttpResponse:
        raw = getattr(request, "_zyn_raw_api_key", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "key": obj,
            "raw_key": raw,
            "title": f"API key {obj.name} created",
        }
        response = _TemplateResponse(request, "admin/sessions_app/apikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @_apikey_admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_keys(self, request: _HttpRequest, queryset: object) -> None:
        count = 0
        for key in queryset:  # type: ignore[attr-defined]
            if key.revoked_at is None:
                _apikeys.revoke(key)
                count += 1
        self.message_user(request, f"Revoked {count} API key(s).")

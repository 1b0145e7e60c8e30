"""The session admin, writing through SessionService.

The admin never saves Message rows: the inline's changes (edit, add, delete, reorder) and the actions (clear,
truncate, prune) become SessionService calls, so every change bumps the version, records an event and is
published after commit like any other write. A stale form (the session changed since it was loaded) is
refused with a clear error instead of overwriting.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTransform
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from sessions_app import history, models, roles
from sessions_app.admin.forms import (
    ClearForm,
    MessageInlineForm,
    MessageInlineFormSet,
    PruneForm,
    SessionAdminForm,
    TruncateForm,
)
from sessions_app.admin.selection import CheckedSelectionMixin
from sessions_app.domain.edits import plan_edits
from sessions_app.domain.errors import SessionError
from sessions_app.services import SessionService, user_actor

# Larger sessions are edited in the dashboard: a formset of thousands of rows is no editor.
ADMIN_INLINE_LIMIT = 500


def _actor(request: HttpRequest) -> str:
    return user_actor(request.user)


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
        return request.user.has_perm(roles.VIEW_SESSION)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(roles.CHANGE_SESSION)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(roles.CHANGE_SESSION)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(roles.CHANGE_SESSION)


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
        for op, args in plan_edits(formset.row_edits()):
            version = service.write(op, args, expected_version=version, actor=_actor(request))
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
                    SessionService(session.pk).write(
                        op, form.cleaned_data, expected_version=expected, actor=_actor(request)
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

"""API keys in the admin: made, renamed, revoked and deleted through services/apikeys.py."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from sessions_app.admin.selection import CheckedSelectionMixin
from sessions_app.models import ApiKey
from sessions_app.services import apikeys


@admin.register(ApiKey)
class ApiKeyAdmin(CheckedSelectionMixin, admin.ModelAdmin):
    """The raw key is shown once, on the page after "Save", and never stored."""

    list_display = ("name", "scope", "prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    list_filter = ("scope", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke_keys"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return ["name", "scope"]
        return ["name", "scope", *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            apikeys.update_key(obj, name=obj.name, scope=obj.scope)
            return
        row, raw = apikeys.create_key(obj.name, obj.scope, created_by=request.user)
        obj.pk = row.pk
        obj.refresh_from_db()
        obj._state.adding = False
        # Kept on the request only, for response_add to show once.
        request._zyn_raw_api_key = raw  # type: ignore[attr-defined]

    def delete_model(self, request: HttpRequest, obj: ApiKey) -> None:
        apikeys.delete_keys(ApiKey.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        apikeys.delete_keys(queryset)

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None
    ) -> HttpResponse:
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
        response = TemplateResponse(request, "admin/sessions_app/apikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = 0
        for key in queryset:
            if key.revoked_at is None:
                apikeys.revoke(key)
                count += 1
        self.message_user(request, f"Revoked {count} API key(s).")

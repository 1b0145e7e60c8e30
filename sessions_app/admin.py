from __future__ import annotations

# ============================================================================ API keys (JSON API, issue 6)
# Owned by the API helper; keep other admin registrations above this block.
from django.contrib import admin as _apikey_admin  # noqa: E402
from django.http import HttpRequest as _HttpRequest  # noqa: E402
from django.http import HttpResponse as _HttpResponse  # noqa: E402
from django.template.response import TemplateResponse as _TemplateResponse  # noqa: E402

from sessions_app import apikeys as _apikeys  # noqa: E402
from sessions_app.models import ApiKey as _ApiKey  # noqa: E402


@_apikey_admin.register(_ApiKey)
class ApiKeyAdmin(_apikey_admin.ModelAdmin):
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

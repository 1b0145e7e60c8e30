"""The event log in the admin, read-only: SessionService writes it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from sessions_app import history, models
from sessions_app.admin.selection import CheckedSelectionMixin
from sessions_app.domain.ids import as_uuid


@admin.register(models.SessionEvent)
class SessionEventAdmin(CheckedSelectionMixin, admin.ModelAdmin):
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
        session_id = as_uuid(search_term.strip())
        if session_id is None:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(session_id=session_id), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

"""The admin's user and group pages with the operator roles in view (sessions_app.roles).

Users: a Role column and a filter by role. Groups: what each allows, in words and as its permissions, and
its members. Accounts are made with `manage.py create_account` or here; a role is a group (viewer, editor)
or the superuser flag (admin).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from sessions_app import roles
from sessions_app.admin.selection import CheckedSelectionMixin

MEMBERS_SHOWN = 200


class RoleFilter(admin.SimpleListFilter):
    title = "role"
    parameter_name = "role"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*((role, role) for role in roles.ROLES), ("none", "no role")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == roles.ADMIN:
            return queryset.filter(is_superuser=True)
        not_admin = queryset.filter(is_superuser=False)
        editors = not_admin.filter(groups__name=roles.EDITORS)
        if value == roles.EDITOR:
            return editors
        if value == roles.VIEWER:
            return not_admin.filter(groups__name=roles.VIEWERS).exclude(pk__in=editors.values("pk"))
        if value == "none":
            return not_admin.exclude(groups__name__in=roles.ROLE_GROUPS.values())
        return queryset


class RoleUserAdmin(CheckedSelectionMixin, UserAdmin):
    list_display = ("username", "role", "email", "is_active", "is_staff", "last_login")
    list_filter = (RoleFilter, *UserAdmin.list_filter)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Role")
    def role(self, user: Any) -> str:
        role = roles.role_of(user)
        if role is None:
            return "—"
        others = sorted(g.name for g in user.groups.all() if g.name != roles.ROLE_GROUPS.get(role))
        named = f"{role} ({roles.ROLE_GROUPS[role]})" if role in roles.ROLE_GROUPS else f"{role} (superuser)"
        return named + (f" + {', '.join(others)}" if others else "")


class RoleGroupAdmin(CheckedSelectionMixin, GroupAdmin):
    list_display = ("name", "allows", "member_count")
    readonly_fields = ("allows", "permission_names", "members")
    fields = ("name", "allows", "permission_names", "permissions", "members")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(member_total=Count("user", distinct=True))

    @admin.display(description="What it allows")
    def allows(self, group: Group) -> str:
        if group.pk is None:
            return "—"
        return roles.ALLOWS.get(group.name) or ", ".join(self._permission_names(group)) or "nothing"

    @admin.display(description="Granted now")
    def permission_names(self, group: Group) -> str:
        names = self._permission_names(group) if group.pk else []
        if not names:
            return "—"
        return format_html_join(mark_safe("<br>"), "{}", ((name,) for name in names))

    @admin.display(description="Members", ordering="member_total")
    def member_count(self, group: Group) -> int:
        return group.member_total

    @admin.display(description="Members")
    def members(self, group: Group) -> str:
        if group.pk is None:
            return "—"
        users = list(group.user_set.order_by("username")[: MEMBERS_SHOWN + 1])
        if not users:
            return "nobody yet (manage.py create_account NAME --role …, or a user's Groups field)"
        change = (
            f"admin:{group.user_set.model._meta.app_label}_{group.user_set.model._meta.model_name}_change"
        )
        links = format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse(change, args=[u.pk]), u.get_username()) for u in users[:MEMBERS_SHOWN]),
        )
        more = f" and more ({group.user_set.count() - MEMBERS_SHOWN})" if len(users) > MEMBERS_SHOWN else ""
        return format_html("{}{}", links, more)

    @staticmethod
    def _permission_names(group: Group) -> list[str]:
        permissions = group.permissions.select_related("content_type").order_by("content_type", "codename")
        return [str(permission) for permission in permissions]  # "app | model | Can view …"


def _replace_auth_admins() -> None:
    # django.contrib.auth comes before sessions_app in INSTALLED_APPS: its admins are registered by now.
    for model, model_admin in ((get_user_model(), RoleUserAdmin), (Group, RoleGroupAdmin)):
        admin.site.unregister(model)
        admin.site.register(model, model_admin)


_replace_auth_admins()

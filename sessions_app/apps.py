from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = "Conversation sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sessions_app.roles import ensure_role_groups

        # Permissions only exist after post_migrate, so the role groups are made there.
        post_migrate.connect(ensure_role_groups, sender=self)

        from sessions_app.live import signals as live_signals

        live_signals.connect()

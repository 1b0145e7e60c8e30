from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sessions_app.domain.errors import InvalidArgument
from sessions_app.models import ApiKey
from sessions_app.services import apikeys


class Command(BaseCommand):
    help = (
        "Create a named API key and print it once (only its hash is stored). Admins can also use the admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="shown as actor api:<name> on every write made with the key")
        parser.add_argument("--scope", choices=ApiKey.Scope.values, default=ApiKey.Scope.READ)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            _, raw = apikeys.create_key(options["name"], options["scope"])
        except InvalidArgument as exc:
            raise CommandError(exc.message) from None
        # The key alone on stdout, so scripts can capture it; the note goes to stderr.
        self.stderr.write(f"API key {options['name']!r} ({options['scope']}): shown once, store it now.")
        self.stdout.write(raw)

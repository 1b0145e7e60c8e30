from __future__ import annotations

from django.core.management.base import BaseCommand

from sessions_app.services import accounts


class Command(BaseCommand):
    help = "Create an 'operator' superuser with a random password (printed once) if no superuser exists."

    def add_arguments(self, parser):  # noqa: ANN001
        parser.add_argument("--username", default="operator")

    def handle(self, *args: object, **options: object) -> None:
        password = accounts.ensure_operator(options["username"])
        if password is None:
            self.stdout.write("An operator account already exists; no account created.")
            return
        bar = "=" * 64
        self.stdout.write(
            f"{bar}\nCreated operator account (shown once, write it down):\n"
            f"  username: {options['username']}\n  password: {password}\n{bar}"
        )

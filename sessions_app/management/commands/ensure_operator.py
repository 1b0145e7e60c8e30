from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an 'operator' superuser with a random password (printed once) if no superuser exists."

    def add_arguments(self, parser):  # noqa: ANN001
        parser.add_argument("--username", default="operator")

    def handle(self, *args: object, **options: object) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True, is_active=True).exists():
            self.stdout.write("An operator account already exists; no account created.")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=options["username"], email="", password=password)
        bar = "=" * 64
        self.stdout.write(
            f"{bar}\nCreated operator account (shown once, write it down):\n"
            f"  username: {options['username']}\n  password: {password}\n{bar}"
        )

from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sessions_app import roles
from sessions_app.domain.errors import InvalidArgument
from sessions_app.services import accounts


class Command(BaseCommand):
    help = (
        "Create a dashboard account with a role (viewer, editor or admin) and print its one-time random "
        "password, or change an existing account's role with --change-role."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--role",
            required=True,
            choices=roles.ROLES,
            help=f"viewer: {roles.ALLOWS[roles.VIEWERS]}; editor: {roles.ALLOWS[roles.EDITORS]}; "
            f"admin: {roles.ADMIN_ALLOWS}",
        )
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--staff",
            action="store_true",
            help="may also sign in to the Django admin, within the role's permissions (admins always may)",
        )
        given = parser.add_mutually_exclusive_group()
        given.add_argument(
            "--password-stdin", action="store_true", help="read the password from the first line of stdin"
        )
        given.add_argument(
            "--password-env", metavar="VAR", help="read the password from this environment variable"
        )
        parser.add_argument(
            "--change-role",
            action="store_true",
            help="the account exists: set its role (and --staff) only; its password stays",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username, role = options["username"], options["role"]
        existing = accounts.find_account(username)
        if options["change_role"]:
            self._change_role(existing, username, role, options)
            return
        if existing is not None:
            raise CommandError(
                f"an account named {username!r} already exists (role: {roles.role_of(existing) or 'none'}); "
                f"to change its role: manage.py create_account {username} --role {role} --change-role"
            )
        try:
            user = accounts.new_account(username, options["email"])
            password = self._given_password(options)
            generated = accounts.create_account(user, role, staff=options["staff"], password=password)
        except InvalidArgument as exc:
            raise CommandError(exc.message) from None
        if generated is None:
            self.stdout.write(f"Created {role} account {username!r} with the password given.")
            return
        bar = "=" * 64
        self.stdout.write(
            f"{bar}\nCreated {role} account (password shown once, write it down):\n"
            f"  username: {username}\n  password: {generated}\n{bar}"
        )

    def _change_role(self, user: Any, username: str, role: str, options: dict[str, Any]) -> None:
        if user is None:
            raise CommandError(f"no account named {username!r}; leave out --change-role to create it")
        if options["password_stdin"] or options["password_env"] or options["email"]:
            raise CommandError(
                "--change-role changes the role only; use manage.py changepassword for the password"
                + (" and the admin for the email" if options["email"] else "")
            )
        before = accounts.change_role(user, role, staff=options["staff"])
        self.stdout.write(f"{username}: role {before} → {role}.")

    @staticmethod
    def _given_password(options: dict[str, Any]) -> str | None:
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\r\n")
        elif options["password_env"]:
            name = options["password_env"]
            if name not in os.environ:
                raise CommandError(f"the environment variable {name} is not set")
            password = os.environ[name]
        else:
            return None
        if not password:
            raise CommandError("the password given is empty")
        return password

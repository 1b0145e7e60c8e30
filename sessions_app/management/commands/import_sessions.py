from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from sessions_app.domain.errors import SessionError
from sessions_app.services import transfer


class Command(BaseCommand):
    help = (
        "Import sessions from JSON, JSONL (one session per line) or the OpenAI chat format. Every record is "
        "validated before anything is written; one bad record aborts the import (unless --skip-invalid). "
        "Each session is one version in its history (op import)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="file to read, or - for standard input")
        parser.add_argument("--format", choices=transfer.FORMATS, help="default: from the file name (json)")
        parser.add_argument(
            "--skip-invalid", action="store_true", help="import the valid records and list the invalid ones"
        )
        parser.add_argument(
            "--as-new",
            action="store_true",
            help="a session whose id already exists is imported as a new session with a fresh id "
            "(without it, it is refused)",
        )
        parser.add_argument("--actor", default=transfer.IMPORT_ACTOR, help="actor recorded on the events")

    def handle(self, *args: Any, **options: Any) -> None:
        path: str = options["path"]
        fmt = options["format"] or ("jsonl" if path == "-" else transfer.guess_format(path))
        quiet = options["verbosity"] == 0
        try:
            stream = sys.stdin if path == "-" else Path(path).open(encoding="utf-8", newline="\n")
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        # One bar at a time, each closed (its line ended) before anything else is printed: a failure's
        # message then starts on a line of its own instead of inside a half-drawn bar.
        with stream:
            with self._bar("validating", quiet) as bar:
                records, skipped = self._run(
                    path,
                    lambda: transfer.parse(
                        stream,
                        fmt,
                        skip_invalid=options["skip_invalid"],
                        as_new=options["as_new"],
                        progress=bar.update,
                    ),
                )
        with self._bar("writing", quiet, total=len(records)) as bar:
            result = self._run(
                path, lambda: transfer.write(records, actor=options["actor"], progress=bar.update)
            )
        for line, message in skipped:
            self.stderr.write(f"skipped line {line}: {message}")
        for old, new in result.renamed:
            self.stdout.write(f"imported {old} as a new session: {new}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {len(result.ids)} session(s) with {result.messages} message(s) from {path}"
                + (f"; {len(result.renamed)} as new session(s)" if result.renamed else "")
                + (f"; skipped {len(skipped)} invalid record(s)" if skipped else "")
            )
        )

    def _bar(self, desc: str, quiet: bool, total: int | None = None) -> tqdm:
        return tqdm(
            desc=desc, total=total, unit="session", disable=quiet, file=sys.stderr, dynamic_ncols=True
        )

    def _run(self, path: str, step: Any) -> Any:
        try:
            return step()
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); nothing imported"
            ) from None
        except SessionError as exc:
            raise CommandError(f"{path}: {exc.message}; nothing imported") from None

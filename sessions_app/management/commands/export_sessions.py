from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from sessions_app.domain.errors import SessionError
from sessions_app.services import SessionService, transfer


class Command(BaseCommand):
    help = "Export sessions as JSON, JSONL (one session per line) or the OpenAI chat format."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=transfer.FORMATS, default="jsonl")
        parser.add_argument("--output", "-o", default="-", help="file to write, or - for standard output")
        parser.add_argument(
            "--session", action="append", default=[], help="a session id (repeatable); default all"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ids = [SessionService.get(s).id for s in options["session"]] or transfer.all_session_ids()
        except SessionError as exc:
            raise CommandError(exc.message) from None
        output = options["output"]
        quiet = options["verbosity"] == 0
        try:
            target = None if output == "-" else Path(output).open("w", encoding="utf-8", newline="\n")
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror}") from None
        with tqdm(total=len(ids), desc="exporting", unit="session", disable=quiet, file=sys.stderr) as bar:
            try:
                for chunk in transfer.export_lines(ids, options["format"], progress=bar.update):
                    if target is None:
                        self.stdout.write(chunk, ending="")
                    else:
                        target.write(chunk)
            finally:
                if target is not None:
                    target.close()
        if output != "-":
            self.stdout.write(self.style.SUCCESS(f"Exported {len(ids)} session(s) to {output}"))

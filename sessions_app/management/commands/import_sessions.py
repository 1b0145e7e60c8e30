from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from sessions_app import transfer
from sessions_app.exceptions import SessionError


def guess_format(path: str) -> str:
    name = path.lower()
    if name.endswith(".openai.jsonl"):
        return "openai"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return "json"


class Command(BaseCommand):
    help = (
        "Import sessions from JSON, JSONL (one session per line) or the OpenAI chat format. Every record is "
        "validated before anything is written; one bad record aborts the import (unless --skip-invalid)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="file to read, or - for standard input")
        parser.add_argument("--format", choices=transfer.FORMATS, help="default: from the file name (json)")
        parser.add_argument(
            "--skip-invalid", action="store_true", help="import the valid records and list the invalid ones"
        )
        parser.add_argument("--actor", default=transfer.IMPORT_ACTOR, help="actor recorded on the events")

    def handle(self, *args: Any, **options: Any) -> None:
        path: str = options["path"]
        fmt = options["format"] or ("jsonl" if path == "-" else guess_format(path))
        quiet = options["verbosity"] == 0
        try:
            stream = sys.stdin if path == "-" else Path(path).open(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        validating = tqdm(desc="validating", unit="session", disable=quiet, file=sys.stderr)
        writing = tqdm(desc="writing", unit="session", disable=quiet, file=sys.stderr)
        try:
            with stream:
                result = transfer.import_sessions(
                    stream,
                    fmt,
                    skip_invalid=options["skip_invalid"],
                    actor=options["actor"],
                    validated=validating.update,
                    written=writing.update,
                )
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); nothing imported"
            ) from None
        except SessionError as exc:
            raise CommandError(f"{path}: {exc.message}; nothing imported") from None
        finally:
            validating.close()
            writing.close()
        for line, message in result.skipped:
            self.stderr.write(f"skipped line {line}: {message}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {len(result.ids)} session(s) with {result.messages} message(s) from {path}"
                + (f"; skipped {len(result.skipped)} invalid record(s)" if result.skipped else "")
            )
        )

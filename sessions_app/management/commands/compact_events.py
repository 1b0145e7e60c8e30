"""Retention: fold old events of sessions into a snapshot, so the event log stops growing forever.

For each session, the events older than --older-than-days (but never the last --keep-last versions) are
replaced by one SessionSnapshot at the newest of them (services/history.py).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from sessions_app.services import history as history_writes


class Command(BaseCommand):
    help = (
        "Compact sessions' old events into snapshots (retention). Restore and history keep working "
        "from the snapshot on; older versions are dropped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-days", type=float, default=90.0, help="compact events older than this (default 90)"
        )
        parser.add_argument(
            "--keep-last", type=int, default=50, help="always keep this many latest versions (default 50)"
        )
        parser.add_argument(
            "--session", action="append", default=[], help="only this session id (repeatable)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would be compacted, change nothing"
        )

    def handle(self, *args: object, **options: object) -> None:
        days, keep_last = options["older_than_days"], options["keep_last"]
        if days < 0:
            raise CommandError(f"--older-than-days must be 0 or more (got {days})")
        if keep_last < 0:
            raise CommandError(f"--keep-last must be 0 or more (got {keep_last})")
        try:
            only = [uuid.UUID(s) for s in options["session"]]
        except ValueError as exc:
            raise CommandError(f"--session must be a session id: {exc}") from None

        candidates = history_writes.compaction_candidates(timezone.now() - timedelta(days=days), only)
        if options["dry_run"]:
            total = history_writes.events_to_compact(candidates, keep_last)
            self.stdout.write(
                f"Would compact up to {total} events of {len(candidates)} session(s) (dry run)."
            )
            return

        quiet = options["verbosity"] == 0
        with tqdm(total=len(candidates), desc="compacting", unit="session", disable=quiet) as bar:

            def advance(events: int) -> None:
                bar.update(1)
                bar.set_postfix(events=events)

            done = history_writes.compact(candidates, keep_last, progress=advance)
        self.stdout.write(
            self.style.SUCCESS(
                f"Compacted {done.events} events of {done.sessions} session(s) into snapshots."
            )
        )

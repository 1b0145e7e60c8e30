"""Retention: fold old events of sessions into a snapshot, so the event log stops growing forever.

For each session, the events older than --older-than-days (but never the last --keep-last versions)
are replaced by one SessionSnapshot at the newest of them. History, diff and restore keep working
from that snapshot on; the versions before it are no longer viewable.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from tqdm import tqdm

from sessions_app import history, models


def compact_session(session_id: uuid.UUID, cutoff_version: int, keep_last: int) -> int:
    """Fold the events up to ``cutoff_version`` (and older than the last ``keep_last``) into a snapshot.

    Returns the number of events removed. Takes the session's row lock, like every write, so no
    write and no restore (which replays under that lock) sees the log half compacted.
    """
    with transaction.atomic():
        row = models.Session.objects.select_for_update(of=("self",)).filter(pk=session_id).first()
        if row is None:
            return 0
        upto = min(cutoff_version, row.version - keep_last)
        if upto <= history.oldest_version(session_id):
            return 0
        history.take_snapshot(session_id, upto)
        removed, _ = models.SessionEvent.objects.filter(session_id=session_id, version__lte=upto).delete()
        models.SessionSnapshot.objects.filter(session_id=session_id, version__lt=upto).delete()
        return removed


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

        cutoff = timezone.now() - timedelta(days=days)
        old = models.SessionEvent.objects.filter(created_at__lt=cutoff)
        if only:
            old = old.filter(session_id__in=only)
        candidates = list(old.values_list("session_id").annotate(upto=Max("version")).order_by("session_id"))
        if options["dry_run"]:
            versions = dict(
                models.Session.objects.filter(pk__in=[c[0] for c in candidates]).values_list("pk", "version")
            )
            total = sum(
                max(0, min(upto, versions.get(pk, 0) - keep_last) - history.oldest_version(pk))
                for pk, upto in candidates
            )
            self.stdout.write(
                f"Would compact up to {total} events of {len(candidates)} session(s) (dry run)."
            )
            return

        sessions = events = 0
        progress = tqdm(candidates, desc="compacting", unit="session", disable=options["verbosity"] == 0)
        for session_id, upto in progress:
            removed = compact_session(session_id, upto, keep_last)
            if removed:
                sessions += 1
                events += removed
                progress.set_postfix(events=events)
        self.stdout.write(
            self.style.SUCCESS(f"Compacted {events} events of {sessions} session(s) into snapshots.")
        )

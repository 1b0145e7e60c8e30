"""Drive realistic live traffic: programs appending exchanges with usage to several sessions.

    python manage.py simulate --sessions 5 --rate 10 --duration 60

Every write is a SessionService call (like a program's), so every watcher of the list or of one of
these sessions sees it arrive through the live feed. With REDIS_URL set this command may run on
any machine that reaches the database and Redis; without it (in-memory channel layer) its events
stay in this process and only a reload shows them.
"""

from __future__ import annotations

import random
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from sessions_app.domain.errors import SessionError
from sessions_app.services import SessionService, demo


class Command(BaseCommand):
    help = "Append realistic exchanges (with usage) to several sessions at a given rate for a given time."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sessions", type=int, default=5, help="how many new sessions to drive")
        parser.add_argument(
            "--session",
            action="append",
            default=[],
            metavar="ID",
            help="drive this existing session (repeatable)",
        )
        parser.add_argument(
            "--rate", type=float, default=5.0, help="writes per second, all sessions together"
        )
        parser.add_argument("--duration", type=float, default=60.0, help="seconds to run")
        parser.add_argument("--seed", type=int, default=None, help="random seed (repeatable traffic)")

    def handle(self, *args: object, **options: object) -> None:
        rate, duration = float(options["rate"]), float(options["duration"])
        if not 0 < rate <= 1000:
            raise CommandError(f"--rate must be between 0 and 1000 writes per second (got {rate})")
        if not 0 < duration <= 86400:
            raise CommandError(f"--duration must be between 0 and 86400 seconds (got {duration})")
        if not settings.REDIS_URL:
            self.stderr.write(
                "REDIS_URL is not set: writes go to the database, but open dashboards (another process) "
                "only see them after a reload."
            )
        rng = random.Random(options["seed"])
        targets = self._targets(options, rng)
        total = int(rate * duration)
        started = time.perf_counter()
        with tqdm(total=total, desc="writes", unit="write") as bar:
            failed = demo.simulate(targets, rate, duration, rng, progress=bar.update, on_failure=bar.write)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"{total - failed} writes to {len(targets)} sessions in {elapsed:.1f} s "
                f"({(total - failed) / elapsed:.1f}/s); {failed} failed."
            )
        )

    def _targets(self, options: dict, rng: random.Random) -> list[tuple[SessionService, demo.Program]]:
        targets = []
        for session_id in options["session"]:
            try:
                targets.append((SessionService.get(session_id), rng.choice(demo.PROGRAMS)))
            except SessionError as exc:
                raise CommandError(str(exc)) from None
        count = int(options["sessions"]) if not options["session"] else 0
        if count < 0 or count > 1000:
            raise CommandError(f"--sessions must be between 0 and 1000 (got {count})")
        targets += demo.simulated_sessions(count, rng)
        if not targets:
            raise CommandError("nothing to drive: give --sessions N (N > 0) or --session ID")
        self.stdout.write("Driving: " + ", ".join(str(s.id) for s, _ in targets))
        return targets

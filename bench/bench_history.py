"""History at 10,000 events: time to show version N of a session and to diff two versions.

How to run (from the repository root, after `make install`):

    .venv/bin/python bench/bench_history.py                       # SQLite file bench/history-bench.sqlite3
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/zyn_history .venv/bin/python bench/bench_history.py

The database is migrated; the bench session is created through SessionService (10,000 real writes:
appends, exchanges with usage, replaces, removes, inserts, moves, truncates; no restores, because a
restore event holds the whole state and replay starts from it: a log without any is the worst case)
and deleted at the end (kept for the next run with --reuse).
Target: showing version N and diffing two versions in at most 200 ms.

What is measured (median of --repeat runs, ms):
* state_at(N) replaying from v0 with no snapshots at all (the cost a snapshot-less design pays);
* the first view of a session without snapshots (replays, and leaves one checkpoint at a multiple of
  history.checkpoints.CHECKPOINT_EVERY), then state_at(N) for versions spread over the log, from checkpoints;
* diff of two adjacent versions and of two versions 5,000 apart;
* the version page and the diff page through Django's test client (query + replay + render).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zyn_site.test_settings")
os.environ.setdefault("SQLITE_PATH", str(ROOT / "bench" / "history-bench.sqlite3"))
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from sessions_app import history, models  # noqa: E402
from sessions_app.domain.errors import SessionError  # noqa: E402
from sessions_app.domain.types import Message, TokenUsage  # noqa: E402
from sessions_app.history import checkpoints  # noqa: E402
from sessions_app.services import SessionService  # noqa: E402

TARGET_MS = 200.0
WORDS = "the a ticket billing refund escalate customer order shipping invoice please thanks json".split()


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def build(events: int, seed: int = 5) -> SessionService:
    """A session with ``events`` writes of every kind, through the service."""
    rng = random.Random(seed)
    s = SessionService.new(name="history bench", metadata={"bench": "history"})
    s.append("system", "You are a support triage assistant. Answer with JSON only.")
    while s.version() < events:
        n = s.len()
        roll = rng.random()
        try:
            if roll < 0.35:
                s.append(rng.choice(["user", "assistant"]), text(rng, rng.randint(5, 60)))
            elif roll < 0.65:
                usage = TokenUsage(rng.randint(50, 900), rng.randint(5, 200), 0)
                usage = TokenUsage(usage.prompt, usage.completion, usage.prompt + usage.completion)
                decision = rng.choice(WORDS)
                s.record_exchange(text(rng, 20), f'{{"decision": "{decision}"}}', usage)
            elif roll < 0.75:
                s.replace(rng.randrange(n), Message("assistant", text(rng, 30)))
            elif roll < 0.83:
                s.remove(rng.randrange(1, n))
            elif roll < 0.90:
                s.insert(rng.randint(1, n), Message("user", text(rng, 15)))
            elif roll < 0.994:
                s.move(rng.randrange(1, n), rng.randrange(1, n))
            else:
                s.truncate(1, rng.randint(2000, 5000))
        except SessionError:
            continue
    return s


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--reuse", action="store_true", help="reuse (and keep) the bench session of a previous --reuse run"
    )
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    every = checkpoints.CHECKPOINT_EVERY
    print(f"database: {engine}; events: {args.events}; checkpoint every {every} versions")
    started = time.perf_counter()
    kept = models.Session.objects.filter(name="history bench (kept, v2 mix)", version=args.events).first()
    if args.reuse and kept is not None:
        s = SessionService(kept.pk)
    else:
        s = build(args.events)
        if args.reuse:
            models.Session.objects.filter(pk=s.id).update(name="history bench (kept, v2 mix)")
    row = s.row()
    how = "reused" if time.perf_counter() - started < 1 else f"built in {time.perf_counter() - started:.1f} s"
    print(f"session v{row.version} with {row.message_count} messages ({how} through SessionService)")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average (1, 5, 15 min) before timing: {load} on {os.cpu_count()} CPUs")
    last = row.version
    rows: list[tuple[str, float]] = []
    try:
        models.SessionSnapshot.objects.filter(session_id=s.id).delete()
        every = checkpoints.CHECKPOINT_EVERY
        checkpoints.CHECKPOINT_EVERY = 10**12  # replay only: no checkpoints
        rows.append(
            (
                f"state_at(v{last}) replaying from v0, no snapshots",
                median_ms(lambda: history.state_at(s.id, last), args.repeat),
            )
        )
        rows.append(
            (
                f"state_at(v{last // 2}) replaying from v0, no snapshots",
                median_ms(lambda: history.state_at(s.id, last // 2), args.repeat),
            )
        )
        checkpoints.CHECKPOINT_EVERY = every
        rows.append(
            (
                f"first view of v{last - 1} (replays from v0, writes a checkpoint)",
                median_ms(lambda: history.state_at(s.id, last - 1), 1),
            )
        )
        # The checkpoints a reader leaves behind by looking once at each stretch of the log.
        for v in range(every - 1, last, every):
            history.state_at(s.id, v)
        spread = [last - 1, last - every // 2, last // 2 + every - 1, every - 1, 1]
        for v in spread:
            rows.append(
                (
                    f"state_at(v{v}) from the nearest checkpoint",
                    median_ms(lambda v=v: history.state_at(s.id, v), args.repeat),
                )
            )
        rows.append(
            (
                f"diff v{last - 1} → v{last}",
                median_ms(lambda: history.diff_versions(s.id, last - 1, last), args.repeat),
            )
        )
        old = max(0, last - 5000)
        rows.append(
            (
                f"diff v{old} → v{last} (5,000 versions apart)",
                median_ms(lambda: history.diff_versions(s.id, old, last), args.repeat),
            )
        )

        user, _ = User.objects.get_or_create(username="bench-history", defaults={"is_superuser": True})
        client = Client()
        client.force_login(user)
        page = reverse("history:version", args=[s.id, last - every // 2])
        diff_page = reverse("history:diff", args=[s.id]) + f"?from={old}&to={last}"
        history_page = reverse("history:list", args=[s.id])
        for label, url in [
            ("version page", page),
            ("diff page (5,000 apart)", diff_page),
            ("history page 1", history_page),
        ]:
            assert client.get(url).status_code == 200, url
            rows.append((f"GET {label}", median_ms(lambda url=url: client.get(url), args.repeat)))
    finally:
        if not args.reuse:
            models.Session.objects.filter(pk=s.id).delete()
        User.objects.filter(username="bench-history").delete()

    print("load average after timing: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    width = max(len(label) for label, _ in rows)
    print(f"\n| {'measurement'.ljust(width)} | median ms | vs 200 ms target |")
    print(f"|{'-' * (width + 2)}|----------:|-----------------:|")
    for label, ms in rows:
        print(f"| {label.ljust(width)} | {ms:9.1f} | {ms / TARGET_MS:15.2f}x |")


if __name__ == "__main__":
    main()

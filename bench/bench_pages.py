"""Dashboard pages at scale: server time and HTML size of the list (100,000 sessions) and the detail
page (a 10,000-message session), through the full Django stack (middleware, auth, ORM, templates).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/zyn_dashboard .venv/bin/python bench/bench_pages.py

The data set is built once (bulk inserts; marked metadata.bench=true) and reused by later runs.
Prints a Markdown table with median / p95 server time and HTML size against the targets
(≤ 100 ms, ≤ 300 KB) and their ratios. A search's list page includes its snippets (the matching message
of each row, words marked); a detail page opened from one counts and marks the matches.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zyn_site.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-key-not-secret")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
os.environ.setdefault("DJANGO_LOG_LEVEL", "ERROR")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from sessions_app import models  # noqa: E402
from sessions_app.domain import order_keys  # noqa: E402
from sessions_app.domain.types import Message, TokenUsage  # noqa: E402
from sessions_app.roles import EDITORS, VIEWERS  # noqa: E402
from sessions_app.services import SessionService, demo  # noqa: E402

TARGET_MS = 100.0
TARGET_KB = 300.0
BIG_NAME = "bench: 10,000-message session"


def build(sessions: int, big: int, seed: int = 11) -> tuple[int, uuid.UUID]:
    """The data set: ``sessions`` small sessions (bulk rows) and one ``big``-message session (the service)."""
    existing = models.Session.objects.filter(metadata__bench=True).count()
    big_row = models.Session.objects.filter(name=BIG_NAME).first()
    if existing >= sessions and big_row is not None and big_row.message_count == big:
        return existing, big_row.pk
    rng = random.Random(seed)
    now = timezone.now()
    made = existing
    batch = 5_000
    print(f"building {sessions - existing:,} sessions …", file=sys.stderr, flush=True)
    while made < sessions:
        rows, messages = [], []
        for _ in range(min(batch, sessions - made)):
            program = demo.PROGRAMS[made % len(demo.PROGRAMS)]
            sid = uuid.uuid4()
            exchanges = rng.choice([1, 1, 2, 2, 3, 5])
            content = [("system", demo.SYSTEM_PROMPT)]
            for _ in range(exchanges):
                prompt, answer, _usage = demo.exchange(rng, program)
                content += [("user", prompt), ("assistant", answer)]
            usage = demo.exchange(rng, program)[2]
            updated = now - timedelta(seconds=rng.randint(0, 90 * 86400))
            rows.append(
                models.Session(
                    id=sid,
                    name=f"{program[0]} #{made}",
                    metadata={"program": program[0], "user_id": f"u-{rng.randint(100, 999)}", "bench": True},
                    version=1 + exchanges,
                    message_count=len(content),
                    last_order_key=order_keys.GAP * len(content),
                    usage_prompt=usage.prompt,
                    usage_completion=usage.completion,
                    usage_total=usage.total,
                )
            )
            rows[-1]._bench_updated = updated
            messages += [
                models.Message(session_id=sid, order_key=key, role=r, content=c)
                for key, (r, c) in zip(order_keys.after(0, len(content)), content, strict=True)
            ]
            made += 1
        with transaction.atomic():
            models.Session.objects.bulk_create(rows)
            models.Message.objects.bulk_create(messages, batch_size=5_000)
            # auto_now_add fields ignore given values on insert: spread updated_at afterwards.
            with connection.cursor() as cursor:
                cursor.executemany(
                    "UPDATE sessions_app_session SET updated_at = %s, created_at = %s WHERE id = %s",
                    [(r._bench_updated, r._bench_updated, r.pk) for r in rows],
                )
        print(f"  {made:,}", file=sys.stderr, flush=True)
    if big_row is not None:
        big_row.delete()
    s = SessionService.new(name=BIG_NAME, metadata={"program": "ticket-triage", "bench": True})
    history = [Message("system", demo.SYSTEM_PROMPT)]
    while len(history) < big - 2 * 150:
        prompt, answer, _ = demo.exchange(rng, demo.PROGRAMS[0])
        history += [Message("user", prompt), Message("assistant", answer)]
    s.set_messages(history[: big - 2 * 150], actor="bench")
    for _ in range(150):  # a usage history for the chart, through the real write path
        prompt, answer, usage = demo.exchange(rng, demo.PROGRAMS[0])
        s.record_exchange(
            prompt, answer, TokenUsage(usage.prompt, usage.completion, usage.total), actor="bench"
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in ("sessions_app_session", "sessions_app_message", "sessions_app_sessionevent"):
                cursor.execute(f"ANALYZE {table}")
    return made, s.id


def rare_term() -> str:
    """An invoice number from one generated answer: a term only a message or two contain."""
    import re

    content = (
        models.Message.objects.filter(content__contains='"invoice_number": "INV-')
        .values_list("content", flat=True)
        .first()
    )
    return re.search(r"INV-\d+", content or "").group(0) if content else "INV-00000"


def match_near(session_id: uuid.UUID, words: str, index: int) -> int:
    """The matching message nearest to ``index`` (where the list's link would open the session)."""
    from sessions_app.selectors.search import matching_positions

    return min(matching_positions(session_id, words), key=lambda p: abs(p - index), default=index)


def client_for(group: str, username: str) -> Client:
    user, _ = User.objects.get_or_create(username=username)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def measure(
    client: Client, url: str, runs: int, headers: dict[str, str] | None = None
) -> tuple[list[float], int]:
    headers = headers or {}
    size = 0
    for _ in range(3):  # warm caches and connections
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.status_code)
        size = len(response.content)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return times, size


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if not settings.IS_POSTGRES:
        print(
            "note: not on PostgreSQL; figures are for SQLite (set DATABASE_URL=postgres://…)", file=sys.stderr
        )
    call_command("migrate", verbosity=0)
    count, big_id = build(args.sessions, args.big)
    total_sessions = models.Session.objects.count()
    total_messages = models.Message.objects.count()
    editor, viewer = client_for(EDITORS, "bench-editor"), client_for(VIEWERS, "bench-viewer")
    word = "Safari"  # in ~10% of all messages: the costliest kind of search (every match is fetched)
    rare = rare_term()
    some_id = models.Session.objects.filter(metadata__bench=True).values_list("pk", flat=True).first()
    htmx = {"HX-Request": "true", "HX-Target": "session-table"}
    cases = [
        ("list, page 1", editor, "/", None),
        ("list, page 200", editor, "/?page=200", None),
        (f"list, search “{word}” (full-text)", editor, f"/?q={word}", None),
        ("list, search (htmx partial)", editor, f"/?q={word}", htmx),
        # Common overall but in no message of the 10,000-message session, which is first in the list:
        # the walk must read all of that session's vectors before it moves on.
        ("list, search “refund” (common, not in the 10k session)", editor, "/?q=refund", None),
        (f"list, search “{word}”, page 20", editor, f"/?q={word}&page=20", None),
        (f"list, search “{rare}” (rare term)", editor, f"/?q={rare}", None),
        ("list, search by session id", editor, f"/?q={some_id}", None),
        ("list, metadata program=refund-gate", editor, "/?key=program&value=refund-gate", None),
        (
            "list, date range (1 week)",
            editor,
            f"/?since={(timezone.localdate() - timedelta(days=7)).isoformat()}",
            None,
        ),
        ("detail 10k, first window (editor)", editor, f"/sessions/{big_id}/", None),
        ("detail 10k, first window (viewer)", viewer, f"/sessions/{big_id}/", None),
        ("detail 10k, jump to #9,950 (editor)", editor, f"/sessions/{big_id}/?at=9950", None),
        (
            f"detail 10k, search “{word}” at a match near #9,950",
            editor,
            f"/sessions/{big_id}/?q={word}&at={match_near(big_id, word, 9950)}",
            None,
        ),
    ]
    version = models.Session.objects.get(pk=big_id).version
    cases.append(
        (
            "detail 10k, scroll chunk #5,000–#5,099",
            editor,
            f"/sessions/{big_id}/messages/?page=50&direction=after&v={version}",
            {"HX-Request": "true"},
        )
    )
    db = "PostgreSQL" if settings.IS_POSTGRES else "SQLite"
    # The machine may be shared: the load average says how much the figures are inflated by others.
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\n{db}; {total_sessions:,} sessions, {total_messages:,} messages; {args.runs} runs per page; "
        f"{os.cpu_count()} CPUs, load average {load} at start\n"
    )
    print("| page | median ms | p95 ms | HTML KB | median / 100 ms | size / 300 KB |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, client, url, headers in cases:
        times, size = measure(client, url, args.runs, headers)
        median = statistics.median(times)
        kb = size / 1024
        print(
            f"| {label} | {median:.1f} | {p95(times):.1f} | {kb:.0f} | "
            f"{median / TARGET_MS:.2f} | {kb / TARGET_KB:.2f} |"
        )
    print(f"\nload average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

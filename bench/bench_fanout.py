"""Live-feed fan-out: one daphne process, N websocket watchers on one session, W writes/s for T seconds.

How to run (from the repository root; PostgreSQL and Redis reachable):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/zyn_live REDIS_URL=redis://127.0.0.1:6379/6 \\
        .venv/bin/python bench/bench_fanout.py --watchers 50 100 200 --rate 20 --duration 30

Per watcher count it prints commit→receive latency p50/p99 (ms), versions missing before resync (a
delta did not arrive and the watcher asked for a snapshot), versions missing after resync (must be 0),
daphne's peak RSS (MB) and CPU (% of one core while writing), and the sockets the server closed
while watched (count and close codes; 1011 = a consumer crashed; expected: none). ``--compare``
also runs each count with the per-process render cache off (ZYN_LIVE_SHARED_RENDER=0: one render
per watcher), for the ratio.

The writer is this process (a program writing through SessionService, publishing after commit through
Redis); the watchers are websocket clients in this process that follow live.js's protocol
(tests/live_support.Watcher). The commit time is taken by an on_commit hook that runs before the
publish hook, on the same clock as the receive times. The database's bench rows (one user, one
session per run) are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zyn_site.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(40))  # daphne gets the same one

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from sessions_app.services import SessionService  # noqa: E402
from sessions_app.services.demo import PROGRAMS, exchange  # noqa: E402
from tests.live_servers import Daphne  # noqa: E402
from tests.live_support import Watcher, make_user, session_cookie  # noqa: E402

PORT = 8540
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def write_loop(session: SessionService, rate: float, duration: float, commits: dict[int, float]) -> None:
    """record_exchange at ``rate``/s, paced against the start; commit times from an on_commit hook."""
    import random

    rng = random.Random(4)
    started = time.perf_counter()
    try:
        for i in range(int(rate * duration)):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            stamp: list[float] = []
            prompt, answer, usage = exchange(rng, PROGRAMS[0])
            with transaction.atomic():
                # Registered first, so it runs right after COMMIT and before the service's publish hook.
                transaction.on_commit(lambda stamp=stamp: stamp.append(time.perf_counter()))
                version = session.record_exchange(prompt, answer, usage, actor="api:bench")
            commits[version] = stamp[0]
    finally:
        connection.close()


async def run_level(watchers_n: int, rate: float, duration: float, cookie: str, daphne: Daphne) -> dict:
    session = await asyncio.to_thread(lambda: _new_session(watchers_n))
    start_version = 1
    watchers = [
        Watcher(
            f"{daphne.ws_url}/ws/sessions/{session.id}/", cookie, origin=daphne.url, version=start_version
        )
        for _ in range(watchers_n)
    ]
    readies = [asyncio.Event() for _ in watchers]
    tasks = []
    for i, (w, ready) in enumerate(zip(watchers, readies, strict=True)):
        tasks.append(asyncio.ensure_future(w.run(ready)))
        if i % 20 == 19:
            await asyncio.sleep(0.2)  # connect in waves, like page loads, not one burst
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
    await asyncio.sleep(2)  # hellos answered, presence settled

    pid = daphne.pid()
    peak_rss = proc_rss_mb(pid)
    sampling = True

    async def sample() -> None:
        nonlocal peak_rss
        while sampling:
            peak_rss = max(peak_rss, proc_rss_mb(pid))
            await asyncio.sleep(0.25)

    sampler = asyncio.ensure_future(sample())
    commits: dict[int, float] = {}
    cpu0, wall0 = proc_cpu_seconds(pid), time.perf_counter()
    writer = threading.Thread(target=write_loop, args=(session, rate, duration, commits))
    writer.start()
    while writer.is_alive():
        await asyncio.sleep(0.1)
    cpu1, wall1 = proc_cpu_seconds(pid), time.perf_counter()
    final = max(commits)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(w.version < final for w in watchers):
        await asyncio.sleep(0.1)
    sampling = False
    await sampler
    for w in watchers:
        w.stop()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    latencies = [
        (received - commits[v]) * 1000 for w in watchers for v, received in w.seen.items() if v in commits
    ]
    latencies.sort()
    missing_before = sum(w.missing_before_resync for w in watchers)
    not_received = sum(1 for w in watchers for v in range(start_version + 1, final + 1) if v not in w.seen)
    missing_after = sum(0 if w.covered(start_version + 1, final) else 1 for w in watchers)
    behind = sum(1 for w in watchers if w.version < final)
    closes: Counter[int] = Counter()
    for w in watchers:
        closes.update(w.closes)
    await asyncio.to_thread(lambda: _delete_session(session))
    return {
        "watchers": watchers_n,
        "writes": len(commits),
        "deliveries": len(latencies),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
        "missing_before": missing_before,
        "not_received_as_delta": not_received,
        "missing_after": missing_after + behind,
        "rss": peak_rss,
        "cpu": 100 * (cpu1 - cpu0) / (wall1 - wall0),
        "order_violations": sum(w.order_violations for w in watchers),
        "closes": closes,
        "refused": sum(w.refused for w in watchers),
    }


def closes_text(result: dict) -> str:
    """Unexpected closes while watched, e.g. "3 (1011 ×3)", plus refused reconnects; "0" when none."""
    total = sum(result["closes"].values())
    text = str(total)
    if total:
        text += " (" + ", ".join(f"{code} ×{n}" for code, n in sorted(result["closes"].items())) + ")"
    if result["refused"]:
        text += f", {result['refused']} reconnects refused"
    return text


def _new_session(n: int) -> SessionService:
    try:
        s = SessionService.new(name=f"bench fan-out {n}", metadata={"bench": True})
        s.append("system", "Answer with JSON only.")
        return s
    finally:
        connection.close()


def _delete_session(session: SessionService) -> None:
    from sessions_app.models import Session

    try:
        Session.objects.filter(pk=session.id).delete()
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--rate", type=float, default=20.0, help="writes per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of writing per watcher count")
    parser.add_argument("--compare", action="store_true", help="also run with one render per watcher")
    args = parser.parse_args()
    if not settings.REDIS_URL or not settings.IS_POSTGRES:
        sys.exit(
            "set DATABASE_URL=postgres://… and REDIS_URL=redis://…: the writer and daphne are two processes"
        )

    call_command("migrate", verbosity=0)
    user = make_user(f"bench-{secrets.token_hex(4)}", "viewer")
    cookie = session_cookie(user)
    connection.close()
    modes = [("shared render", "1")] + ([("render per watcher", "0")] if args.compare else [])
    rows = []
    try:
        for label, shared in modes:
            env = {"ZYN_LIVE_SHARED_RENDER": shared, "DJANGO_LOG_LEVEL": "ERROR"}
            for n in args.watchers:
                # A fresh daphne per level, so RSS is that level's, not the high-water mark of the last.
                with Daphne(PORT, redis_url=settings.REDIS_URL, extra_env=env) as daphne:
                    result = asyncio.run(run_level(n, args.rate, args.duration, cookie, daphne))
                result["mode"] = label
                rows.append(result)
                print(
                    f"{label:<18} {n:>4} watchers: p50 {result['p50']:6.1f} ms  p99 {result['p99']:6.1f} ms  "
                    f"max {result['max']:7.1f} ms  missing before resync {result['missing_before']:>4}  "
                    f"after {result['missing_after']}  RSS {result['rss']:5.1f} MB  "
                    f"CPU {result['cpu']:5.1f} %  closes {closes_text(result)}  "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    finally:
        from django.contrib.auth.models import User

        User.objects.filter(pk=user.pk).delete()

    print()
    print(
        "| mode | watchers | writes | deliveries | p50 ms | p99 ms | max ms | missing before resync "
        "| missing after resync | daphne RSS MB | daphne CPU % | unexpected closes |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['watchers']} | {r['writes']} | {r['deliveries']} | {r['p50']:.1f} | "
            f"{r['p99']:.1f} | {r['max']:.1f} | {r['missing_before']} | {r['missing_after']} | "
            f"{r['rss']:.0f} | {r['cpu']:.0f} | {closes_text(r)} |"
        )
    if args.compare:
        for n in args.watchers:
            shared = next(r for r in rows if r["mode"] == "shared render" and r["watchers"] == n)
            each = next(r for r in rows if r["mode"] != "shared render" and r["watchers"] == n)
            print(
                f"{n} watchers, render per watcher / shared render: p99 ×{each['p99'] / shared['p99']:.1f}, "
                f"CPU ×{each['cpu'] / max(shared['cpu'], 0.1):.1f}"
            )
    at_200 = [r for r in rows if r["mode"] == "shared render" and r["watchers"] == 200]
    if at_200:
        r = at_200[0]
        ok = r["p99"] <= 100 and r["missing_after"] == 0 and r["rss"] <= 250 and not r["closes"]
        print(
            f"target at 200 watchers (p99 ≤ 100 ms, nothing missing after resync, RSS ≤ 250 MB, "
            f"no unexpected closes): "
            f"{'met' if ok else 'NOT met'}"
        )


if __name__ == "__main__":
    main()

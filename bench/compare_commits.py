"""This tree against another commit, in one run, side by side: session ops, JSON API and live feed.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/zyn_compare REDIS_URL=redis://127.0.0.1:6379/14 \\
        flock /tmp/zyn-cpu.lock .venv/bin/python bench/compare_commits.py 48d5a60

The other commit is checked out into a temporary git worktree (`git worktree add --detach`, removed at the
end). Each side runs bench/compare_workload.py (this tree's copy: the same workload for both) in its own
process, with its tree as working directory and first on sys.path, so each runs its own code; this tree's
.venv serves both (the dependencies must be the same). Each side has its own PostgreSQL database, named
after DATABASE_URL's with ``_old`` / ``_new`` appended (created if missing, emptied at the start).

The sides take turns: every round runs the same calls on one side then the other, and which goes first
alternates, so load from other work on the machine lands on both alike. Round 0 is a warm-up and not counted.
Phases: session ops (SessionService on a 1,000-message session) and JSON API calls (Django's test client,
same session size), in-memory channel layer; then the live feed (one daphne per side, watchers following
live.js's protocol, a writer at a fixed rate publishing through Redis at REDIS_URL; skipped without it).

Printed: per op the median and p95 of each side, the ratio new/old of the medians and its 90 % interval from
resampling the rounds (the noise: an interval that holds 1.00 is no measurable difference); for the live feed
commit→frame latency p50/p95/p99 and daphne's CPU. Both sides must end with identical sessions.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
WORKLOAD = Path(__file__).resolve().parent / "compare_workload.py"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/zyn_compare"


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout


def database_url(base: str, suffix: str) -> str:
    """``base`` with ``suffix`` appended to its database name; the database is created if missing."""
    name = psycopg.conninfo.conninfo_to_dict(base)["dbname"] + suffix
    with psycopg.connect(psycopg.conninfo.make_conninfo(base, dbname="postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(base)
    user, host, port = info.get("user", "postgres"), info.get("host", "127.0.0.1"), info.get("port", 5432)
    return f"postgres://{user}@{host}:{port}/{name}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Side:
    """One tree's worker process: send a command, wait for its one-line answer."""

    def __init__(self, label: str, tree: Path, env: dict[str, str], log_dir: Path) -> None:
        self.label, self.tree = label, tree
        self.log = open(log_dir / f"worker-{label}.log", "a+")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKLOAD)],
            cwd=tree,
            env={**env, "PYTHONPATH": str(tree), "COMPARE_LOG_DIR": str(log_dir)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )

    def call(self, do: str, **args: Any) -> Any:
        self.proc.stdin.write(json.dumps({"do": do, "args": args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.log.seek(0)
            raise RuntimeError(f"{self.label} worker exited; its log:\n{self.log.read()[-3000:]}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{self.label} worker, {do}:\n{answer['error']}")
        return answer["ok"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def interleave(sides: list[Side], rounds: int, do: str, **args: Any) -> dict[str, list[list[Any]]]:
    """``rounds`` counted rounds after one warm-up; which side goes first alternates. Per side, the list of
    each round's answer."""
    out: dict[str, list[Any]] = {s.label: [] for s in sides}
    for r in range(rounds + 1):
        for side in sides if r % 2 == 0 else sides[::-1]:
            answer = side.call(do, **args)
            if r:
                out[side.label].append(answer)
    return out


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.5) - 1))]


def ratio_interval(old: list[list[float]], new: list[list[float]], stat: Any, draws: int = 400) -> tuple:
    """90 % interval of stat(new)/stat(old), resampling whole rounds (paired: round i of both sides)."""
    rng = random.Random(12)
    ratios = []
    for _ in range(draws):
        picks = [rng.randrange(len(old)) for _ in old]
        o = stat([x for i in picks for x in old[i]])
        n = stat([x for i in picks for x in new[i]])
        ratios.append(n / o)
    return p(ratios, 0.05), p(ratios, 0.95)


def table(title: str, rounds: dict[str, list[dict[str, list[float]]]]) -> str:
    lines = [
        f"| {title} | n per side | old median ms | new median ms | old p95 ms | new p95 ms "
        "| new/old median | 90 % interval | new/old p95 |",
        "|---|--:|--:|--:|--:|--:|--:|:-:|--:|",
    ]
    for op in rounds["old"][0]:
        old = [r[op] for r in rounds["old"]]
        new = [r[op] for r in rounds["new"]]
        o, n = sum(old, []), sum(new, [])
        low, high = ratio_interval(old, new, statistics.median)
        lines.append(
            f"| {op} | {len(o)} | {statistics.median(o):.3f} | {statistics.median(n):.3f} | {p(o, 0.95):.3f} "
            f"| {p(n, 0.95):.3f} | **{statistics.median(n) / statistics.median(o):.2f}** "
            f"| {low:.2f}–{high:.2f} | {p(n, 0.95) / p(o, 0.95):.2f} |"
        )
    return "\n".join(lines)


def live_table(rounds: dict[str, list[dict[str, Any]]], watchers: int) -> str:
    old = [r["latency_ms"] for r in rounds["old"]]
    new = [r["latency_ms"] for r in rounds["new"]]
    o, n = sum(old, []), sum(new, [])
    lines = [
        f"| live feed, {watchers} watchers | old | new | new/old | 90 % interval |",
        "|---|--:|--:|--:|:-:|",
    ]
    for name, q in (
        ("commit→frame p50 ms", 0.5),
        ("commit→frame p95 ms", 0.95),
        ("commit→frame p99 ms", 0.99),
    ):
        low, high = ratio_interval(old, new, lambda xs, q=q: p(xs, q))
        lines.append(
            f"| {name} | {p(o, q):.1f} | {p(n, q):.1f} | **{p(n, q) / p(o, q):.2f}** | {low:.2f}–{high:.2f} |"
        )
    cpu = {k: statistics.median(r["daphne_cpu_percent"] for r in v) for k, v in rounds.items()}
    lines.append(
        f"| daphne CPU, % of a core (median of rounds) | {cpu['old']:.0f} | {cpu['new']:.0f} "
        f"| **{cpu['new'] / cpu['old']:.2f}** | |"
    )
    for key, name in (
        ("writes", "writes"),
        ("uncovered", "versions missed (after resync)"),
        ("behind", "watchers behind at the end of a round"),
        ("closes", "sockets closed by daphne"),
    ):
        totals = [sum(r[key] for r in rounds[side]) for side in ("old", "new")]
        lines.append(f"| {name} | {totals[0]} | {totals[1]} | | |")
    lines.append(f"| frames received | {len(o)} | {len(n)} | | |")
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the commit to compare this tree with (e.g. 48d5a60)")
    parser.add_argument("--rounds", type=int, default=30, help="counted rounds of ops and API calls")
    parser.add_argument("--iterations", type=int, default=10, help="calls of each op per round")
    parser.add_argument("--heavy-iterations", type=int, default=3, help="truncate/set_messages per round")
    parser.add_argument("--live-rounds", type=int, default=5, help="counted rounds of the live feed")
    parser.add_argument("--live-seconds", type=float, default=8.0, help="seconds of writing per round")
    parser.add_argument("--live-rate", type=float, default=20.0, help="writes per second")
    parser.add_argument("--live-watchers", type=int, default=100)
    parser.add_argument("--no-live", action="store_true", help="session ops and API only")
    parser.add_argument("--json", type=Path, help="also write every sample here")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    base_sha = git("rev-parse", "--verify", f"{args.base}^{{commit}}").strip()
    head = git("rev-parse", "--short", "HEAD").strip() + (
        " + changes" if git("status", "--porcelain") else ""
    )
    base_db = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = "" if args.no_live else os.environ.get("REDIS_URL", "")
    work = Path(tempfile.mkdtemp(prefix="zyn-compare-"))
    old_tree = work / "tree"
    started = time.perf_counter()
    print(f"old: {base_sha[:10]} (worktree {old_tree}); new: this tree {ROOT} at {head}", flush=True)
    git("worktree", "add", "--detach", str(old_tree), base_sha)
    trees = {"old": old_tree, "new": ROOT}
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "zyn_site.settings",
        "DJANGO_SECRET_KEY": "compare-bench-only-not-secret",  # worker and its daphne sign the same cookies
        "DJANGO_DEBUG": "0",
        "ZYN_API_RATE_LIMIT": "1000000",  # on (its cost is part of every call) but never reached
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    databases = {label: database_url(base_db, f"_{label}") for label in trees}
    samples: dict[str, Any] = {"old": base_sha, "new": head}
    sides: list[Side] = []
    finished = False
    try:
        # Phase 1: session ops and API calls, in-memory channel layer (as bench_session_ops.py).
        sides = [Side(k, t, {**env, "DATABASE_URL": databases[k]}, work) for k, t in trees.items()]
        for side in sides:
            print(f"{side.label}: {side.call('prepare')['code']}", flush=True)
        ops = interleave(
            sides,
            args.rounds,
            "ops_round",
            iterations=args.iterations,
            heavy_iterations=args.heavy_iterations,
        )
        print(f"session ops done ({time.perf_counter() - started:.0f} s)", flush=True)
        api = interleave(sides, args.rounds, "api_round", iterations=args.iterations)
        print(f"API done ({time.perf_counter() - started:.0f} s)", flush=True)
        states = {side.label: side.call("state") for side in sides}
        if states["old"] != states["new"]:
            raise AssertionError(f"the sides ended with different sessions: {states}")
        for side in sides:
            side.close()
        sides = []
        samples |= {"ops": ops, "api": api}
        live = None
        if redis_url:
            # Phase 2: the live feed, published through Redis to one daphne per side.
            live_env = {**env, "REDIS_URL": redis_url}
            sides = [Side(k, t, {**live_env, "DATABASE_URL": databases[k]}, work) for k, t in trees.items()]
            for side in sides:
                side.call("live_start", watchers=args.live_watchers, port=free_port())
            live = interleave(
                sides, args.live_rounds, "live_round", seconds=args.live_seconds, rate=args.live_rate
            )
            samples["live"] = live
        finished = True
    finally:
        for side in sides:
            try:
                side.call("live_stop")
            except Exception as exc:  # reported, but the worktree must still go
                print(f"{side.label}: live_stop failed: {exc}", file=sys.stderr)
            side.close()
        git("worktree", "remove", "--force", str(old_tree))
        if finished:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"the workers' and daphnes' logs are in {work}", file=sys.stderr)

    elapsed = time.perf_counter() - started
    print(
        f"\nold = {base_sha[:10]}, new = {head}; {args.rounds} rounds × {args.iterations} calls per op "
        f"({args.heavy_iterations} for truncate/set_messages), PostgreSQL, {os.cpu_count()} cores, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {elapsed:.0f} s\n"
    )
    print(table("session op (1,000 messages)", ops) + "\n")
    print(table("JSON API call (1,000 messages)", api) + "\n")
    if live is not None:
        print(
            f"Live feed: {args.live_rounds} rounds × {args.live_seconds:.0f} s of record_exchange at "
            f"{args.live_rate:.0f}/s per side\n"
        )
        print(live_table(live, args.live_watchers))
    else:
        print("Live feed: skipped (set REDIS_URL, and no --no-live)")
    if args.json:
        args.json.write_text(json.dumps(samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""record_exchange per second: over HTTP (zyn_client → one daphne process) vs SessionService directly.

    .venv/bin/python bench/bench_api.py [--seconds 5] [--port 8290] [--clients 1,4,16]

Uses DATABASE_URL when set (PostgreSQL), else a fresh SQLite file in a temporary directory. Each
client thread writes its own session (the API's overhead is measured, not one row lock's queue).
Starts daphne itself (rate limiting off) and stops it at the end. Prints a table with the ratios.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPT = "Task: Classify the input into one of: billing, bug, outage.\n\nInput: charged twice in March."
RESPONSE = '{"primary": "billing", "secondary": "bug", "confidence": 0.93, "reasoning": ["duplicate charge"]}'


def run_threads(clients: int, seconds: float, make_worker: Callable[[int], Callable[[], None]]) -> float:
    """Calls per second summed over ``clients`` threads, each calling its worker until time is up."""
    workers = [make_worker(i) for i in range(clients)]
    counts = [0] * clients
    start_line = threading.Barrier(clients + 1)
    deadline = 0.0

    failures: list[BaseException] = []

    def loop(i: int) -> None:
        from django.db import connections

        start_line.wait()
        work, n = workers[i], 0
        try:
            while time.perf_counter() < deadline:
                work()
                n += 1
        except BaseException as exc:  # reported by the main thread: a silent 0 would be a false figure
            failures.append(exc)
        finally:
            counts[i] = n
            connections.close_all()  # each thread has its own database connection

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    deadline = time.perf_counter() + seconds
    begun = time.perf_counter()
    start_line.wait()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"{len(failures)} worker(s) failed") from failures[0]
    return sum(counts) / (time.perf_counter() - begun)


def wait_for(url: str, timeout: float = 30.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 (loopback only)
            return
        except urllib.error.HTTPError:
            return  # the server answers (401 without a key)
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"daphne did not start at {url}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--port", type=int, default=8290)
    parser.add_argument("--clients", default="1,4,16")
    args = parser.parse_args()
    client_counts = [int(c) for c in args.clients.split(",")]

    tmp = tempfile.TemporaryDirectory(prefix="zyn-bench-api-")
    env = dict(os.environ)
    env.setdefault("DJANGO_SECRET_KEY", "bench-only-not-secret")
    env["ZYN_API_RATE_LIMIT"] = "0"
    # Under ASGI every request runs in its own thread with its own connection: persistent
    # connections would pile up (PostgreSQL: "too many clients"), so the server closes them per request.
    env.setdefault("DJANGO_CONN_MAX_AGE", "0")
    if not env.get("DATABASE_URL"):
        env["SQLITE_PATH"] = str(Path(tmp.name) / "bench.sqlite3")
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zyn_site.settings")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    import zyn_client
    from sessions_app.domain.types import TokenUsage
    from sessions_app.services import SessionService, apikeys

    call_command("migrate", verbosity=0)
    raw_key = apikeys.create_key(f"bench-{os.getpid()}-{time.time_ns()}", "write")[1]
    database = "PostgreSQL" if settings.IS_POSTGRES else "SQLite (WAL)"

    server_log = open(Path(tmp.name) / "daphne.log", "w+")  # noqa: SIM115 (closed in finally)
    server = subprocess.Popen(
        [ROOT / ".venv/bin/python", "-m", "zyn_site.server", "-b", "127.0.0.1", "-p", str(args.port)]
        + ["zyn_site.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=server_log,
    )
    base = f"http://127.0.0.1:{args.port}"
    results: list[tuple[int, float, float]] = []
    try:
        wait_for(f"{base}/api/v1/sessions")
        usage = TokenUsage(120, 30, 150)
        remote_usage = zyn_client.TokenUsage(120, 30, 150)

        def http_worker(_: int) -> Callable[[], None]:
            connection = zyn_client.connect(base, raw_key)
            session = zyn_client.RemoteSession.new(connection, name="bench-http")
            return lambda: session.record_exchange(PROMPT, RESPONSE, remote_usage)

        def direct_worker(_: int) -> Callable[[], None]:
            session = SessionService.new(name="bench-direct")
            return lambda: session.record_exchange(PROMPT, RESPONSE, usage, actor="bench")

        # One warm-up round each (connections, caches, JIT-free but import-heavy first calls).
        run_threads(1, 0.5, http_worker)
        run_threads(1, 0.5, direct_worker)
        for clients in client_counts:
            over_http = run_threads(clients, args.seconds, http_worker)
            direct = run_threads(clients, args.seconds, direct_worker)
            results.append((clients, over_http, direct))
    except BaseException:
        server_log.seek(0)
        print("daphne's log (last 3000 characters):\n" + server_log.read()[-3000:], file=sys.stderr)
        raise
    finally:
        server.terminate()
        server.wait(timeout=10)
        server_log.close()
        tmp.cleanup()

    print(
        f"record_exchange/s, {database}, one daphne process, "
        f"{args.seconds:.0f} s per figure, {os.cpu_count()} CPUs"
    )
    print(f"{'clients':>8} {'HTTP (zyn_client)':>18} {'service direct':>15} {'HTTP / direct':>14}")
    for clients, over_http, direct in results:
        print(f"{clients:>8} {over_http:>18.0f} {direct:>15.0f} {over_http / direct:>14.2f}")


if __name__ == "__main__":
    main()

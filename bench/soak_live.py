"""Live-feed soak: detail and list watchers on two daphne processes with Redis, held for ``--minutes``.

How to run (from the repository root; PostgreSQL and Redis reachable; hold the CPU lock on a shared
machine):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/zyn_live REDIS_URL=redis://127.0.0.1:6379/1 \\
        flock /tmp/zyn-cpu.lock .venv/bin/python bench/soak_live.py --minutes 10

The watchers (tests/live_soak.LiveSoak, the same as tests/test_live_stays_up.py's) are websocket
clients in this process that follow live.js's protocol: ``--details`` per session and process on
``--sessions`` sessions, and ``--lists`` list sockets per process. They are held idle for
``--idle-seconds``, then appends are made over HTTP through each process in turn at ``--rate`` per
second until the time is up. It prints every close the server made while they were held (by code;
expected: none), reconnections refused, versions a watcher neither received nor covered by a
snapshot (expected: 0), and exits 1 otherwise. Its rows (two users, the sessions) are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zyn_site.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(40))  # the daphnes get the same one

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from sessions_app.services import SessionService  # noqa: E402
from tests.live_servers import Daphne  # noqa: E402
from tests.live_soak import LiveSoak, SoakResult  # noqa: E402
from tests.live_support import make_user, session_cookie  # noqa: E402

PORTS = (8522, 8523)
ACCESS_LOG = re.compile(r"^\S+ - - \[")
STARTUP_NOISE = re.compile(r"UserWarning: No directory at|mw_instance = middleware")


async def soak(
    args: argparse.Namespace, daphnes: list[Daphne], sessions: dict[str, int], cookies
) -> SoakResult:
    viewer_cookie, editor_cookie = cookies
    live = LiveSoak(daphnes, sessions, viewer_cookie, editor_cookie, details=args.details, lists=args.lists)
    started = time.monotonic()
    await live.connect()
    try:
        await asyncio.sleep(args.idle_seconds)
        await live.write(args.minutes * 60 - (time.monotonic() - started), args.rate)
        return await live.settle()
    finally:
        await live.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the watchers are held")
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="without writes, at the start")
    parser.add_argument("--rate", type=float, default=2.0, help="writes per second after the idle part")
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--details", type=int, default=3, help="detail watchers per session and process")
    parser.add_argument("--lists", type=int, default=2, help="list watchers per process")
    args = parser.parse_args()
    if not settings.REDIS_URL or not settings.IS_POSTGRES:
        sys.exit("set DATABASE_URL=postgres://… and REDIS_URL=redis://…: the watchers span two processes")

    from django.contrib.auth.models import User

    from sessions_app.models import Session

    call_command("migrate", verbosity=0)
    tag = secrets.token_hex(4)
    viewer, editor = make_user(f"soak-viewer-{tag}", "viewer"), make_user(f"soak-editor-{tag}", "editor")
    sessions: dict[str, int] = {}
    try:
        for i in range(args.sessions):
            s = SessionService.new(name=f"soak {tag} {i}", metadata={"bench": True})
            s.append("system", "Answer with JSON only.")
            sessions[str(s.id)] = s.version()
        cookies = (session_cookie(viewer), session_cookie(editor))
        env = {"DJANGO_LOG_LEVEL": "WARNING"}
        with (
            Daphne(PORTS[0], redis_url=settings.REDIS_URL, extra_env=env) as a,
            Daphne(PORTS[1], redis_url=settings.REDIS_URL, extra_env=env) as b,
        ):
            began = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            result = asyncio.run(soak(args, [a, b], sessions, cookies))
            logs = a.output() + b.output()
    finally:
        Session.objects.filter(pk__in=list(sessions)).delete()
        User.objects.filter(pk__in=[viewer.pk, editor.pk]).delete()

    print(f"started {began}; load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(result.summary())
    for line in result.missing:
        print("  behind:", line)
    # Everything daphne logged besides its access log and the static-files warning at start-up:
    # the consumers' and relay's warnings ("live: …"), tracebacks, "Timeout reading from …".
    problems = [
        line
        for line in logs.splitlines()
        if line.strip() and not ACCESS_LOG.match(line) and not STARTUP_NOISE.search(line)
    ]
    print(f"daphne log lines other than the access log: {len(problems)}")
    for line in problems[:20]:
        print("  ", line)
    ok = not result.closes and not result.refused and not result.missing and not problems
    print("result:", "0 abnormal closes, nothing missing" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

"""The workload bench/compare_commits.py runs in each tree: one process per side, started with that tree as
its working directory and first on sys.path, so it measures that tree's code with this file's workload.

Commands arrive on stdin, one JSON object a line ({"do": name, "args": {…}}); each answer is one JSON line on
the original stdout ({"ok": result} or {"error": traceback}); anything else printed goes to stderr.
Only what every tree must keep is used: the public import ``from sessions_app.services import …``, the
JSON API's paths, the live feed's websocket protocol, the role groups' names and the create_api_key command.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import importlib.util
import io
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

TREE = Path.cwd().resolve()  # the tree under test (the driver starts us there)
BENCH_ROOT = Path(__file__).resolve().parent.parent  # the tree holding this file: its watcher is the client

SIZE = 1_000  # messages in the session every op runs on
MIDDLE = SIZE // 2
MOVE = (SIZE // 4, 3 * SIZE // 4)  # a move across the middle half, and back
TRUNCATE_KEEP = (1, SIZE // 2)
LAST_PAGE = (SIZE - 1) // 100  # the dashboard's windows hold 100 messages
PROMPT = "Task: Classify the input into one of: billing, bug, outage.\n\nInput: charged twice in March."
RESPONSE = '{"primary": "billing", "secondary": "bug", "confidence": 0.93, "reasoning": ["duplicate charge"]}'
VIEWERS_GROUP = "Session viewers"


def sample_content(i: int) -> str:
    """Deterministic message text of 60..600 characters, like chat turns (as bench_session_ops.py)."""
    words = "the quick brown fox jumps over a lazy dog while the model thinks about billing tickets".split()
    length = 60 + (i * 7919) % 541
    text, k = f"message {i}: ", i
    while len(text) < length:
        text += words[k % len(words)] + " "
        k += 3
    return text[:length]


def timed_ms(fn: Callable[[], Any]) -> float:
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class Workload:
    def __init__(self) -> None:
        from sessions_app.services import Message, SessionService, TokenUsage

        self.Message, self.SessionService, self.TokenUsage = Message, SessionService, TokenUsage
        self.template = [Message(("user", "assistant")[i % 2], sample_content(i)) for i in range(SIZE)]
        self.template[0] = Message("system", "You are a support triage assistant. " * 3)
        self.probe = Message("user", sample_content(123_456))
        self.usage = TokenUsage(1200, 300, 1500)
        self.live: Live | None = None

    # ------------------------------------------------------------ setup and checks

    def prepare(self) -> dict[str, Any]:
        """Migrate, empty the session tables, and create the sessions and API key the rounds use."""
        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        import sessions_app
        from sessions_app import models

        call_command("migrate", verbosity=0)
        tables = [models.SessionEvent, models.Message, models.Session]
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE " + ", ".join(m._meta.db_table for m in tables) + " CASCADE")
        models.ApiKey.objects.filter(name__startswith="compare-").delete()
        User.objects.filter(username__startswith="compare-").delete()
        self.ops = self.SessionService.new(name="compare ops")
        self.ops.set_messages(self.template)
        self.api_session = self.SessionService.new(name="compare api")
        self.api_session.set_messages(self.template)
        key = io.StringIO()
        call_command("create_api_key", f"compare-{secrets.token_hex(4)}", "--scope", "write", stdout=key)
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {key.getvalue().strip()}", HTTP_HOST="localhost")
        # The dashboard's page windows, read by a superuser (no role needed from either tree).
        reader = User.objects.create_superuser(f"compare-{secrets.token_hex(4)}", password=None)
        self.pages = Client(HTTP_HOST="localhost")
        self.pages.force_login(reader)
        return {"code": str(Path(sessions_app.__file__).parent)}

    def state(self) -> dict[str, Any]:
        """What both trees must end with after the same ops: messages, version and usage of each session."""
        out = {}
        for name, service in (("ops", self.ops), ("api", self.api_session)):
            text = json.dumps([m.as_dict() for m in service.messages()], sort_keys=True)
            usage = service.last_usage()
            out[name] = {
                "messages": hashlib.sha256(text.encode()).hexdigest()[:16],
                "len": service.len(),
                "version": service.version(),
                "usage": None if usage is None else usage.as_dict(),
            }
        return out

    def _before_round(self) -> None:
        """Untimed: dead rows from the last round's shifts and a pending collection hit neither side."""
        from django.db import connection

        from sessions_app import models

        with connection.cursor() as cursor:
            for model in (models.Message, models.Session, models.SessionEvent):
                cursor.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")
        gc.collect()

    def _run(self, steps: list[tuple[str, Callable[[], Any]]], iterations: int) -> dict[str, list[float]]:
        samples: dict[str, list[float]] = {name: [] for name, _ in steps}
        for _ in range(iterations):
            for name, fn in steps:
                samples[name].append(timed_ms(fn))
        return samples

    # ------------------------------------------------------------ session ops (SessionService)

    def ops_round(self, iterations: int, heavy_iterations: int) -> dict[str, list[float]]:
        """Every op on a SIZE-message session; the ops that change its size or order come in pairs that undo
        each other, so every call starts from the same session."""
        s, p = self.ops, self.probe
        self._before_round()
        samples = self._run(
            [
                ("messages()", s.messages),
                (f"at({MIDDLE})", lambda: s.at(MIDDLE)),
                ("len()", s.len),
                ("append", lambda: s.append("user", p.content)),
                (f"remove({SIZE}) (end)", lambda: s.remove(SIZE)),
                (f"insert({MIDDLE})", lambda: s.insert(MIDDLE, p)),
                (f"remove({MIDDLE})", lambda: s.remove(MIDDLE)),
                (f"replace({MIDDLE})", lambda: s.replace(MIDDLE, p)),
                ("move({}→{})".format(*MOVE), lambda: s.move(*MOVE)),
                ("move({1}→{0})".format(*MOVE), lambda: s.move(MOVE[1], MOVE[0])),
                ("record_exchange", lambda: s.record_exchange("prompt " + p.content, p.content, self.usage)),
                ("prune(1)", lambda: s.prune(1)),
                ("set_usage", lambda: s.set_usage(self.usage)),
            ],
            iterations,
        )
        # truncate removes half the session: each is followed by set_messages of the original SIZE messages.
        samples |= self._run(
            [
                (f"truncate{TRUNCATE_KEEP}", lambda: s.truncate(*TRUNCATE_KEEP)),
                (f"set_messages({SIZE:,})", lambda: s.set_messages(self.template)),
            ],
            heavy_iterations,
        )
        return samples

    # ------------------------------------------------------------ JSON API (Django's test client)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"/api/v1/sessions/{self.api_session.id}{path}"
        if method == "GET":
            response = self.client.get(url)
        else:
            response = self.client.post(url, json.dumps(body), content_type="application/json")
        if response.status_code != 200:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.content[:300]!r}")
        return response

    def _page(self, rest: str, htmx: bool = False) -> Callable[[], Any]:
        url = f"/sessions/{self.api_session.id}/{rest}"
        headers = {"HX-Request": "true"} if htmx else {}

        def get() -> None:
            response = self.pages.get(url, headers=headers)
            if response.status_code != 200:
                raise AssertionError(f"GET {url}: {response.status_code}")

        return get

    def api_round(self, iterations: int) -> dict[str, list[float]]:
        """The API's common calls through the whole Django stack (middleware, API key, rate limit, JSON);
        writes again in pairs that restore the session; and the dashboard's page windows of that session."""
        p, usage = self.probe.as_dict(), self.usage.as_dict()
        exchange = {"prompt": PROMPT, "response": RESPONSE, "usage": usage}

        def post(op: str, body: dict[str, Any]) -> Callable[[], Any]:
            return lambda: self._call("POST", f"/{op}", body)

        self._before_round()
        return self._run(
            [
                ("GET /messages", lambda: self._call("GET", "/messages")),
                ("GET /sessions/<id>", lambda: self._call("GET", "")),
                ("POST append", post("append", p)),
                ("POST remove (end)", post("remove", {"index": SIZE})),
                ("POST record_exchange", post("record_exchange", exchange)),
                ("POST prune", post("prune", {"n": 1})),
                (f"POST insert ({MIDDLE})", post("insert", {"index": MIDDLE, "message": p})),
                (f"POST remove ({MIDDLE})", post("remove", {"index": MIDDLE})),
                (f"POST replace ({MIDDLE})", post("replace", {"index": MIDDLE, "message": p})),
                ("GET detail page, first window", self._page("")),
                (f"GET detail page, window at {MIDDLE}", self._page(f"?at={MIDDLE}")),
                ("GET message chunk, last window", self._page(f"messages/?page={LAST_PAGE}", htmx=True)),
            ],
            iterations,
        )

    # ------------------------------------------------------------ live feed (daphne + websocket watchers)

    def live_start(self, watchers: int, port: int) -> dict[str, Any]:
        self.live = Live(self, watchers, port)
        return self.live.start()

    def live_round(self, seconds: float, rate: float) -> dict[str, Any]:
        assert self.live is not None, "live_start first"
        return self.live.round(seconds, rate)

    def live_stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def from_bench_tree(name: str) -> Any:
    """tests/<name>.py of this file's tree, whichever tree is under test: both sides are watched by the same
    websocket client (live_support.Watcher, which follows live.js's protocol)."""
    spec = importlib.util.spec_from_file_location(f"compare_{name}", BENCH_ROOT / "tests" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class Live:
    """One daphne of the tree under test, ``n`` watchers of one session in a thread with its own event loop,
    and the writer (record_exchange at a fixed rate) in the calling thread, as bench/bench_fanout.py."""

    def __init__(self, workload: Workload, n: int, port: int) -> None:
        self.workload, self.n, self.port = workload, n, port
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.watchers: list[Any] = []
        self.tasks: list[asyncio.Future] = []
        self.daphne: subprocess.Popen | None = None

    def start(self) -> dict[str, Any]:
        from django.conf import settings
        from django.contrib.auth.models import Group, User
        from django.test import Client

        user = User.objects.create_user(f"compare-{secrets.token_hex(4)}", password=secrets.token_hex(8))
        user.groups.add(Group.objects.get(name=VIEWERS_GROUP))
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        self.session = self.workload.SessionService.new(name=f"compare live {self.n}")
        self.session.append("system", "Answer with JSON only.")
        self.log = open(Path(os.environ["COMPARE_LOG_DIR"]) / f"daphne-{self.port}.log", "w")  # noqa: SIM115
        env = {**os.environ, "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1", "DJANGO_LOG_LEVEL": "ERROR"}
        self.daphne = subprocess.Popen(
            [sys.executable, "-m", "zyn_site.server", "-b", "127.0.0.1", "-p", str(self.port)]
            + ["zyn_site.asgi:application"],
            cwd=TREE,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        from_bench_tree("live_servers").wait_for_port(self.port, 60, self.daphne)
        self.thread.start()
        watcher = from_bench_tree("live_support").Watcher
        url = f"ws://127.0.0.1:{self.port}/ws/sessions/{self.session.id}/"
        origin = f"http://127.0.0.1:{self.port}"
        self.watchers = [watcher(url, cookie, origin=origin, version=1) for _ in range(self.n)]
        asyncio.run_coroutine_threadsafe(self._connect(), self.loop).result(90)
        return {"watchers": self.n, "daphne_pid": self.daphne.pid}

    async def _connect(self) -> None:
        readies = [asyncio.Event() for _ in self.watchers]
        for i, (w, ready) in enumerate(zip(self.watchers, readies, strict=True)):
            self.tasks.append(asyncio.ensure_future(w.run(ready)))
            if i % 20 == 19:
                await asyncio.sleep(0.2)  # in waves, like page loads
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
        await asyncio.sleep(2)  # hellos answered, presence settled

    def round(self, seconds: float, rate: float) -> dict[str, Any]:
        from django.db import transaction

        first, usage = self.session.version() + 1, self.workload.usage
        commits: dict[int, float] = {}
        cpu0, wall0 = proc_cpu_seconds(self.daphne.pid), time.perf_counter()
        started = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            stamp: list[float] = []
            with transaction.atomic():
                # Registered first: runs right after COMMIT, before the service's publish hook.
                transaction.on_commit(lambda stamp=stamp: stamp.append(time.perf_counter()))
                version = self.session.record_exchange(PROMPT, RESPONSE, usage, actor="api:bench")
            commits[version] = stamp[0]
        cpu1, wall1 = proc_cpu_seconds(self.daphne.pid), time.perf_counter()
        final = max(commits)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(w.version < final for w in self.watchers):
            time.sleep(0.05)
        latencies = [
            round((w.seen[v] - at) * 1000, 3)
            for w in self.watchers
            for v, at in commits.items()
            if v in w.seen
        ]
        return {
            "latency_ms": latencies,
            "writes": len(commits),
            "daphne_cpu_percent": 100 * (cpu1 - cpu0) / (wall1 - wall0),
            "uncovered": sum(w.uncovered(first, final) for w in self.watchers),
            "behind": sum(w.version < final for w in self.watchers),
            "closes": sum(len(w.closes) for w in self.watchers),
        }

    def stop(self) -> None:
        for w in self.watchers:
            w.stop()

        async def cancel() -> None:
            for t in self.tasks:
                t.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if self.daphne is not None and self.daphne.poll() is None:
            self.daphne.terminate()
            self.daphne.wait(10)
        self.log.close()


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # only answers on the original stdout
    import django

    django.setup()
    import sessions_app

    code = Path(sessions_app.__file__).resolve()
    if not code.is_relative_to(TREE):
        raise SystemExit(f"sessions_app imported from {code}, not from the tree under test {TREE}")
    workload = Workload()
    for line in sys.stdin:
        command = json.loads(line)
        try:
            result = getattr(workload, command["do"])(**command.get("args", {}))
            answers.write(json.dumps({"ok": result}) + "\n")
        except Exception:
            answers.write(json.dumps({"error": traceback.format_exc()}) + "\n")
    workload.live_stop()


if __name__ == "__main__":
    main()

"""Real servers for the multi-process, fault, browser tests and the fan-out bench.

``Daphne`` runs daphne (``python -m zyn_site.server zyn_site.asgi:application``) on a loopback port of
this worktree's range (8500-8599) against the given database and Redis; ``RedisServer`` is a private
redis-server on its own port (the fault test stops and starts it: the shared Redis on 6379 is never
touched). Both are always stopped by pid (``with`` blocks / fixtures), never by name.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
REDIS_SERVER = shutil.which("redis-server")


def database_env() -> dict[str, str]:
    """The environment that points a subprocess at the database this test process uses."""
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = urllib.parse.quote(s["USER"] or "postgres")
        if s.get("PASSWORD"):
            auth += ":" + urllib.parse.quote(s["PASSWORD"])
        url = f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
        return {"DATABASE_URL": url}
    return {"DATABASE_URL": "", "SQLITE_PATH": str(s["NAME"])}


def free_port(ports: range) -> int:
    """The first port of ``ports`` nothing listens on (each project on the shared machine has its range)."""
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


def wait_for_port(port: int, timeout: float = 30, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def _stop(proc: subprocess.Popen | None, *, sig: int = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@dataclass
class Answer:
    status: int
    headers: Any  # email.message.Message: case-insensitive
    body: str
    seconds: float


def http_call(
    method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> Answer:
    """One HTTP request; an error status is an answer too (not an exception). Times the whole exchange."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, answer_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, answer_headers, raw = exc.code, exc.headers, exc.read()
    return Answer(status, answer_headers, raw.decode(errors="replace"), time.perf_counter() - started)


class Daphne:
    def __init__(self, port: int, *, redis_url: str = "", extra_env: dict[str, str] | None = None) -> None:
        from django.conf import settings

        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "zyn_site.settings",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,  # the test's session cookies must be valid there
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
            "REDIS_URL": redis_url,
            "DJANGO_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **database_env(),
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix=f"daphne-{port}-", suffix=".log", delete=False)

    def start(self) -> Daphne:
        self.proc = subprocess.Popen(
            # daphne through the project's entry point (request bodies bounded: zyn_site/server.py)
            [str(VENV_BIN / "python"), "-m", "zyn_site.server", "-b", "127.0.0.1", "-p", str(self.port)]
            + ["zyn_site.asgi:application"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(self.port, proc=self.proc)
            self._wait_http()
        except Exception:
            self.stop()
            raise RuntimeError(f"daphne on {self.port} did not start:\n{self.output()[-3000:]}") from None
        return self

    def _wait_http(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/accounts/login/", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"daphne on {self.port} did not answer HTTP")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        _stop(self.proc)
        self.log.close()

    def __enter__(self) -> Daphne:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class RedisServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        assert REDIS_SERVER, "redis-server is not installed"
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, timeout=10, proc=self.proc)
        return self

    def stop(self) -> None:
        _stop(self.proc, sig=signal.SIGKILL)  # like a crash: nothing is handed over
        self.proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class Browserless:
    """An HTTP client logged in to one daphne (cookies + CSRF), for writes "made through" a process."""

    def __init__(self, base_url: str, session_cookie: str) -> None:
        from django.conf import settings

        self.base = base_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        host = urllib.parse.urlsplit(base_url).hostname
        self.jar.set_cookie(_cookie(settings.SESSION_COOKIE_NAME, session_cookie, host))
        self.csrf = ""

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=10) as response:
            body = response.read().decode()
        token = re.search(r'"X-CSRFToken": "([^"]+)"', body)
        if token:
            self.csrf = token.group(1)
        return body

    def post(self, path: str, data: dict[str, Any], *, htmx: bool = True) -> int:
        request = urllib.request.Request(
            self.base + path,
            data=urllib.parse.urlencode(data).encode(),
            headers={"X-CSRFToken": self.csrf, **({"HX-Request": "true"} if htmx else {})},
            method="POST",
        )
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code


def _cookie(name: str, value: str, domain: str | None) -> http.cookiejar.Cookie:
    return http.cookiejar.Cookie(
        0,
        name,
        value,
        None,
        False,
        domain or "127.0.0.1",
        False,
        False,
        "/",
        True,
        False,
        None,
        False,
        None,
        None,
        {},
    )


# Debian's layout: the newest installed PostgreSQL (15 on this machine).
PG_BIN = max(
    Path("/usr/lib/postgresql").glob("*/bin"),
    key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    default=Path("/usr/lib/postgresql/15/bin"),
)


class PostgresCluster:
    """A private PostgreSQL cluster (initdb in a temp dir) on its own port, for fault tests that stop and
    start the server; the shared one on 5432 is never touched. initdb refuses to run as root, so as root
    the cluster belongs to the ``postgres`` user (``runuser``)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"postgres://postgres@127.0.0.1:{port}/postgres"
        self.dir = Path(tempfile.mkdtemp(prefix=f"zyn-pg-{port}-"))
        self.data = self.dir / "data"
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self._as_owner = ["runuser", "-u", "postgres", "--"]

    @staticmethod
    def available() -> bool:
        return (PG_BIN / "initdb").exists() and (os.geteuid() != 0 or shutil.which("runuser") is not None)

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_owner, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> PostgresCluster:
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        return self

    def start(self) -> PostgresCluster:
        # A throwaway cluster: durability off, the socket in its own directory (not /var/run/postgresql).
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.dir / "log"),
            "-w",
            "start",
        )
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self.init().start()

    def __exit__(self, *exc: Any) -> None:
        self.remove()

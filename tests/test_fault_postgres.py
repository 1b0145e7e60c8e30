"""Fault: the PostgreSQL server stops under a running daphne, then starts again.

A private cluster (initdb in a temp dir, port 8550; never the shared server) and one daphne on 8551 pointed at
it. While the server is down, the API answers 503 in its JSON error shape and the dashboard a styled 503 page,
both with Retry-After and within a few seconds; once it is back, both work again in the same daphne process.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.live_servers import ROOT, VENV_BIN, Daphne, PostgresCluster, http_call

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not PostgresCluster.available(),
        reason="needs PostgreSQL's binaries (initdb, pg_ctl) in /usr/lib/postgresql/<version>/bin",
    ),
]

PG_PORT, DAPHNE_PORT = 8550, 8551
FAST = 5.0  # seconds: "a few seconds at most"

SETUP = """
import json
from django.test import Client
from sessions_app.services import apikeys
from sessions_app.services import SessionService
from tests.live_support import make_user
client = Client()
client.force_login(make_user("pg-fault", "editor"))
session = SessionService.new(name="pg fault")
session.append("user", "hello")
key = apikeys.create_key("pg-fault", "write")[1]
print(json.dumps({"cookie": client.cookies["sessionid"].value, "key": key, "session": str(session.id)}))
"""


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_postgres_down_answers_503_fast_and_recovers_without_restart():
    with PostgresCluster(PG_PORT) as cluster:
        daphne = Daphne(DAPHNE_PORT, extra_env={"DATABASE_URL": cluster.url, "SQLITE_PATH": ""})
        _manage(daphne.env, "migrate", "--verbosity", "0")
        made = json.loads(_manage(daphne.env, "shell", "-c", SETUP).strip().splitlines()[-1])
        api = {"Authorization": f"Bearer {made['key']}"}
        dashboard = {"Cookie": f"sessionid={made['cookie']}"}
        session_api = f"{daphne.url}/api/v1/sessions/{made['session']}"
        page = f"{daphne.url}/sessions/{made['session']}/"
        append = json.dumps({"role": "user", "content": "during"}).encode()
        with daphne:
            pid = daphne.pid()
            assert http_call("GET", session_api, api).status == 200
            assert http_call("GET", page, dashboard).status == 200

            cluster.stop()
            for method, url, headers, body in [
                ("GET", session_api, api, None),
                ("POST", f"{session_api}/append", {**api, "Content-Type": "application/json"}, append),
                ("GET", session_api, api, None),
            ]:
                answer = http_call(method, url, headers, body)
                assert answer.status == 503, (method, url, answer.status, answer.body[:300])
                assert answer.seconds < FAST, f"{method} {url} took {answer.seconds:.1f} s"
                assert int(answer.headers["Retry-After"]) >= 1
                assert answer.headers["Content-Type"] == "application/json"
                error = json.loads(answer.body)
                assert set(error) == {"error", "message", "details"}
                assert error["error"] == "database_unavailable"
            for _ in range(2):
                answer = http_call("GET", page, dashboard)
                assert answer.status == 503 and answer.seconds < FAST, (answer.status, answer.seconds)
                assert int(answer.headers["Retry-After"]) >= 1
                assert answer.headers["Content-Type"].startswith("text/html")
                # The site's own page (base template) with a way to retry, not Django's bare "Server Error".
                assert 'class="topbar"' in answer.body and "app.css" in answer.body
                assert "Try again" in answer.body and "Server Error (500)" not in answer.body

            cluster.start()
            deadline = time.monotonic() + 30
            statuses: list[tuple[int, int]] = []
            while time.monotonic() < deadline:
                statuses.append(
                    (http_call("GET", session_api, api).status, http_call("GET", page, dashboard).status)
                )
                if statuses[-1] == (200, 200):
                    break
                time.sleep(0.2)
            assert statuses[-1] == (200, 200), f"not recovered after 30 s: {statuses[-5:]}"
            assert all(s in (200, 503) for pair in statuses for s in pair), statuses
            appended = http_call(
                "POST", f"{session_api}/append", {**api, "Content-Type": "application/json"}, append
            )
            assert appended.status == 200 and json.loads(appended.body) == {"version": 2}
            assert daphne.pid() == pid and daphne.proc.poll() is None, "daphne restarted"
            assert "Traceback" not in daphne.output(), daphne.output()[-3000:]

"""schemathesis (property-based, from the OpenAPI document) against a live server: no 5xx; every status
code, content type, header and body matches the document; every request the document allows is accepted
and every request it forbids is refused. Bounded: --max-examples per operation (ZYN_SCHEMATHESIS_EXAMPLES).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sessions_app.domain.types import Message, TokenUsage
from sessions_app.services import SessionService, apikeys
from tests.test_client import api_server  # noqa: F401  (the live-server fixture)

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",  # what the document forbids is refused (4xx)
        "positive_data_acceptance",  # what it allows is not refused as malformed (no 400)
    ]
)
# A JSONL import body is text whose lines JSON Schema cannot describe: it may be refused (400) for its
# content; and the document cannot tie ?format= to the body's type (415 for jsonl sent as application/json).
# The application/json body is described exactly, and negative_data_rejection holds for both.
CONFIG = """
[parameters]
"path.session_id" = "{session_id}"

[[operations]]
include-operation-id = "import_sessions"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "415", "429"]
"""


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is a test dependency: make install")
def test_schemathesis_finds_no_server_errors_and_no_schema_mismatches(api_server, settings, tmp_path):  # noqa: F811
    settings.ZYN_API_RATE_LIMIT = 0  # thousands of requests from one key
    raw = apikeys.create_key("schemathesis", "write")[1]
    session = SessionService.new(name="fuzzed")
    session.set_messages([Message("user" if i % 2 else "assistant", f"m{i}") for i in range(6)])
    session.set_usage(TokenUsage(1, 2, 3))
    # Path ids point at a real session, so the write operations reach the service (random UUIDs
    # would only ever test the 404 path, which tests/test_api.py covers).
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(session_id=session.id), encoding="utf-8")
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{api_server}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {raw}",
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        # Per operation; longer runs: docs/benchmarks.md.
        os.environ.get("ZYN_SCHEMATHESIS_EXAMPLES", "100"),
        "--seed",
        os.environ.get("ZYN_SCHEMATHESIS_SEED", "6"),
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--no-color",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    timeout = int(os.environ.get("ZYN_SCHEMATHESIS_TIMEOUT", "240"))
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=tmp_path)
    output = result.stdout + result.stderr
    print(output[-3000:])  # the summary (figures), shown with -s
    assert result.returncode == 0, output[-6000:]
    assert "operations" in output.lower() or "passed" in output.lower(), output[-2000:]

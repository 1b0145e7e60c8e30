#!/usr/bin/env bash
# The whole suite. PostgreSQL/Redis/Chromium tests run when DATABASE_URL/REDIS_URL/chromium are there,
# and are skipped with the reason otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Migrate, load demo data, make sure an operator account exists, serve on 127.0.0.1:8000 with daphne.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DJANGO_SECRET_KEY:-}" ]; then
  # A local key kept out of git, created once, so logins survive restarts.
  [ -s .secret_key ] || .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(50))" > .secret_key
  DJANGO_SECRET_KEY="$(cat .secret_key)"
  export DJANGO_SECRET_KEY
fi
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/python manage.py seed_demo
.venv/bin/python manage.py ensure_operator
echo "Dashboard: http://127.0.0.1:${PORT:-8000}/"
# daphne through zyn_site/server.py: request bodies over ZYN_MAX_REQUEST_BYTES are refused before they are read.
exec .venv/bin/python -m zyn_site.server -b 127.0.0.1 -p "${PORT:-8000}" zyn_site.asgi:application

"""Answers to server faults: 503 while the database is unreachable, 500 for anything else unexpected.

``server_error`` is the site's handler500 (zyn_site/urls.py). Django calls it from inside its exception
handler for an exception raised anywhere in a request — a view, or a middleware such as the session lookup —
so ``sys.exc_info()`` there is the fault, and this one place sees all of them. Under ``/api/v1/`` the answer
is the API's JSON error shape; elsewhere a page of the site. Neither touches the database, the session or the
user (the fault may be the database itself).
"""

from __future__ import annotations

import logging
import sqlite3
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.utils.http import url_has_allowed_host_and_scheme

from sessions_app.api.errors import error_response

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"
# How long a client should wait before retrying while the database is unreachable: about the time PostgreSQL
# takes to restart, and the pool's first reconnection attempts.
RETRY_AFTER_SECONDS = 5
# SQLSTATE classes of a server that cannot serve now: 08 connection exception, 53 insufficient resources
# (too many connections), 57 operator intervention (shutting down, starting up, statement cancelled).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")
# SQLite primary result codes of a file that cannot be used now: BUSY, LOCKED, IOERR, CANTOPEN.
_SQLITE_UNAVAILABLE_CODES = (5, 6, 10, 14)


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` means the database cannot be reached or cannot serve now (retrying later may work),
    as opposed to an error in a statement. Covers the pool's timeout (psycopg_pool.PoolTimeout, wrapped as
    OperationalError), refused or broken connections (no SQLSTATE: they fail before the server answers),
    a server shutting down, and SQLite's busy, locked or unopenable file."""
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    cause = exc.__cause__
    if isinstance(cause, sqlite3.Error):
        # SQLite reports nearly everything (a missing table too) as OperationalError: go by its result code.
        return (getattr(cause, "sqlite_errorcode", 0) & 0xFF) in _SQLITE_UNAVAILABLE_CODES
    sqlstate = getattr(cause, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(_UNAVAILABLE_SQLSTATE_CLASSES)


def server_error(request: HttpRequest) -> HttpResponse:
    exc = sys.exc_info()[1]
    api = request.path.startswith(API_PREFIX)
    if database_unavailable(exc):
        response = _unavailable(request, api)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        # One line per request instead of Django's traceback: the outage is one cause, already explained.
        logger.warning("database unavailable, answered 503 to %s %s: %s", request.method, request.path, exc)
        response._has_been_logged = True  # noqa: SLF001 (django.utils.log.log_response's own marker)
        return response
    # Anything else is a defect: Django logs it with its traceback after this handler returns.
    if api:
        return error_response(
            500,
            "server_error",
            "the server failed on this request (the fault is logged). A write may or may not have been "
            "applied: read the session's version before sending it again.",
        )
    return HttpResponse(loader.render_to_string("500.html"), status=500)


def _unavailable(request: HttpRequest, api: bool) -> HttpResponse:
    if api:
        return error_response(
            503,
            "database_unavailable",
            "the database cannot be reached right now; nothing was changed. "
            f"Retry in {RETRY_AFTER_SECONDS} s.",
            {"retry_after": RETRY_AFTER_SECONDS},
        )
    page = loader.render_to_string(
        "503.html", {"retry_url": _retry_url(request), "retry_after": RETRY_AFTER_SECONDS}
    )
    return HttpResponse(page, status=503)


def _retry_url(request: HttpRequest) -> str:
    """Where "Try again" goes: this page for a GET; for a form post, the page it was sent from."""
    if request.method in ("GET", "HEAD"):
        return request.get_full_path()
    referer = request.headers.get("Referer", "")
    allowed = {request.get_host()}
    return referer if url_has_allowed_host_and_scheme(referer, allowed, request.is_secure()) else "/"

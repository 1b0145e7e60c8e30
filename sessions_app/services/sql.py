"""Hand-written statements on Django's connection, for the write path and the hot reads.

Building these small statements through the ORM cost about 0.3-0.4 ms of CPU each, more than the
statements themselves (docs/benchmarks.md, "Session operations"). Values go through the model fields'
get_db_prep_value, so they are stored exactly as the ORM would store them, on every backend.
"""

from __future__ import annotations

import functools
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections

from sessions_app import models


def db_value(model: type[models.Model], field: str, value: Any) -> Any:
    return model._meta.get_field(field).get_db_prep_value(value, connection)


@functools.cache  # one database per process: its quoting never changes
def table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def db_cursor() -> Any:
    """A cursor on Django's connection: its transaction, error wrapping and query logging.

    PostgreSQL (unless ZYN_DB_PREPARE=0): a psycopg cursor that binds on the server, so psycopg
    prepares a statement once it has run ``prepare_threshold`` times on a connection (settings).
    Django's own cursors bind on the client and prepare nothing: every statement is parsed and
    planned again, about 0.2-0.3 ms for the append statement. These statements have fixed texts.
    """
    db = connections[DEFAULT_DB_ALIAS]  # the object behind django.db.connection, looked up once
    if db.vendor != "postgresql" or not settings.ZYN_DB_PREPARE:
        return db.cursor()
    db.ensure_connection()
    db.validate_thread_sharing()
    # One psycopg cursor per connection, reused (its results are read before the next call).
    raw = getattr(db, "_zyn_cursor", None)
    if raw is None or raw.connection is not db.connection or raw.closed:
        raw = db._zyn_cursor = psycopg.Cursor(db.connection)
    return db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw)


def query(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with db_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def execute(sql: str, params: list[Any]) -> int:
    """Run a statement that returns no rows; the number of rows it changed."""
    with db_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount

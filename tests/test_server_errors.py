"""Server faults get clear answers (sessions_app/server_errors.py, the site's handler500).

A database that cannot be opened answers 503 with Retry-After (the API's JSON error shape under /api/v1/,
the site's page elsewhere) and the site works again once it can; any other fault in an API view is a JSON
500 logged with its traceback, elsewhere the site's 500 page. The PostgreSQL server stopping under daphne is
tests/test_fault_postgres.py.
"""

from __future__ import annotations

import json
import logging

import psycopg
import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import Client

from sessions_app.services import SessionService, apikeys
from sessions_app.web.server_errors import database_unavailable
from tests.live_support import signed_in_client


def _client(**extra) -> Client:
    return Client(raise_request_exception=False, **extra)


@pytest.mark.django_db
def test_an_unexpected_fault_in_an_api_view_is_a_json_500_logged_with_its_traceback(monkeypatch, caplog):
    _, raw = apikeys.create_key("faulty", "read")

    SessionService.new(name="listed")

    def broken(row):
        raise ZeroDivisionError("a defect")

    monkeypatch.setattr("sessions_app.api.sessions.session_json", broken)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = _client().get("/api/v1/sessions", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error", "message", "details"} and body["error"] == "server_error"
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is ZeroDivisionError]
    assert len(logged) == 1 and "/api/v1/sessions" in logged[0].getMessage()


@pytest.mark.django_db
def test_an_unexpected_fault_in_a_page_is_the_sites_500_page(monkeypatch, viewer_user):
    client = signed_in_client(viewer_user, raise_request_exception=False)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a defect")

    monkeypatch.setattr("sessions_app.selectors.sessions.ListFilters", broken)
    response = client.get("/")
    assert response.status_code == 500
    page = response.content.decode()
    assert 'class="topbar"' in page and "Something went wrong" in page and "Back to sessions" in page


@pytest.mark.skipif(settings.IS_POSTGRES, reason="SQLite's file; PostgreSQL: tests/test_fault_postgres.py")
@pytest.mark.django_db(transaction=True)
def test_a_database_that_cannot_be_opened_answers_503_and_the_site_recovers(
    monkeypatch, tmp_path, viewer_user
):
    _, raw = apikeys.create_key("unopenable", "read")
    api = {"Authorization": f"Bearer {raw}"}
    page_client = signed_in_client(viewer_user, raise_request_exception=False)
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "NAME", str(tmp_path / "no such directory" / "db.sqlite3"))

    answer = _client().get("/api/v1/sessions", headers=api)
    assert answer.status_code == 503 and int(answer["Retry-After"]) >= 1
    assert json.loads(answer.content)["error"] == "database_unavailable"
    page = page_client.get("/?q=x")
    assert page.status_code == 503 and int(page["Retry-After"]) >= 1
    assert "Temporarily unavailable" in page.content.decode()
    assert 'href="/?q=x">Try again' in page.content.decode()

    connection.close()
    monkeypatch.undo()
    assert _client().get("/api/v1/sessions", headers=api).status_code == 200
    assert page_client.get("/").status_code == 200


def test_only_errors_of_reaching_the_database_count_as_unavailable(tmp_path):
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect("host=127.0.0.1 port=8555 user=postgres connect_timeout=2")  # nothing listens there
    try:
        raise OperationalError(str(refused.value)) from refused.value  # as Django wraps it
    except OperationalError as wrapped:
        assert database_unavailable(wrapped)
    shutdown = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    try:
        raise OperationalError(str(shutdown)) from shutdown
    except OperationalError as wrapped:
        assert database_unavailable(wrapped)
    # A statement's own error is a defect (500), not an outage.
    deadlock = psycopg.errors.DeadlockDetected("deadlock detected")
    try:
        raise OperationalError(str(deadlock)) from deadlock
    except OperationalError as wrapped:
        assert not database_unavailable(wrapped)
    assert not database_unavailable(ZeroDivisionError())


def test_the_openapi_document_lists_the_server_fault_answers_of_every_operation():
    from sessions_app.api.app import api

    document = api.get_openapi_schema()
    operations = [op for path in document["paths"].values() for op in path.values() if "responses" in op]
    assert operations
    for operation in operations:
        responses = operation["responses"]
        assert {"500", "503"} <= set(responses), operation.get("operationId")
        assert "Retry-After" in responses["503"]["headers"]
        assert responses["503"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }

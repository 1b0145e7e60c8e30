"""Every page carries the Content-Security-Policy, and no page needs an exception to it beyond the one
settings.CONTENT_SECURITY_POLICY documents (style attributes): no inline <script>, <style> or handler."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from sessions_app.domain.types import TokenUsage
from sessions_app.services import SessionService

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ELEMENT = re.compile(r"<style\b", re.IGNORECASE)


def directives(response) -> dict[str, list[str]]:  # noqa: ANN001
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


@pytest.fixture
def session() -> SessionService:
    s = SessionService.new(name="csp", metadata={"program": "csp"})
    s.append("system", "Be brief.")
    s.record_exchange("hi", '{"answer": "<b>hello</b>"}', TokenUsage(10, 5, 15))
    return s


def pages(s: SessionService) -> dict[str, str]:
    return {
        "list": reverse("sessions_app:session_list"),
        "detail": reverse("sessions_app:session_detail", args=[s.id]),
        "history": reverse("history:list", args=[s.id]),
        "version": reverse("history:version", args=[s.id, 1]),
        "diff": reverse("history:diff", args=[s.id]),
        "admin": reverse("admin:index"),
        "admin change": reverse("admin:sessions_app_session_change", args=[s.id]),
        "admin events": reverse("admin:sessions_app_sessionevent_changelist"),
        "API docs": reverse("api-docs"),
        "not found": "/sessions/00000000-0000-0000-0000-000000000000/",
    }


def test_every_page_carries_the_policy_and_needs_no_inline_script_or_style(admin_client, session):
    responses = {name: admin_client.get(path) for name, path in pages(session).items()}
    responses["login"] = Client().get(reverse("login"))
    responses["bad form"] = admin_client.generic(
        "POST",
        reverse("sessions_app:append", args=[session.id]),
        b"content=%FF",
        content_type="application/x-www-form-urlencoded",
    )
    for name, response in responses.items():
        assert response.status_code in (200, 400, 404), name
        policy = directives(response)
        assert policy["default-src"] == ["'self'"], name
        assert policy["script-src"] == ["'self'"], name
        assert policy["style-src"] == ["'self'"] and policy["style-src-attr"] == ["'unsafe-inline'"], name
        assert policy["connect-src"] == ["'self'", "ws://testserver", "wss://testserver"], name
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"], name
        body = response.content.decode()
        assert not INLINE_SCRIPT.search(body), (name, INLINE_SCRIPT.search(body))
        assert not STYLE_ELEMENT.search(body), name
        assert not INLINE_HANDLER.search(body), (name, INLINE_HANDLER.search(body))


def test_the_json_api_and_other_hosts_get_the_policy_without_a_foreign_host(session):
    response = Client().get("/api/v1/sessions", HTTP_HOST="localhost")
    assert "ws://localhost" in directives(response)["connect-src"]
    # A host outside ALLOWED_HOSTS never reaches the header (it is refused with a 400).
    refused = Client().get(reverse("login"), HTTP_HOST="evil.example;script-src *")
    assert refused.status_code == 400
    assert directives(refused)["connect-src"] == ["'self'"]

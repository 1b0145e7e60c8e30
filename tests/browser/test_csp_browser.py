"""Real Chromium reports no Content-Security-Policy violation on any page, while the pages work."""

from __future__ import annotations

import pytest

from sessions_app.domain.types import Message, TokenUsage
from sessions_app.services import SessionService

from .conftest import off_loop, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before any script of the page: every violation the browser reports, with what was blocked.
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(
  `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));
"""


def test_no_page_reports_a_content_security_policy_violation(page, admin_user):
    s = off_loop(SessionService.new, name="csp", metadata={"program": "csp"})
    off_loop(s.set_messages, [Message("system", "Be brief."), Message("user", '{"q": [1, 2]}')])
    for i in range(3):
        off_loop(s.record_exchange, f"q{i}", "a", TokenUsage(10 * (i + 1), 5, 15 * (i + 1)))
    page.context.add_init_script(LISTEN)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.on("pageerror", lambda e: console.append(f"page error: {e}"))

    def visit(path: str, ready: str) -> None:
        response = page.goto(path)
        assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_selector(ready)
        assert page.evaluate("window.__violations") == [], path

    visit("/accounts/login/", "form input[name=password]")
    sign_in(page, admin_user)
    visit("/", "#session-table .session-row")
    visit(f"/sessions/{s.id}/", "#usage-bars > li")
    # The chart is drawn: its bars' style attributes apply (the one exception the policy makes).
    assert page.evaluate("getComputedStyle(document.getElementById('usage-bars')).getPropertyValue('--peak')")
    page.click("#message-0 a[data-mode=edit]")  # an htmx swap
    page.wait_for_selector("#message-0 form.editor")
    visit(f"/sessions/{s.id}/history/", "#history .event")
    visit(f"/sessions/{s.id}/history/v2/", "#version")
    visit(f"/sessions/{s.id}/history/diff/?from=1&to=2", "main")
    visit("/admin/", "#content-main")
    visit(f"/admin/sessions_app/session/{s.id}/change/", "#session_form")
    visit("/api/v1/docs", ".swagger-ui .opblock")  # Swagger UI rendered the schema
    page.click(".swagger-ui .opblock-summary")  # an operation opens (schemas, examples, highlighting)
    page.wait_for_selector(".swagger-ui .opblock.is-open")
    assert page.evaluate("window.__violations") == []
    assert not [line for line in console if "Content Security Policy" in line], console

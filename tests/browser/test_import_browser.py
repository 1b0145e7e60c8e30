"""Browser: an editor opens the import page from the session list, uploads a file, sees the preview (with
the upload's progress in its <progress>), and imports it; a session whose id exists comes in as new."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from sessions_app import models
from sessions_app.services import SessionService
from tests.browser.conftest import log_in, new_page, off_loop
from tests.browser.test_csp_browser import LISTEN

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def seed() -> SessionService:
    original = SessionService.new(name="already here")
    original.append("user", "the original", actor="erin")
    return original


def jsonl(original_id: str) -> bytes:
    lines = [
        json.dumps(
            {
                "name": f"imported {i}",
                "metadata": {"program": "import-test"},
                "messages": [
                    {"role": "user" if j % 2 == 0 else "assistant", "content": f"message {j} " + "é" * 400}
                    for j in range(i % 5 + 1)
                ],
                "usage": {"prompt": 10 * i, "completion": i, "total": 11 * i},
            },
            ensure_ascii=False,
        )
        for i in range(120)
    ]
    lines.append(
        json.dumps({"id": original_id, "name": "same id", "messages": [{"role": "user", "content": "x"}]})
    )
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def signed_in(browser, live_server, editor_user):  # noqa: ANN001, ANN201
    """An editor's page, signed in through the login form."""
    return log_in(new_page(browser, live_server.url, timeout_ms=15_000), editor_user.username)


def test_upload_preview_and_import_with_an_existing_id_as_new(signed_in, live_server):
    original = off_loop(seed)
    page = signed_in
    page.context.add_init_script(LISTEN)  # every Content-Security-Policy violation the page reports
    page.goto("/")
    page.click("a.import-link")
    expect(page).to_have_url(f"{live_server.url}/import/")
    progress = page.locator("progress#import-progress")
    expect(progress).to_be_attached()
    expect(page.locator(".import-limit")).to_contain_text("Files up to 16.0")

    data = jsonl(str(original.id))
    assert len(data) > 200_000  # enough bytes for the upload to report progress
    page.set_input_files(
        "#import-file", files=[{"name": "many.jsonl", "mimeType": "application/x-ndjson", "buffer": data}]
    )
    expect(page.locator("#import-progress-text")).to_contain_text("chosen: press Preview")
    page.click("button[value=preview]")
    preview = page.locator("#import-preview")
    expect(preview.locator(".import-summary")).to_contain_text("121 sessions")
    expect(preview.locator(".import-summary")).to_contain_text("361 messages")
    expect(preview.locator("table.import-sessions tbody tr")).to_have_count(121)
    expect(preview.locator("tr.exists")).to_contain_text("exists → new id")
    expect(preview.locator(".import-existing")).to_contain_text("1 session has an id that already exists")
    # The upload drove the bar to its end; nothing is written by a preview.
    expect(progress).to_have_js_property("value", 100)
    expect(page.locator("#import-progress-text")).to_contain_text("Sent")
    assert models.Session.objects.count() == 1
    page.screenshot(path="/tmp/import-preview-1280.png", full_page=False)

    page.click("button[value=import_as_new]")
    result = page.locator(".import-result")
    expect(result).to_contain_text(
        "Imported 121 session(s) with 361 message(s) from many.jsonl; 1 as new session(s)"
    )
    expect(page.locator("#import-progress-text")).to_have_text("Imported.")
    assert models.Session.objects.count() == 122
    assert SessionService(original.id).messages()[0].content == "the original"
    copy = models.Session.objects.get(name="same id")
    assert copy.pk != original.id and copy.version == 1
    page.screenshot(path="/tmp/import-result-1280.png", full_page=False)
    assert page.evaluate("window.__violations") == []
    # The result links to each imported session.
    page.click(f'.import-result a[href="/sessions/{copy.pk}/"]')
    expect(page.locator("#session-header")).to_contain_text("same id")


def test_a_file_with_errors_lists_them_by_line_and_offers_no_import(signed_in):
    off_loop(seed)
    page = signed_in
    page.goto("/import/")
    bad = b'{"name": "ok", "messages": []}\n{"messages": [{"role": "robot", "content": "x"}]}\n{oops\n'
    page.set_input_files(
        "#import-file", files=[{"name": "bad.jsonl", "mimeType": "text/plain", "buffer": bad}]
    )
    page.click("button[value=preview]")
    errors = page.locator("ol.import-errors li")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text("line 2")
    expect(errors.nth(1)).to_contain_text("line 3")
    expect(page.locator("button[value=import]")).to_have_count(0)
    page.screenshot(path="/tmp/import-errors-1280.png")
    # Choosing another file clears the preview of the bad one.
    page.set_input_files(
        "#import-file", files=[{"name": "ok.jsonl", "mimeType": "text/plain", "buffer": bad[:31]}]
    )
    expect(errors).to_have_count(0)
    assert models.Session.objects.count() == 1

"""Real Chromium (Debian's /usr/bin/chromium) driving the dashboard on a live Django server."""

from __future__ import annotations

import os

import pytest

from tests.live_servers import free_port

# Playwright's sync API runs an event loop in this thread; Django's ORM calls from the test are still
# synchronous and safe here.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking"]
PORTS = range(8100, 8200)  # this project's share of ports on the shared machine


def _free_port() -> int:
    return free_port(PORTS)


# pytest-django's live_server reads this once, when the session-scoped server starts.
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", f"127.0.0.1:{_free_port()}")


@pytest.fixture(scope="module")
def browser():
    # Module scope: Playwright's sync API keeps an event loop running in this thread while it is
    # open, which would break later tests that call async_to_sync (the after-commit publisher).
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def new_page(browser, base_url: str, timeout_ms: int = 10_000):  # noqa: ANN001, ANN201
    """A page in a browser context of its own (its own cookies: a person of their own)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=base_url)
    context.set_default_timeout(timeout_ms)
    return context.new_page()


@pytest.fixture
def page(browser, live_server):
    pg = new_page(browser, live_server.url)
    yield pg
    pg.context.close()


def login_cookie(user) -> dict:  # noqa: ANN001
    """A session cookie for ``user``, the way Client.force_login makes one."""
    from django.conf import settings

    from tests.live_support import session_cookie

    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": session_cookie(user),
        "domain": "127.0.0.1",
        "path": "/",
    }


def sign_in(page, user):  # noqa: ANN001, ANN201
    """``page`` signed in as ``user`` with a session cookie (no login form to go through)."""
    page.context.add_cookies([login_cookie(user)])
    return page


def log_in(page, username: str):  # noqa: ANN001, ANN201
    """``page`` signed in through the login form (the password: tests.live_support.PASSWORD)."""
    from tests.live_support import PASSWORD

    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def off_loop(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    """Run a write in another thread, as another client would.

    Writes publish after commit through async_to_sync, which refuses to run in a thread whose
    event loop is busy (Playwright's, here).
    """
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def call():  # noqa: ANN202
        try:
            return fn(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


@pytest.fixture
def signed_in(page, editor_user):  # noqa: ANN001, ANN201
    """A page signed in as an editor (tests/conftest.py's editor_user)."""
    return sign_in(page, editor_user)

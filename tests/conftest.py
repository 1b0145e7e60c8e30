from __future__ import annotations

import shutil

import pytest
from django.conf import settings

CHROMIUM = "/usr/bin/chromium"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://… (.ci/run does)")
    skip_redis = pytest.mark.skip(reason="needs Redis: set REDIS_URL=redis://… (.ci/run does)")
    skip_browser = pytest.mark.skip(
        reason=f"needs Chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run does)"
    )
    has_browser = shutil.which(CHROMIUM) is not None
    for item in items:
        if "postgres" in item.keywords and not settings.IS_POSTGRES:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not settings.REDIS_URL:
            item.add_marker(skip_redis)
        if "browser" in item.keywords and not has_browser:
            item.add_marker(skip_browser)


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """Each test starts with a fresh channel layer (in-memory layers keep groups between tests)."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(scope="session", autouse=True)
def _close_connection_pools(django_db_setup, django_db_blocker):  # noqa: ANN001
    """Close PostgreSQL connection pools (live-server threads return connections there) before the
    test database is dropped, so teardown is not refused with "being accessed by other users"."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        # Async tests run their sync_to_async calls on asgiref's one shared thread, whose connection
        # is never handed back to the pool: close it there.
        from asgiref.sync import SyncToAsync

        SyncToAsync.single_thread_executor.submit(connections.close_all).result()
        for conn in connections.all(initialized_only=True):
            if getattr(conn, "pool", None) is not None:
                conn.close_pool()


def _client_of(username: str, role: str):  # noqa: ANN202
    from django.test import Client

    from tests.live_support import make_user

    client = Client()
    client.force_login(make_user(username, role))
    return client


@pytest.fixture
def editor():  # noqa: ANN201
    """A test client logged in as "erin", in the editors group (view and change sessions)."""
    return _client_of("erin", "editor")


@pytest.fixture
def viewer():  # noqa: ANN201
    """A test client logged in as "vic", in the viewers group (view only)."""
    return _client_of("vic", "viewer")

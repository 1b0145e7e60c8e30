from __future__ import annotations

import shutil

import pytest
import pytest_asyncio
from django.conf import settings

from sessions_app.roles import ADMIN, EDITOR, VIEWER
from tests.live_support import make_user, signed_in_client

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


@pytest_asyncio.fixture
async def close_consumer_connections():  # noqa: ANN201
    """Consumers' ORM calls run on asgiref's one sync thread, which keeps its connection (CONN_MAX_AGE);
    close it after the test so the test database can be flushed and dropped."""
    yield
    from channels.db import database_sync_to_async
    from django.db import connections

    await database_sync_to_async(connections.close_all)()


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


# The three roles of sessions_app.roles, one user each (and one in none), and test clients signed in as
# them. A test that needs other people makes them with make_user.


def _staff(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("staff") is not None


@pytest.fixture
def viewer_user(db, request):  # noqa: ANN001, ANN201
    return make_user("vic", VIEWER, staff=_staff(request))


@pytest.fixture
def editor_user(db, request):  # noqa: ANN001, ANN201
    return make_user("erin", EDITOR, staff=_staff(request))


@pytest.fixture
def admin_user(db):  # noqa: ANN001, ANN201
    """A superuser (replaces pytest-django's fixture of that name, so its admin_client is ours too)."""
    return make_user("root", ADMIN)


@pytest.fixture
def nobody_user(db):  # noqa: ANN001, ANN201
    """Signed in, but in no role: may see nothing."""
    return make_user("nobody", None)


def _signed_in_as(user_fixture: str, **client_options: object):  # noqa: ANN202
    @pytest.fixture
    def client(request: pytest.FixtureRequest):  # noqa: ANN202
        return signed_in_client(request.getfixturevalue(user_fixture), **client_options)

    return client


viewer = _signed_in_as("viewer_user")
editor = _signed_in_as("editor_user")
admin_client = _signed_in_as("admin_user")
nobody = _signed_in_as("nobody_user")
csrf_checked_editor = _signed_in_as("editor_user", enforce_csrf_checks=True)  # as a browser meets them

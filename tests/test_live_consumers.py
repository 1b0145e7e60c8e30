"""The live feeds through the real ASGI stack (origin check → auth → consumers) with WebsocketCommunicator."""

from __future__ import annotations

import asyncio
import html

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings

from sessions_app.domain.errors import VersionConflict
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.live import sharing
from sessions_app.live import updates as live
from sessions_app.live.events import session_group
from sessions_app.services import SessionService
from tests.live_support import frames_until, parse_frame, session_cookie, ws_headers
from zyn_site.asgi import application

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("close_consumer_connections"),
]

db = database_sync_to_async


async def no_updates(communicator: WebsocketCommunicator, timeout: float = 0.5) -> bool:
    """True when nothing but presence lists arrives within ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (remaining := deadline - loop.time()) > 0:
        if await communicator.receive_nothing(timeout=remaining):
            return True
        if parse_frame(await communicator.receive_from()).kind != "presence":
            return False
    return True


async def closed_with(communicator: WebsocketCommunicator) -> int:
    while True:
        output = await communicator.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            return output.get("code", 1000)


@pytest.fixture
def editor_cookie(editor_user):
    return session_cookie(editor_user)


@pytest.fixture
def session(transactional_db):
    s = SessionService.new(name="live", metadata={"program": "ticket-triage"})
    s.append("system", "Answer with JSON only.")
    s.record_exchange("Classify: refund", '{"primary": "billing"}', TokenUsage(120, 30, 150))
    return s


async def connect(path: str, cookie: str | None, origin: str = "http://localhost") -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, path, headers=ws_headers(cookie, origin))
    connected, _ = await communicator.connect()
    assert connected, f"{path} refused"
    return communicator


@pytest.fixture
def checks_run_by_the_test(settings):
    """No periodic check runs on its own: the test runs them (run_periodic_checks) when it means to."""
    settings.ZYN_LIVE_TICK_SECONDS = 3600


async def run_periodic_checks(s: SessionService) -> None:
    """The check every socket of the session makes each ZYN_LIVE_TICK_SECONDS, run now."""
    from sessions_app.live.relay import get_relay

    for socket in list(get_relay().members.get(session_group(s.id), {}).values()):
        await socket.tick()


async def open_detail(s: SessionService, cookie: str) -> WebsocketCommunicator:
    communicator = await connect(f"/ws/sessions/{s.id}/", cookie)
    await communicator.send_json_to({"type": "hello", "version": await db(s.version)(), "tail": True})
    await frames_until(communicator, "ack")
    return communicator


async def test_anonymous_socket_is_refused(session):
    communicator = WebsocketCommunicator(application, f"/ws/sessions/{session.id}/", headers=ws_headers(None))
    connected, _ = await communicator.connect()
    assert not connected, "an anonymous socket was accepted"
    communicator = WebsocketCommunicator(application, "/ws/sessions/", headers=ws_headers(None))
    assert not (await communicator.connect())[0]


async def test_foreign_origin_is_refused_even_when_logged_in(session, editor_cookie):
    for origin in ("http://evil.example", "http://localhost.evil.example", "null"):
        communicator = WebsocketCommunicator(
            application, f"/ws/sessions/{session.id}/", headers=ws_headers(editor_cookie, origin)
        )
        connected, _ = await communicator.connect()
        assert not connected, f"socket from origin {origin} was accepted"


async def test_user_without_view_permission_and_unknown_session_are_refused(
    session, editor_cookie, nobody_user
):
    cookie = await db(session_cookie)(nobody_user)
    for path, who in ((f"/ws/sessions/{session.id}/", cookie), ("/ws/sessions/", cookie)):
        communicator = WebsocketCommunicator(application, path, headers=ws_headers(who))
        assert not (await communicator.connect())[0], f"{path} accepted a user without view_session"
    missing = "/ws/sessions/00000000-0000-0000-0000-000000000000/"
    communicator = WebsocketCommunicator(application, missing, headers=ws_headers(editor_cookie))
    assert not (await communicator.connect())[0], "a socket for a session that does not exist was accepted"


@pytest.mark.parametrize(
    "path", ["/ws/sessions/not-a-uuid/", "/ws/nothing/", "/ws/sessions", "/", "/ws/sessions/\n/"]
)
async def test_a_path_that_is_no_route_is_refused_at_the_handshake(editor_cookie, path, caplog):
    communicator = WebsocketCommunicator(application, path, headers=ws_headers(editor_cookie))
    connected, code = await communicator.connect()  # not "No route found" (daphne: HTTP 500)
    assert not connected and code == 1000, f"{path}: {connected}, {code}"
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    await communicator.disconnect()


async def test_hello_at_an_old_version_gets_a_snapshot(session, editor_cookie):
    communicator = await connect(f"/ws/sessions/{session.id}/", editor_cookie)
    await communicator.send_json_to({"type": "hello", "version": 1, "tail": True})
    frame = await frames_until(communicator, "snapshot")
    assert frame.version == 2 and frame.count == 3
    assert 'id="session-header"' in frame.html and 'id="message-list"' in frame.html
    assert 'id="usage-chart"' in frame.html and 'id="message-2"' in frame.html
    await communicator.disconnect()


APPENDS = [
    ("append", lambda s, v: s.append("user", "Also: is order 88213 refundable?", expected_version=v), 1),
    ("record_exchange", lambda s, v: s.record_exchange("Next?", '{"ok": true}', TokenUsage(5, 6, 11)), 2),
]


@pytest.mark.parametrize("op,write,added", APPENDS, ids=[a[0] for a in APPENDS])
async def test_appends_push_header_and_new_rows_as_a_delta(session, editor_cookie, op, write, added):
    communicator = await open_detail(session, editor_cookie)
    await db(write)(session, 2)
    frame = await frames_until(communicator, "delta")
    assert (frame.base, frame.version, frame.count) == (2, 3, 3 + added)
    assert 'id="session-header"' in frame.html and "v3" in frame.html
    assert 'hx-swap-oob="beforeend:#message-list"' in frame.html
    for position in range(3, 3 + added):
        assert f'id="message-{position}"' in frame.html
    # A usage write appends its bar and updates the chart's caption and scale; the old bars stay.
    assert ('hx-swap-oob="beforeend:#usage-bars"' in frame.html) == (op == "record_exchange")
    assert ('id="usage-chart-caption"' in frame.html) == (op == "record_exchange")
    assert frame.html.count('<li style="--p:') == (op == "record_exchange")
    assert "Edit</a>" in frame.html  # an editor gets write controls
    await communicator.disconnect()


async def test_set_usage_and_replace_are_deltas_of_what_they_change(session, editor_cookie):
    communicator = await open_detail(session, editor_cookie)
    await db(session.set_usage)(TokenUsage(1, 2, 3), expected_version=2)
    frame = await frames_until(communicator, "delta")
    assert frame.version == 3 and "message-" not in frame.html
    assert 'id="usage-chart-caption"' in frame.html and '<data id="usage-chart-scale" value="' in frame.html
    assert frame.html.count('<li style="--p:1;--c:2;--t:3"') == 1
    await db(session.replace)(1, Message("user", "Classify: <b>refund</b>"), expected_version=3)
    frame = await frames_until(communicator, "delta")
    assert (frame.base, frame.version) == (3, 4)
    assert 'id="message-1"' in frame.html and "&lt;b&gt;refund&lt;/b&gt;" in frame.html  # escaped
    assert "beforeend" not in frame.html
    await communicator.disconnect()


async def test_frames_are_ascii_and_carry_non_ascii_text_as_character_references(session, editor_cookie):
    communicator = await open_detail(session, editor_cookie)
    text = "Café — naïve → 😀 <b>bold</b> &amp;"
    await db(session.append)("user", text, expected_version=2)
    frame = await frames_until(communicator, "delta")
    assert frame.html.isascii()
    assert "Caf&#233; &#8212; na&#239;ve &#8594; &#128512;" in frame.html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp;amp;" in frame.html  # still escaped: markup stays text
    assert text in html.unescape(frame.html)
    await db(session.record_exchange)("q", "a", TokenUsage(1, 2, 3))
    frame = await frames_until(communicator, "delta")
    assert "#usage-bars" in frame.html and frame.html.isascii() and "&#183;" in frame.html  # "·"
    await communicator.disconnect()


STRUCTURAL = [
    ("insert", lambda s: s.insert(0, Message("system", "Be brief."), expected_version=2)),
    ("remove", lambda s: s.remove(0, expected_version=2)),
    ("move", lambda s: s.move(0, 2, expected_version=2)),
    ("prune", lambda s: s.prune(1, expected_version=2)),
    ("truncate", lambda s: s.truncate(1, 1, expected_version=2)),
    ("clear", lambda s: s.clear(expected_version=2)),
    ("set_messages", lambda s: s.set_messages([Message("user", "hi")], expected_version=2)),
]


@pytest.mark.parametrize("op,write", STRUCTURAL, ids=[s[0] for s in STRUCTURAL])
async def test_writes_that_move_messages_make_the_page_resync_its_window(session, editor_cookie, op, write):
    communicator = await open_detail(session, editor_cookie)
    await db(write)(session)
    frame = await frames_until(communicator, "stale")
    assert frame.version == 3 and frame.html == ""
    await communicator.send_json_to({"type": "resync", "version": 2, "tail": True})
    snapshot = await frames_until(communicator, "snapshot")
    expected = await db(session.messages)()
    assert snapshot.version == 3 and snapshot.count == len(expected)
    for position in range(len(expected)):
        assert f'id="message-{position}"' in snapshot.html
    assert f'id="message-{len(expected)}"' not in snapshot.html
    await communicator.disconnect()


async def test_failed_writes_push_nothing(session, editor_cookie):
    communicator = await open_detail(session, editor_cookie)
    with pytest.raises(VersionConflict):
        await db(session.append)("user", "late", expected_version=1)
    with pytest.raises(IndexError):
        await db(session.remove)(99)
    with pytest.raises(ValueError):
        await db(session.append)("robot", "bad role")
    # The next frame is the next write's, from v2: the failed ones pushed nothing before it.
    await db(session.append)("user", "on time", expected_version=2)
    frame = await frames_until(communicator, "delta")
    assert (frame.base, frame.version) == (2, 3), "a failed write pushed a frame"
    await communicator.disconnect()


async def test_viewers_get_updates_without_write_controls(session, editor_cookie, viewer_user):
    viewer_ws = await open_detail(session, await db(session_cookie)(viewer_user))
    editor_ws = await open_detail(session, editor_cookie)
    await db(session.append)("assistant", "{}")
    seen_by_viewer = await frames_until(viewer_ws, "delta")
    seen_by_editor = await frames_until(editor_ws, "delta")
    assert 'id="message-3"' in seen_by_viewer.html
    assert "Edit</a>" not in seen_by_viewer.html and "<form" not in seen_by_viewer.html
    assert "Edit</a>" in seen_by_editor.html
    await viewer_ws.disconnect()
    await editor_ws.disconnect()


async def test_one_render_per_event_and_level_however_many_watchers(session, editor_cookie):
    watchers = [await open_detail(session, editor_cookie) for _ in range(6)]
    before = sharing.stats["renders"]
    await db(session.append)("user", "fan-out")
    bodies = {(await frames_until(w, "delta")).html for w in watchers}
    assert len(bodies) == 1, "watchers of one level got different bytes"
    assert sharing.stats["renders"] - before == 1
    for w in watchers:
        await w.disconnect()


async def test_relay_delivers_a_burst_in_order_to_every_socket_even_when_one_socket_fails(
    session, editor_cookie
):
    """The relay calls the process's sockets one after another for each event: a burst of writes
    reaches every watcher in version order, and a socket whose handling raises does not stop the
    others (nor later events)."""
    from sessions_app.live.relay import get_relay

    watchers = [await open_detail(session, editor_cookie) for _ in range(4)]
    members = list(get_relay().members[session_group(session.id)].values())
    assert len(members) == 4

    async def broken(event):
        raise RuntimeError("this socket's handling fails")

    members[1].session_changed = broken  # the second socket to be called
    start = await db(session.version)()
    for i in range(10):
        await db(session.append)("user", f"burst {i}")
    for n, w in enumerate(watchers):
        if n == 1:
            continue
        # In order and without a gap: each delta starts where the last one ended. (A render covers
        # every version committed by then, so one delta may take the page over several versions.)
        reached = start
        while reached < start + 10:
            frame = await frames_until(w, "delta")
            assert frame.base == reached, (frame.base, frame.version, reached)
            reached = frame.version
        assert reached == start + 10
    # Every event has been handed to every socket by now (one after another, the failing one second).
    assert await no_updates(watchers[1]), "the failing socket sent something"
    for w in watchers:
        await w.disconnect()
    assert session_group(session.id) not in get_relay().members  # the last one out leaves the group


async def test_presence_join_and_leave(session, editor_cookie, viewer_user):
    me = await connect(f"/ws/sessions/{session.id}/", editor_cookie)
    first = await frames_until(me, "presence")
    assert "Nobody else is watching." in first.html
    them = await connect(f"/ws/sessions/{session.id}/", await db(session_cookie)(viewer_user))
    joined = await frames_until(me, "presence")
    assert ">vic</li>" in joined.html and ">erin</li>" not in joined.html
    theirs = await frames_until(them, "presence")
    assert ">erin</li>" in theirs.html and ">vic</li>" not in theirs.html
    await them.disconnect()
    left = await frames_until(me, "presence")
    assert "Nobody else is watching." in left.html
    await me.disconnect()


async def test_deactivating_a_user_closes_their_sockets(session, editor_cookie, editor_user):
    detail = await open_detail(session, editor_cookie)
    listing = await connect("/ws/sessions/", editor_cookie)

    def deactivate():
        editor_user.is_active = False
        editor_user.save()

    await db(deactivate)()
    for communicator in (detail, listing):
        assert await closed_with(communicator) == 4403
        await communicator.disconnect()


async def test_periodic_check_closes_sockets_of_users_deactivated_without_signals(
    session, editor_cookie, editor_user, checks_run_by_the_test
):
    detail = await open_detail(session, editor_cookie)
    from django.contrib.auth.models import User

    await db(lambda: User.objects.filter(pk=editor_user.pk).update(is_active=False))()  # no signal
    await run_periodic_checks(session)
    assert await closed_with(detail) == 4403
    await detail.disconnect()


async def test_periodic_check_closes_sockets_whose_login_session_ended(
    session, editor_user, checks_run_by_the_test
):
    """Signing out (or the login session expiring) closes the sockets it opened, not only refuses the next."""
    signed_out_cookie, other_cookie = (
        await db(session_cookie)(editor_user),
        await db(session_cookie)(editor_user),
    )
    signed_out = await open_detail(session, signed_out_cookie)
    still_in = await open_detail(session, other_cookie)
    from django.contrib.sessions.models import Session as LoginSession

    await db(lambda: LoginSession.objects.filter(session_key=signed_out_cookie).delete())()  # as logout does
    await run_periodic_checks(session)
    assert await closed_with(signed_out) == 4403
    await signed_out.disconnect()
    # The same user's other login keeps its socket: the check is per login session, not per user.
    from sessions_app.live.consumers import _fresh_level

    assert await db(_fresh_level)(editor_user.pk, other_cookie) is not None
    assert await db(_fresh_level)(editor_user.pk, signed_out_cookie) is None
    await db(session.append)("user", "the other login still watches")
    assert (await frames_until(still_in, "delta")).version == await db(session.version)()
    await still_in.disconnect()


async def test_lost_group_membership_is_repaired_and_the_page_told_to_resync(
    session, editor_cookie, checks_run_by_the_test
):
    """Like a Redis restart: the socket's group membership vanishes and events are lost meanwhile."""
    communicator = await open_detail(session, editor_cookie)
    layer, group = get_channel_layer(), session_group(session.id)
    if hasattr(layer, "groups"):  # in-memory layer
        channels = list(layer.groups.get(group, {}))
    else:  # channels-redis keeps each group in a sorted set
        import redis.asyncio as redis

        client = redis.from_url(settings.REDIS_URL)
        channels = [c.decode() for c in await client.zrange(layer._group_key(group), 0, -1)]
        await client.aclose()
    assert channels, "the socket was not in its session's group"
    for channel in channels:
        await layer.group_discard(group, channel)
    await db(session.append)("user", "while nobody listened")
    await run_periodic_checks(session)  # sees v3, not pushed yet: it may still be on its way
    await run_periodic_checks(session)  # a period later, still not pushed: lost
    frame = await frames_until(communicator, "stale")
    assert frame.version == 3
    # The check that said "stale" had re-joined the groups first: events flow again.
    await db(session.append)("user", "after the repair")
    frame = await frames_until(communicator, "delta")
    assert (frame.base, frame.version) == (3, 4)
    await communicator.disconnect()


@pytest.mark.redis
async def test_a_socket_outlives_the_layers_group_expiry(session, editor_cookie, monkeypatch, settings):
    """channels-redis drops members added longer than group_expiry ago (86400 s in settings) on the next
    group_send: each periodic check re-adds them, so a socket connected for days keeps its events."""
    import time

    import redis.asyncio as redis

    from sessions_app.live.relay import get_relay

    settings.ZYN_LIVE_TICK_SECONDS = 3600  # no check but the one this test makes
    communicator = await open_detail(session, editor_cookie)
    layer, group = get_channel_layer(), session_group(session.id)
    client = redis.from_url(settings.REDIS_URL)
    try:
        # The process's membership of the session's group, aged past the expiry as if added days ago.
        members = await client.zrange(layer._group_key(group), 0, -1)
        assert members, "the socket's process was not in its session's group"
        days_ago = time.time() - 2 * layer.group_expiry
        await client.zadd(layer._group_key(group), {member: days_ago for member in members})
        (socket,) = get_relay().members[group].values()
        await socket.tick()  # the periodic check, run now
    finally:
        await client.aclose()
    await db(session.append)("user", "after the expiry")
    frame = await frames_until(communicator, "delta")  # not "stale": the event was delivered
    assert (frame.base, frame.version) == (2, 3)
    await communicator.disconnect()


async def test_list_feed_pushes_new_and_changed_rows(session, editor_cookie):
    communicator = await connect("/ws/sessions/", editor_cookie)
    await communicator.send_json_to({"type": "hello", "sessions": {str(session.id): 1}})
    resent = await frames_until(communicator, "row")  # the page had v1 of a row that is at v2
    assert resent.session == str(session.id) and resent.version == 2
    await frames_until(communicator, "ack")
    created = await db(SessionService.new)(name="fresh <one>")
    frame = await frames_until(communicator, "row")
    assert frame.session == str(created.id) and frame.version == 0
    assert f'id="session-{created.id}"' in frame.html and "fresh &lt;one&gt;" in frame.html
    await db(session.record_exchange)("p", "r", TokenUsage(1000, 234, 1234))
    frame = await frames_until(communicator, "row")
    assert frame.version == 3 and "1,234" in frame.html and ">5</td>" in frame.html
    await communicator.disconnect()


async def test_garbage_from_the_page_is_ignored(session, editor_cookie):
    communicator = await open_detail(session, editor_cookie)
    for text in ("not json", "[1, 2]", '{"type": "drop tables"}', '{"type": "resync", "page": "x"}'):
        await communicator.send_to(text_data=text)
    frame = await frames_until(communicator, "snapshot")  # only the last one asked for something
    assert frame.version == 2
    # Messages are handled in order: the answer to a hello comes next, nothing else came before it.
    await communicator.send_json_to({"type": "hello", "version": 2, "tail": True})
    await frames_until(communicator, "ack")
    await communicator.disconnect()


async def test_periodic_reads_are_shared_by_the_process_sockets_for_a_while(monkeypatch):
    """sharing.shared_check: concurrent and later callers within max_age share one read (200 sockets of
    one user: one permission read per half period); after max_age it reads again; a failure is not kept."""
    calls = []

    def read(value):  # noqa: ANN001, ANN202
        calls.append(value)
        if value == "boom":
            raise RuntimeError("database unavailable")
        return f"{value}#{len(calls)}"

    live.clear_cache()
    results = await asyncio.gather(*(sharing.shared_check(("k", 1), 0.3, read, "a") for _ in range(50)))
    assert set(results) == {"a#1"} and calls == ["a"]
    assert await sharing.shared_check(("k", 1), 0.3, read, "a") == "a#1"
    assert await sharing.shared_check(("k", 2), 0.3, read, "b") == "b#2"  # another key: its own read
    loop = asyncio.get_running_loop()
    real_time = loop.time
    monkeypatch.setattr(loop, "time", lambda: real_time() + 0.35)  # max_age has passed
    assert await sharing.shared_check(("k", 1), 0.3, read, "a") == "a#3"
    for _ in range(2):
        with pytest.raises(RuntimeError):
            await sharing.shared_check(("k", 3), 10, read, "boom")
    assert calls.count("boom") == 2  # the failure was not kept for 10 s

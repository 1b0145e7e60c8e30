"""Two daphne processes on one PostgreSQL + Redis: edits made through A reach a watcher on B."""

from __future__ import annotations

import asyncio

import pytest

from sessions_app.services import SessionService
from tests.live_servers import Browserless, Daphne
from tests.live_support import Watcher, session_cookie

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

PORT_A, PORT_B = 8501, 8502
WRITES = 200


def test_200_edits_through_process_a_reach_a_watcher_on_process_b_in_order(settings, editor_user):
    cookie = session_cookie(editor_user)
    session = SessionService.new(name="two processes")
    session.append("system", "Answer with JSON only.")
    start = session.version()

    with Daphne(PORT_A, redis_url=settings.REDIS_URL) as a, Daphne(PORT_B, redis_url=settings.REDIS_URL) as b:
        assert a.pid() != b.pid()
        http_a = Browserless(a.url, cookie)
        http_a.get(f"/sessions/{session.id}/")
        watcher = Watcher(f"{b.ws_url}/ws/sessions/{session.id}/", cookie, origin=b.url, version=start)

        async def scenario() -> None:
            task = asyncio.ensure_future(watcher.run())
            assert await watcher.until(lambda w: w.acks, 10), (
                "B never answered the hello"
            )  # B's socket is in its groups
            for i in range(WRITES):
                status = await asyncio.to_thread(
                    http_a.post,
                    f"/sessions/{session.id}/append/",
                    {"expected_version": start + i, "role": "user", "content": f"write {i} through A"},
                )
                assert status == 200, f"write {i} through A answered HTTP {status}"
            await watcher.until(lambda w: w.version >= start + WRITES, 10)
            watcher.stop()
            task.cancel()

        asyncio.run(scenario())

    final = start + WRITES
    assert session.version() == final
    assert watcher.version == final, f"watcher on B stopped at v{watcher.version}, expected v{final}"
    assert watcher.covered(start + 1, final), "some versions were neither received nor covered by a snapshot"
    assert watcher.order_violations == 0, f"{watcher.order_violations} frames applied out of order"
    received = list(watcher.seen)
    assert received == sorted(received), "deltas were applied out of order"
    # The point of the test is the cross-process path: most versions arrive as pushes, not resyncs.
    assert len(received) >= WRITES // 2, f"only {len(received)} of {WRITES} versions arrived as pushes"
    contents = [m.content for m in session.messages()]
    assert contents[-1] == f"write {WRITES - 1} through A"

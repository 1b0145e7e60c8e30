"""Websocket consumers of the live feeds: ``/ws/sessions/`` (the list) and ``/ws/sessions/<id>/``.

They receive the after-commit ``session.changed`` events that sessions_app.live.events publishes, read
the current state from the database (sessions_app.live.updates renders it once per version and permission
level) and push the dashboard's partials. The version in every frame, not the feed, is the truth:
the browser (static/sessions_app/live.js) asks for a snapshot when it sees a gap or reconnects.

Every socket also re-checks itself every ``live.tick_seconds()``: its user (deactivated or lost the
permission → closed), its group memberships (a restarted Redis forgets them), its presence entry,
and the session version (events lost while Redis was down → the page is told to resync).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model

from sessions_app.domain.ids import as_uuid
from sessions_app.live import sharing
from sessions_app.live import updates as live
from sessions_app.live.events import SESSION_LIST_GROUP, session_group
from sessions_app.live.presence import get_store
from sessions_app.live.relay import get_relay

logger = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403  # the user was deactivated or lost the permission: the browser must not retry
MAX_LIST_ROWS = 200  # rows a list page may ask to have re-checked


def presence_group(session_id: str) -> str:
    return f"presence.{session_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def _fresh_level(user_id: int, session_key: str | None) -> str | None:
    """The socket's level now, or None when it must close: the user was deactivated or lost the
    permission, or its login session ended (signed out, expired, password changed: the same checks as
    Django's auth.get_user on a fresh read of the session)."""
    if session_key is None:  # a socket authenticated without a login session (none in production)
        user = get_user_model().objects.filter(pk=user_id).first()
    else:
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        user = auth.get_user(SimpleNamespace(session=store))
        if user.pk != user_id:
            return None
    return None if user is None else live.level_of(user)


class NoRouteConsumer(AsyncWebsocketConsumer):
    """A websocket path that is no feed: refused at the handshake (HTTP 403), like every other refusal."""

    channel_layer_alias = None  # no channel (and no Redis read) for a socket that is only refused

    async def connect(self) -> None:
        await self.close()


class LiveConsumer(AsyncWebsocketConsumer):
    """Shared by both feeds: authorisation in connect, groups, the periodic re-check."""

    level: str | None = None
    user_id: int = 0
    ticker: asyncio.Task | None = None
    accepted: bool = False  # relayed events before the handshake is accepted are not sent
    joined: bool = False  # a member of the relay's groups (left on disconnect)
    closing: bool = False  # closed by us; the server's disconnect follows

    def live_groups(self) -> list[str]:
        """Groups this socket's own channel joins (rare messages: presence, deactivation)."""
        raise NotImplementedError

    def relay_groups(self) -> list[str]:
        """Groups of frequent events, received once per process by the relay (sessions_app.live.relay)."""
        raise NotImplementedError

    async def authorize(self) -> bool:
        """Subclass checks beyond "a user who may view sessions"; False refuses the socket."""
        return True

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.level = None if user is None else await database_sync_to_async(live.level_of)(user)
        if self.level is None or not await self.authorize():
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        self.user_id, self.user_name = user.pk, user.get_username()
        try:
            await self.join_groups()
        except Exception:
            logger.warning("live: channel layer unavailable, refusing %s", self.scope["path"], exc_info=True)
            await self.close()
            return
        await self.accept()
        self.accepted = True
        await self.after_accept()
        self.ticker = asyncio.ensure_future(self.tick_loop())

    async def join_groups(self) -> None:
        for group in self.live_groups():
            await self.channel_layer.group_add(group, self.channel_name)
        self.joined = True
        for group in self.relay_groups():
            await get_relay().join(group, self)

    async def deliver(self, event: dict[str, Any]) -> None:
        """A relayed event (sessions_app.live.relay calls every socket of the process in turn, in order)."""
        if not self.accepted or self.closing:
            return  # before the handshake the page has nothing to apply it to: its hello resyncs it
        try:
            await self.session_changed(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("live: event %s failed for %s", event, self.scope["path"], exc_info=True)

    async def session_changed(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    async def after_accept(self) -> None:
        pass

    async def disconnect(self, code: int) -> None:
        self.closing = True
        if self.ticker is not None:
            self.ticker.cancel()
        if self.level is None:
            return
        if self.joined:
            for group in self.relay_groups():
                await get_relay().leave(group, self)
        for group in self.live_groups():
            with contextlib.suppress(Exception):  # Redis may be down; its groups expire on their own
                await self.channel_layer.group_discard(group, self.channel_name)

    async def tick_loop(self) -> None:
        period = live.tick_seconds()
        await asyncio.sleep(period * random.uniform(0.5, 1.0))  # spread the sockets' checks
        while not self.closing:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("live: periodic check failed for %s", self.scope["path"], exc_info=True)
            await asyncio.sleep(period)

    async def tick(self) -> None:
        # Shared by the process's sockets of this user for half a period (a deactivation also closes
        # them at once: user_deactivated).
        session_key = getattr(self.scope.get("session"), "session_key", None)
        level = await sharing.shared_check(
            ("level", self.user_id, session_key),
            live.tick_seconds() / 2,
            _fresh_level,
            self.user_id,
            session_key,
        )
        if level is None:
            await self.refuse()
            return
        self.level = level
        await self.join_groups()

    async def user_deactivated(self, event: dict[str, Any]) -> None:
        await self.refuse()

    async def refuse(self) -> None:
        """Close for good (4403: the browser does not retry) and stop the periodic checks."""
        if not self.closing:
            self.closing = True
            await self.close(code=CLOSE_FORBIDDEN)

    def parse(self, text_data: str | None) -> dict[str, Any] | None:
        try:
            message = json.loads(text_data or "")
        except ValueError:
            return None
        return message if isinstance(message, dict) else None


class SessionDetailConsumer(LiveConsumer):
    """One session: deltas, snapshots on request, presence."""

    session_id: str = ""
    sent_version: int = -1  # newest version this socket has given the page (or the page reported)
    page: int | None = None  # the message window the page shows; None = the last one (following)
    presence_revision: int = 0
    lagging_at: int | None = None  # a version the database had at the last check and the page had not
    presence_ids: tuple[int, ...] = ()

    def live_groups(self) -> list[str]:
        return [presence_group(self.session_id), user_group(self.user_id)]

    def relay_groups(self) -> list[str]:
        return [session_group(self.session_id)]

    async def authorize(self) -> bool:
        self.session_id = str(self.scope["url_route"]["kwargs"]["session_id"])
        return await database_sync_to_async(live.session_version)(self.session_id) is not None

    async def after_accept(self) -> None:
        await self.presence_change("join")

    async def disconnect(self, code: int) -> None:
        if self.level is not None:
            await self.presence_change("leave")
        await super().disconnect(code)

    # ------------------------------------------------------------ from the page

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        message = self.parse(text_data)
        if message is None or message.get("type") not in ("hello", "resync"):
            return  # not ours; the page only says hello and asks for snapshots
        page, tail = message.get("page"), message.get("tail")
        self.page = page if isinstance(page, int) and page >= 0 and not tail else None
        version = message.get("version")
        current = await database_sync_to_async(live.session_version)(self.session_id)
        if current is None:
            await self.refuse()
            return
        if message["type"] == "hello" and isinstance(version, int) and version == current:
            self.sent_version = max(self.sent_version, current)
            await self.send(text_data=live.envelope("ack", self.session_id, current))
            return
        await self.send_snapshot(current)

    async def send_snapshot(self, current: int) -> None:
        key = ("snapshot", self.session_id, current, self.level, self.page)
        update = await sharing.shared_render(
            key, live.render_detail_snapshot, self.session_id, self.level, self.page
        )
        self.sent_version = max(self.sent_version, update.version)
        await self.send(text_data=update.html)

    # ------------------------------------------------------------ from the channel layer

    async def session_changed(self, event: dict[str, Any]) -> None:
        version = event["version"]
        if version <= self.sent_version:
            return  # already covered by a newer delta or snapshot this socket sent
        key = ("event", self.session_id, version, self.level)
        try:
            update = await sharing.shared_render(
                key, live.render_detail_event, self.session_id, version, self.level
            )
        except Exception:
            logger.warning("live: could not render %s v%s", self.session_id, version, exc_info=True)
            return  # the page sees the gap on the next event, or the tick tells it to resync
        self.sent_version = max(self.sent_version, update.version)
        await self.send(text_data=update.html)

    async def tick(self) -> None:
        await super().tick()
        current = await sharing.shared_check(
            ("version", self.session_id), live.tick_seconds() / 2, live.session_version, self.session_id
        )
        if current is None:
            await self.refuse()
            return
        if self.lagging_at is not None and self.lagging_at > self.sent_version:
            # A version seen one period ago still has not been pushed: its event was lost (Redis
            # down or restarted, over capacity). The page fetches a snapshot. (One period of grace,
            # so an event still in flight does not cause a needless resync.)
            self.sent_version = current
            await self.send(text_data=live.envelope("stale", self.session_id, current))
        self.lagging_at = current if current > self.sent_version else None
        try:
            snapshot = await get_store().refresh(
                self.session_id, self.channel_name, self.user_id, self.user_name
            )
        except Exception:
            logger.warning("live: presence store unavailable", exc_info=True)
            return
        if tuple(w.user_id for w in snapshot.watchers) != self.presence_ids:
            await self.presence_change("join", force=True)  # a process died or a broadcast was lost

    # ------------------------------------------------------------ presence

    async def presence_change(self, action: str, *, force: bool = False) -> None:
        store = get_store()
        change = store.join if action == "join" else store.leave
        try:
            snapshot = await change(self.session_id, self.channel_name, self.user_id, self.user_name)
            event = {
                "type": "presence.changed",
                "revision": snapshot.revision,
                "watchers": [w.as_dict() for w in snapshot.watchers],
            }
            if force or snapshot.changed_by(self.user_id, action):
                await self.channel_layer.group_send(presence_group(self.session_id), event)
            elif action == "join":
                # Another tab of a user already listed: nobody else's list changes (this keeps N
                # sockets of one user from costing N² presence messages); only this page needs it.
                await self.presence_changed(event)
        except Exception:
            logger.warning("live: presence %s failed for %s", action, self.session_id, exc_info=True)

    async def presence_changed(self, event: dict[str, Any]) -> None:
        if event["revision"] <= self.presence_revision:
            return  # an older list overtaken by a newer one (the channel layer may reorder)
        self.presence_revision = event["revision"]
        self.presence_ids = tuple(w["id"] for w in event["watchers"])
        await self.send(text_data=live.presence_html(event["watchers"], self.user_id))


class SessionListConsumer(LiveConsumer):
    """The list: one whole ``session-row`` per change (new sessions, counts, times, usage)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.known: dict[str, int] = {}  # rows the page shows → newest version it has

    def live_groups(self) -> list[str]:
        return [user_group(self.user_id)]

    def relay_groups(self) -> list[str]:
        return [SESSION_LIST_GROUP]

    async def session_changed(self, event: dict[str, Any]) -> None:
        session, version = event["session"], event["version"]
        if self.known.get(session, -1) >= version:
            return
        await self.send_row(session, version)

    async def send_row(self, session: str, version: int) -> None:
        try:
            update = await sharing.shared_render(
                ("row", session, version, self.level), live.render_list_row, session, self.level
            )
        except Exception:
            logger.warning("live: could not render row %s v%s", session, version, exc_info=True)
            return
        if session in self.known:
            self.known[session] = max(self.known[session], update.version)
        await self.send(text_data=update.html)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """``{"type": "hello"|"resync", "sessions": {"<id>": version, …}}``: the rows the page shows."""
        message = self.parse(text_data)
        if message is None or message.get("type") not in ("hello", "resync"):
            return
        rows = message.get("sessions")
        if not isinstance(rows, dict):
            return
        known: dict[str, int] = {}
        for session, version in list(rows.items())[:MAX_LIST_ROWS]:
            if isinstance(version, int) and as_uuid(session) is not None:
                known[session] = version
        self.known = known
        await self.send_changed_rows()
        await self.send(text_data=live.envelope("ack", "", 0))

    async def send_changed_rows(self) -> None:
        if not self.known:
            return
        current = await database_sync_to_async(live.session_versions)(list(self.known))
        for session, version in current.items():
            if version > self.known.get(session, -1):
                await self.send_row(session, version)

    async def tick(self) -> None:
        await super().tick()
        await self.send_changed_rows()

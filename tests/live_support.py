"""Helpers shared by the live-feed tests and bench/bench_fanout.py: users, cookies, frames, a watcher.

``Watcher`` is a websocket client that follows the same protocol as static/sessions_app/live.js:
it keeps the page's version, drops old frames, asks for a snapshot on a gap and after every
reconnect, and records which versions it saw (as deltas) or resynced past (snapshots).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

ENVELOPE = re.compile(r'<template data-live="(?P<kind>[a-z]+)"(?P<attrs>[^>]*)></template>')
ATTR = re.compile(r'data-(?P<name>[a-z]+)="(?P<value>[^"]*)"')


@dataclass
class Frame:
    kind: str
    session: str = ""
    version: int = -1
    base: int | None = None
    count: int | None = None
    html: str = ""


def parse_frame(text: str) -> Frame:
    match = ENVELOPE.match(text)
    if match is None:
        raise AssertionError(f"frame without a live envelope: {text[:200]!r}")
    attrs = {m["name"]: m["value"] for m in ATTR.finditer(match["attrs"])}
    return Frame(
        kind=match["kind"],
        session=attrs.get("session", ""),
        version=int(attrs.get("version", -1)),
        base=int(attrs["base"]) if "base" in attrs else None,
        count=int(attrs["count"]) if "count" in attrs else None,
        html=text[match.end() :],
    )


async def frames_until(communicator: Any, kind: str, timeout: float = 3) -> Frame:
    """A WebsocketCommunicator's frames up to and including the first of ``kind`` (presence frames, which
    come whenever someone joins or leaves, are skipped; any other frame fails the test)."""
    while True:
        frame = parse_frame(await communicator.receive_from(timeout=timeout))
        if frame.kind == kind:
            return frame
        assert frame.kind == "presence", f"expected {kind}, got {frame.kind}: {frame.html[:200]}"


PASSWORD = "pw-Live-123!"


def make_user(username: str, role: str | None, *, password: str = PASSWORD, staff: bool = False) -> Any:
    """A user in ``role`` (sessions_app.roles: "viewer", "editor", "admin") or with no permission at all
    (None). ``staff``: may sign in to the Django admin, within the role's permissions."""
    from django.contrib.auth.models import User

    from sessions_app import roles

    roles.ensure_role_groups()
    user = User.objects.create_user(username=username, password=password, is_staff=staff)
    if role is not None:
        roles.assign_role(user, role, staff=staff)
    return user


def signed_in_client(user: Any, **client_options: Any) -> Any:
    """A test client signed in as ``user`` (a login session made directly: no login form)."""
    from django.test import Client

    client = Client(**client_options)
    client.force_login(user)
    return client


def session_cookie(user: Any) -> str:
    from django.conf import settings

    return signed_in_client(user).cookies[settings.SESSION_COOKIE_NAME].value


def ws_headers(cookie: str | None, origin: str = "http://localhost", host: str = "localhost") -> list:
    from django.conf import settings

    headers = [(b"origin", origin.encode()), (b"host", host.encode())]
    if cookie:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return headers


@dataclass
class Watcher:
    """A protocol-following client of ``/ws/sessions/<id>/`` over real sockets (websockets library)."""

    url: str
    cookie: str
    origin: str
    version: int = 0
    seen: dict[int, float] = field(default_factory=dict)  # version → receive time (deltas)
    resynced: list[tuple[int, int]] = field(default_factory=list)  # (from, to) jumps by snapshot
    missing_before_resync: int = 0  # versions skipped by gaps, later covered by a snapshot
    order_violations: int = 0
    reconnects: int = 0
    frames: int = 0
    closes: list[int] = field(default_factory=list)  # close code of every connection the server ended
    refused: int = 0  # connection attempts that failed before the socket opened
    acks: int = 0  # answers to a hello: the socket is in its groups from then on
    _stop: bool = False
    _progress: asyncio.Condition | None = None

    def _frames_condition(self) -> asyncio.Condition:
        if self._progress is None:
            self._progress = asyncio.Condition()
        return self._progress

    async def until(self, predicate: Any, timeout: float) -> bool:
        """Wait, frame by frame (and close by close), until ``predicate(self)`` holds; False if it does not
        within ``timeout``."""
        progress = self._frames_condition()
        async with progress:
            try:
                await asyncio.wait_for(progress.wait_for(lambda: predicate(self)), timeout)
            except TimeoutError:
                return bool(predicate(self))
        return True

    async def _progressed(self) -> None:
        progress = self._frames_condition()
        async with progress:
            progress.notify_all()

    async def run(self, ready: asyncio.Event | None = None) -> None:
        import websockets
        from django.conf import settings

        headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={self.cookie}"}
        first = True
        while not self._stop:
            try:
                async with websockets.connect(
                    self.url, origin=self.origin, additional_headers=headers, open_timeout=5, max_size=None
                ) as ws:
                    if not first:
                        self.reconnects += 1
                    first = False
                    await ws.send(json.dumps(self.hello()))
                    if ready is not None:
                        ready.set()
                    async for text in ws:
                        await self.on_frame(ws, text)
                        await self._progressed()
                    self.closes.append(ws.close_code or 1006)  # 1000/1001: the server closed normally
                    await self._progressed()
            except websockets.ConnectionClosed as exc:
                # An error code (1011: the consumer crashed; 4403: forbidden, not retried) or no close
                # frame at all (1006: the connection was lost).
                code = exc.rcvd.code if exc.rcvd is not None else 1006
                self.closes.append(code)
                await self._progressed()
                if code >= 4000:
                    return
            except Exception:
                # Refused (HTTP 403 while the server's channel layer is down), reset, or timed out:
                # retry like htmx's ws extension does.
                if self._stop:
                    return
                self.refused += 1
            await asyncio.sleep(0.2)

    def hello(self) -> dict[str, Any]:
        return {"type": "hello", "version": self.version, "tail": True}

    async def on_frame(self, ws: Any, text: str) -> None:
        now = time.perf_counter()
        self.frames += 1
        frame = parse_frame(text)
        if frame.kind in ("presence",):
            return
        if frame.kind in ("ack", "stale"):
            self.acks += frame.kind == "ack"
            if frame.version > self.version:
                await ws.send(json.dumps({"type": "resync", "version": self.version, "tail": True}))
            return
        if frame.kind == "snapshot":
            if frame.version > self.version:
                self.resynced.append((self.version, frame.version))
                self.version = frame.version
            return
        if frame.kind == "delta":
            if frame.version <= self.version:
                return
            if frame.base != self.version:
                self.missing_before_resync += frame.base - self.version if frame.base > self.version else 0
                await ws.send(json.dumps({"type": "resync", "version": self.version, "tail": True}))
                return
            if self.seen and frame.version <= max(self.seen):
                self.order_violations += 1
            for v in range(frame.base + 1, frame.version + 1):
                self.seen[v] = now
            self.version = frame.version

    def covered(self, first: int, final: int) -> bool:
        """Every version first..final was either received in order or jumped over by a snapshot."""
        return self.uncovered(first, final) == 0

    def uncovered(self, first: int, final: int) -> int:
        """How many of the versions first..final were neither received nor jumped over by a snapshot."""
        jumped = set()
        for start, stop in self.resynced:
            jumped.update(range(start + 1, stop + 1))
        return sum(1 for v in range(first, final + 1) if v not in self.seen and v not in jumped)

    def stop(self) -> None:
        self._stop = True


@dataclass
class ListWatcher(Watcher):
    """A client of ``/ws/sessions/`` that shows the rows of ``versions`` (session id → newest version)."""

    versions: dict[str, int] = field(default_factory=dict)

    def hello(self) -> dict[str, Any]:
        return {"type": "hello", "sessions": dict(self.versions)}

    async def on_frame(self, ws: Any, text: str) -> None:
        self.frames += 1
        frame = parse_frame(text)
        if frame.kind == "row" and frame.version > self.versions.get(frame.session, frame.version):
            self.versions[frame.session] = frame.version

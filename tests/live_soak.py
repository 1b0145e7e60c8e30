"""Watchers that must stay connected: detail and list sockets spread over several daphne processes, held
through an idle period and a period of writes made through every process.

Used by tests/test_live_stays_up.py (about a minute) and bench/soak_live.py (``--minutes``). Every close
the server makes while the watchers are held is counted by code: on a healthy Redis there must be none,
and every watcher must end at the final version of each session it shows.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from tests.live_servers import Browserless, Daphne
from tests.live_support import ListWatcher, Watcher


@dataclass
class SoakResult:
    watchers: int
    processes: int
    writes: int
    seconds: float
    closes: Counter[int] = field(default_factory=Counter)  # close code → count, while held
    refused: int = 0  # reconnection attempts refused at the handshake
    missing: list[str] = field(default_factory=list)  # watchers that did not reach or cover a version
    missing_versions: int = 0  # versions a watcher neither received nor covered, summed over watchers
    deltas: int = 0  # versions received as pushes (the rest were covered by snapshots)
    resyncs: int = 0

    def summary(self) -> str:
        closes = ", ".join(f"{code}: {n}" for code, n in sorted(self.closes.items())) or "none"
        return (
            f"{self.watchers} watchers on {self.processes} processes, {self.writes} writes, "
            f"{self.seconds:.0f} s: closes {closes}; refused reconnects {self.refused}; "
            f"watchers missing a version {len(self.missing)} ({self.missing_versions} versions); "
            f"versions pushed {self.deltas}, "
            f"resyncs {self.resyncs}"
        )


class LiveSoak:
    """``details`` detail watchers per session and ``lists`` list watchers per process, all with ``cookie``;
    writes are appends made over HTTP through the processes in turn (``editor_cookie``)."""

    def __init__(
        self,
        daphnes: list[Daphne],
        sessions: dict[str, int],  # session id → its version now
        cookie: str,
        editor_cookie: str,
        *,
        details: int = 2,
        lists: int = 1,
    ) -> None:
        self.daphnes = daphnes
        self.start = dict(sessions)
        self.current = dict(sessions)
        self.writers = [Browserless(d.url, editor_cookie) for d in daphnes]
        self.detail: list[tuple[str, Watcher]] = []
        self.lists: list[ListWatcher] = []
        for d in daphnes:
            for session in sessions:
                for _ in range(details):
                    url = f"{d.ws_url}/ws/sessions/{session}/"
                    self.detail.append(
                        (session, Watcher(url, cookie, origin=d.url, version=sessions[session]))
                    )
            for _ in range(lists):
                url = f"{d.ws_url}/ws/sessions/"
                self.lists.append(ListWatcher(url, cookie, origin=d.url, versions=dict(sessions)))
        self.others: list[Watcher] = []
        self.tasks: list[asyncio.Task] = []
        self.writes = 0
        self.began = 0.0

    def watchers(self) -> list[Watcher]:
        return [w for _, w in self.detail] + self.lists + self.others

    async def connect(self, others: list[Watcher] = ()) -> None:
        """Open every socket (and ``others``, whose closes count too) and wait until each said hello."""
        self.others = list(others)
        for session in self.start:
            for writer in self.writers:
                await asyncio.to_thread(writer.get, f"/sessions/{session}/")  # its CSRF token
        readies = []
        for watcher in self.watchers():
            ready = asyncio.Event()
            readies.append(ready)
            self.tasks.append(asyncio.ensure_future(watcher.run(ready)))
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
        self.began = time.monotonic()

    async def write(self, seconds: float, rate: float) -> None:
        """Appends at ``rate``/s for ``seconds``, through each process and to each session in turn."""
        sessions = list(self.start)
        started = time.monotonic()
        for i in range(int(seconds * rate)):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            session = sessions[i % len(sessions)]
            writer = self.writers[(i // len(sessions)) % len(self.writers)]
            data = {"expected_version": self.current[session], "role": "user", "content": f"soak write {i}"}
            status = await asyncio.to_thread(writer.post, f"/sessions/{session}/append/", data)
            assert status == 200, f"write {i} through {writer.base} answered HTTP {status}"
            self.current[session] += 1
            self.writes += 1

    def _detail_done(self, session: str, w: Watcher) -> bool:
        return w.version == self.current[session] and w.covered(
            self.start[session] + 1, self.current[session]
        )

    def _list_done(self, w: ListWatcher) -> bool:
        return w.versions == self.current

    def _behind(self) -> list[str]:
        behind = [
            f"{w.url} at v{w.version}, expected v{self.current[s]}"
            for s, w in self.detail
            if not self._detail_done(s, w)
        ]
        behind += [
            f"{w.url} shows {w.versions}, expected {self.current}"
            for w in self.lists
            if not self._list_done(w)
        ]
        return behind

    async def settle(self, timeout: float = 30) -> SoakResult:
        """Wait until every watcher reached the final versions (or ``timeout``), then report."""
        await asyncio.gather(
            *(w.until(lambda w, s=s: self._detail_done(s, w), timeout) for s, w in self.detail),
            *(w.until(self._list_done, timeout) for w in self.lists),
        )
        watchers = self.watchers()
        closes: Counter[int] = Counter()
        for w in watchers:
            closes.update(w.closes)
        return SoakResult(
            watchers=len(watchers),
            processes=len(self.daphnes),
            writes=self.writes,
            seconds=time.monotonic() - self.began,
            closes=closes,
            refused=sum(w.refused for w in watchers),
            missing=self._behind(),
            missing_versions=sum(w.uncovered(self.start[s] + 1, self.current[s]) for s, w in self.detail)
            + sum(self.current[s] - w.versions.get(s, 0) for w in self.lists for s in self.current),
            deltas=sum(len(w.seen) for _, w in self.detail),
            resyncs=sum(len(w.resynced) for _, w in self.detail),
        )

    async def stop(self) -> None:
        for w in self.watchers():
            w.stop()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

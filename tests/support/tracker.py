"""A CallTracker fed live by real AMI and ARI clients against the sandbox (integration)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from edgeqa.ami.client import AmiClient
from edgeqa.ami.message import AmiMessage
from edgeqa.ari.client import AriClient
from edgeqa.calls import CallTracker
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.store.records import Event

log = logging.getLogger(__name__)


TIMEOUT_S = 20.0


class Live:
    """A tracker wired to both clients, as the daemon wires it; clients can be replaced.

    AMI events named in ``keep_ami`` are also kept raw, in ``kept``, as received.
    """

    def __init__(self, box: Sandbox, keep_ami: Iterable[str] = ()) -> None:
        self.box = box
        self.tracker = CallTracker()
        self.events: list[Event] = []
        self.keep_ami = frozenset(keep_ami)
        self.kept: list[AmiMessage] = []
        self._kept_changed = asyncio.Event()
        self.resynced = asyncio.Event()
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        #: Wall time the clients were closed (a link outage), until the next resync ends.
        self.lost_at: float | None = None

    async def start(self) -> None:
        """Connect fresh AMI and ARI clients; return once their first resync is applied."""
        self.resynced.clear()
        host, port, user, secret = self.box.ami
        self.ami = AmiClient(host, port, user, secret, on_message=self.on_ami,
                             on_session=self.resync, backoff_initial_s=0.05, backoff_max_s=0.5)
        url, ari_user, password, app = self.box.ari
        self.ari = AriClient(url, ari_user, password, app, on_event=self.on_ari,
                             backoff_initial_s=0.05, backoff_max_s=0.5)
        self._tasks = [asyncio.create_task(self.ari.run()), asyncio.create_task(self.ami.run())]
        await asyncio.wait_for(self.resynced.wait(), TIMEOUT_S)

    async def stop(self) -> None:
        """Close both clients: from now on the tracker hears nothing."""
        if self.lost_at is None:
            self.lost_at = time.time()
        await self.ami.close()
        await self.ari.close()
        await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), TIMEOUT_S)

    def _add(self, events: list[Event]) -> None:
        if events:
            self.events += events
            self._changed.set()

    def on_ami(self, msg: AmiMessage) -> None:
        if msg.event in self.keep_ami:
            self.kept.append(msg)
            self._kept_changed.set()
        self._add(self.tracker.handle_ami(msg, time.time()))

    async def wait_kept(self, event: str, timeout_s: float = TIMEOUT_S) -> AmiMessage:
        """Return the first kept AMI event named ``event``, waiting for it if need be."""
        async with asyncio.timeout(timeout_s):
            while True:
                found = next((m for m in self.kept if m.event == event), None)
                if found is not None:
                    return found
                self._kept_changed.clear()
                await self._kept_changed.wait()

    def on_ari(self, event: Any) -> None:
        self._add(self.tracker.handle_ari(event, time.time()))

    async def resync(self) -> None:
        await self.ari.wait_connected(TIMEOUT_S)
        self.tracker.begin_resync(time.time())
        msgs, channels, bridges = await list_state(self.ami, self.ari)
        self._add(self.tracker.resync_ami(msgs, time.time(), channels))
        self._add(self.tracker.resync_ari(channels, bridges, time.time()))
        self._add(self.tracker.end_resync(time.time(), lost_at=self.lost_at))
        self.lost_at = None
        self.resynced.set()

    async def wait_for(self, match: Callable[[Event], bool]) -> Event:
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                found = next((e for e in self.events if match(e)), None)
                if found is not None:
                    return found
                self._changed.clear()
                await self._changed.wait()


@contextlib.asynccontextmanager
async def running_live(box: Sandbox, keep_ami: Iterable[str] = ()) -> AsyncIterator[Live]:
    """A started Live, stopped on exit."""
    wired = Live(box, keep_ami)
    await wired.start()
    try:
        yield wired
    finally:
        await wired.stop()


async def list_state(ami: AmiClient, ari: AriClient) -> tuple[list[AmiMessage], list[Any],
                                                              list[Any]]:
    """What a resync reads: CoreShowChannels + QueueStatus items, GET /channels and /bridges."""
    _, channels = await ami.send_list_action("CoreShowChannels")
    _, queues = await ami.send_list_action("QueueStatus")
    return channels + queues, await ari.get_channels(), await ari.get_bridges()

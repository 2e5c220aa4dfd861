"""The daemon's resync step: after each (re)connect, rebuild the model from Asterisk's lists."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from edgeqa.ami.client import AmiClient
from edgeqa.ami.message import AmiMessage
from edgeqa.ari.client import AriClient
from edgeqa.ari.rest import AriError
from edgeqa.calls.tracker import CallTracker
from edgeqa.store.records import Event

log = logging.getLogger(__name__)

#: AMI list actions whose items the tracker's resync_ami understands.
RESYNC_ACTIONS = ("CoreShowChannels", "QueueStatus")


class Resyncer:
    """Runs tracker.begin_resync / resync_ami / resync_ari / end_resync, one at a time."""

    def __init__(self, tracker: CallTracker, ami: AmiClient, ari: AriClient, *,
                 submit: Callable[[Iterable[Event]], None],
                 emit: Callable[[str, Mapping[str, Any]], None],
                 wall: Callable[[], float], mono: Callable[[], float],
                 action_timeout_s: float) -> None:
        self._tracker = tracker
        self._ami = ami
        self._ari = ari
        self._submit = submit
        self._emit = emit
        self._wall = wall
        self._mono = mono
        self._timeout_s = action_timeout_s
        self._lock = asyncio.Lock()
        self._down_since: float | None = None
        self._down_wall: float | None = None
        self._stale_calls: dict[str, Mapping[str, Any]] = {}
        self.last: dict[str, Any] | None = None
        self.count = 0

    def note_down(self, mono_now: float) -> None:
        """Remember when the AMI link dropped: the next resync reports the outage, and ends
        what Asterisk no longer has at that (wall) time, not at the resync."""
        if self._down_since is None:
            self._down_since = mono_now
            self._down_wall = self._wall()

    def remember_open_calls(self, calls: Sequence[Mapping[str, Any]]) -> None:
        """Calls the store holds open from a previous run: one still up at the first resync
        keeps its stored start and answer; one gone is ended by that resync."""
        for row in calls:
            data = row.get("data")
            if isinstance(data, Mapping) and isinstance(data.get("call"), Mapping):
                self._stale_calls[str(row["id"])] = data["call"]
        self._tracker.remember_calls(self._stale_calls.values())

    async def resync(self, trigger: str) -> None:
        """Rebuild the model from AMI (and ARI when connected); AMI errors propagate.

        A list that fails half-way cancels the resync, so nothing is swept on partial lists:
        AMI errors (and cancellation) are re-raised, an ARI error is logged and the resync
        skipped (the reconnect of the failing link brings the next one).
        """
        if not self._ami.connected:
            return  # AMI lists every channel; without it the resync would sweep live calls
        async with self._lock:
            started = self._mono()
            self._tracker.begin_resync(self._wall())
            try:
                items, channels = await self._read_lists()
            except AriError as exc:
                self._tracker.cancel_resync()
                log.warning("resync (%s) abandoned: ARI lists failed (%s); nothing swept",
                            trigger, exc)
                return
            except BaseException:
                self._tracker.cancel_resync()
                raise
            self._submit(self._tracker.end_resync(self._wall(), lost_at=self._down_wall))
            self._end_stale_calls()
            done = self._mono()
            self.count += 1
            self.last = {
                "trigger": trigger,
                "duration_s": round(done - started, 4),
                "outage_s": None if self._down_since is None
                else round(done - self._down_since, 4),
                "ami_items": len(items),
                "ari_channels": len(channels) if channels is not None else None,
                "calls": len(self._tracker.snapshot()["calls"]),
            }
            self._down_since = self._down_wall = None
            log.info("resync (%s) done in %.3f s: %d AMI items, %s ARI channels", trigger,
                     done - started, len(items), self.last["ari_channels"])
            self._emit("resync.completed", self.last)

    async def _read_lists(self) -> tuple[list[AmiMessage], list[dict[str, Any]] | None]:
        """Read AMI's lists, then ARI's (None when ARI is down), then apply them in that order;
        raise on any failure (nothing is applied then)."""
        items: list[AmiMessage] = []
        for action in RESYNC_ACTIONS:
            _, listed = await self._ami.send_list_action(action, timeout_s=self._timeout_s)
            items += listed
        if not self._ari.connected:
            self._submit(self._tracker.resync_ami(items, self._wall()))
            return items, None
        channels = await self._ari.get_channels()
        bridges = await self._ari.get_bridges()
        self._submit(self._tracker.resync_ami(items, self._wall(), channels))
        self._submit(self._tracker.resync_ari(channels, bridges, self._wall()))
        return items, channels

    def _end_stale_calls(self) -> None:
        """End calls a previous run left open that Asterisk no longer has (hang-up missed).

        When they ended is unknown (the daemon was not running); they end now, or when the
        AMI link dropped if this resync follows an outage. The tracker produces their
        call.ended and CallEnded, so live metrics learn of them like of any other end.
        """
        if not self._stale_calls:
            return
        now = self._wall()
        at = now if self._down_wall is None else self._down_wall
        events: list[Event] = []
        for _, call in sorted(self._stale_calls.items()):
            events += self._tracker.end_stored_call(call, at)
        self._stale_calls.clear()
        if events:
            log.info("resync: ended %d calls left open by a previous run", len(events))
        self._submit(events)

"""Async service: tap each leg of one call (snoop spy=in + mixing bridge + externalMedia slin16).

Per leg: ``POST /channels/{leg}/snoop?spy=in`` (what that leg's phone says), a mixing bridge,
and ``POST /channels/externalMedia?format=slin16`` aimed at our RTP receiver; each helper is
added to the bridge only after its StasisStart (NOTES.md: the 422 race). Asterisk sends that
leg's RTP from the externalMedia channel's UNICASTRTP_LOCAL_ADDRESS:PORT, which routes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edgeqa.ari.resources import AriResources
from edgeqa.ari.rest import AriError, AriHttpError
from edgeqa.live.call import LiveCall
from edgeqa.live.router import Address, TapRouter
from edgeqa.metrics.events import LEGS, Leg, MetricEvent

_LOG = logging.getLogger(__name__)

#: Wait for each helper channel's StasisStart before addChannel.
STASIS_TIMEOUT_S = 5.0
#: The live cadence: per-second samples and alerts are due within 1 s (metrics.md).
TICK_S = 0.25
AUDIO_FORMAT = "slin16"
SAMPLE_RATE = 16000
_END_EVENTS = ("ChannelDestroyed", "StasisEnd", "ChannelHangupRequest")


class TapError(Exception):
    """A tap could not be set up (what was created so far is torn down by close())."""


@dataclass(slots=True)
class LegTap:
    """The ARI objects tapping one leg (ids filled in as they are created)."""

    leg: Leg
    channel_id: str
    bridge_id: str | None = None
    snoop_id: str | None = None
    media_id: str | None = None
    rtp_source: Address | None = None


def rtp_source(media_channel: Mapping[str, Any]) -> Address:
    """Return the address Asterisk sends an externalMedia channel's RTP from (its channelvars)."""
    variables = media_channel.get("channelvars")
    if not isinstance(variables, Mapping):
        raise TapError(f"externalMedia channel {media_channel.get('id')} has no channelvars")
    host, port = variables.get("UNICASTRTP_LOCAL_ADDRESS"), variables.get("UNICASTRTP_LOCAL_PORT")
    if not isinstance(host, str) or not isinstance(port, str) or not port.isdigit():
        raise TapError(f"externalMedia channel without a local RTP address: {variables!r}")
    return host, int(port)


class CallTaps:
    """Taps both legs of one call into a LiveCall; close() removes every channel and bridge."""

    def __init__(self, ari: AriResources, router: TapRouter, receiver: Address,
                 call: LiveCall, channels: Mapping[Leg, str], *,
                 stasis_timeout_s: float = STASIS_TIMEOUT_S) -> None:
        self.ari = ari
        self.router = router
        self.receiver = receiver
        self.call = call
        self.taps: dict[Leg, LegTap] = {leg: LegTap(leg, channels[leg]) for leg in LEGS}
        self.stasis_timeout_s = stasis_timeout_s
        self.ended = asyncio.Event()
        self._closed = False

    async def start(self) -> None:
        """Create both legs' taps; on failure tear down what exists and raise TapError."""
        try:
            for tap in self.taps.values():
                await self._tap(tap)
        except (AriError, TapError, ValueError, OverflowError) as exc:
            await self.close()
            raise TapError(f"tapping call {self.call.call_id} failed: {exc}") from exc

    async def _tap(self, tap: LegTap) -> None:
        ari, name = self.ari, f"edgeqa-tap-{self.call.call_id}-{tap.leg}"
        tap.bridge_id = str((await ari.create_bridge("mixing", name=name))["id"])
        tap.snoop_id = str((await ari.snoop(tap.channel_id, spy="in"))["id"])
        await ari.add_channel_when_ready(tap.bridge_id, tap.snoop_id, self.stasis_timeout_s)
        host, port = self.receiver
        media = await ari.external_media(f"{host}:{port}", audio_format=AUDIO_FORMAT)
        tap.media_id = str(media["id"])
        tap.rtp_source = rtp_source(media)
        self.router.add(tap.rtp_source, self.call, tap.leg)
        await ari.add_channel_when_ready(tap.bridge_id, tap.media_id, self.stasis_timeout_s)
        _LOG.info("call %s leg %s tapped: snoop %s, RTP from %s:%d", self.call.call_id,
                  tap.leg, tap.snoop_id, tap.rtp_source[0], tap.rtp_source[1])

    def handle_event(self, body: Mapping[str, Any]) -> None:
        """ARI event hook: a tapped leg or its snoop going away ends the call."""
        if body.get("type") not in _END_EVENTS:
            return
        channel = body.get("channel")
        if not isinstance(channel, Mapping):
            return
        gone = channel.get("id")
        if any(gone in (t.channel_id, t.snoop_id) for t in self.taps.values()):
            self.ended.set()

    async def run(self, clock: Callable[[], float],
                  on_events: Callable[[LiveCall, list[MetricEvent]], None],
                  tick_s: float = TICK_S) -> list[MetricEvent]:
        """Tick the call until it ends, then tear down and return the final events."""
        while not self.ended.is_set():
            try:
                await asyncio.wait_for(self.ended.wait(), tick_s)
            except TimeoutError:
                events = self.call.tick(clock())
                if events:
                    on_events(self.call, events)
        return await self.close(clock())

    async def close(self, now_s: float | None = None) -> list[MetricEvent]:
        """Tear down every helper channel and bridge (idempotent); finish the call if ``now_s``."""
        out: list[MetricEvent] = []
        if not self._closed:
            self._closed = True
            self.router.remove_call(self.call)
            for tap in self.taps.values():
                for channel_id in (tap.media_id, tap.snoop_id):
                    if channel_id is not None:
                        await self._quietly(self.ari.hangup(channel_id), "hang up", channel_id)
                if tap.bridge_id is not None:
                    await self._quietly(self.ari.delete_bridge(tap.bridge_id), "delete bridge",
                                        tap.bridge_id)
        if now_s is not None and not self.call.finished:
            out = self.call.finish(now_s)
        return out

    async def _quietly(self, action: Awaitable[None], what: str, ident: str) -> None:
        try:
            await action
        except AriHttpError as exc:
            if exc.status != 404:  # already gone: a snoop ends with its channel
                _LOG.warning("could not %s %s: %s", what, ident, exc)
        except AriError as exc:
            _LOG.warning("could not %s %s: %s", what, ident, exc)

"""Async service: tap each leg of one call (snoop spy=in + mixing bridge + externalMedia slin16).

Per leg: ``POST /channels/{leg}/snoop?spy=in`` (what that leg's phone says), a mixing bridge,
and ``POST /channels/externalMedia?format=slin16`` aimed at our RTP receiver; each helper is
added to the bridge only after its StasisStart (docs/asterisk.md, "The 422 race"). Asterisk
sends that leg's RTP from the externalMedia channel's UNICASTRTP_LOCAL_ADDRESS:PORT, which
routes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from edgeqa.ari.resources import AriResources
from edgeqa.ari.rest import AriError, AriHttpError
from edgeqa.live.call import LiveCall
from edgeqa.live.events import GAP_TAP_FAILED
from edgeqa.live.router import Address, TapRouter
from edgeqa.media.timeline import WireCodec
from edgeqa.metrics.events import LEGS, Leg

log = logging.getLogger(__name__)

#: Wait for each helper channel's StasisStart before addChannel.
STASIS_TIMEOUT_S = 5.0
#: The live cadence: per-second samples and alerts are due within 1 s (metrics.md).
TICK_S = 0.25
AUDIO_FORMAT: Final = "slin16"
SAMPLE_RATE = 16000
_END_EVENTS = ("ChannelDestroyed", "StasisEnd", "ChannelHangupRequest")
#: A helper channel gone while the call is up: wait this long for the call's own end (its
#: legs' hang-up may come just after) before calling it a failed tap and tapping again.
TAP_FAILED_GRACE_S = 1.0
#: Give up re-tapping a call after this many failures in a row.
MAX_RETAPS = 3


async def _first(*events: asyncio.Event) -> None:
    """Wait until one of ``events`` is set."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


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
    """Taps both legs of one call into a LiveCall; close() removes every channel and bridge.

    A helper channel (snoop, externalMedia) going away while the call is up is a gap
    (``tap_failed``), and the call is tapped again.
    """

    def __init__(self, ari: AriResources, router: TapRouter, receiver: Address,
                 call: LiveCall, channels: Mapping[Leg, str], *,
                 stasis_timeout_s: float = STASIS_TIMEOUT_S) -> None:
        self.ari = ari
        self.router = router
        self.receiver = receiver
        self.call = call
        self.channels = dict(channels)
        self.taps: dict[Leg, LegTap] = {leg: LegTap(leg, channels[leg]) for leg in LEGS}
        self.stasis_timeout_s = stasis_timeout_s
        self.ended = asyncio.Event()
        self.failed = asyncio.Event()
        #: Wall time the call ended, when the tracker said so (else: when ``ended`` was seen).
        self.ended_at: float | None = None
        self.retaps = 0
        #: True once run() began: the call's audio has been analysed since its taps came up.
        self.running = False
        self._closed = False

    def end(self, at: float | None = None) -> None:
        """The call ended at wall time ``at`` (None: now); run() returns."""
        if at is not None and self.ended_at is None:
            self.ended_at = at
        self.ended.set()

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
        # A call analysed at 8 kHz (it may have been captured): slin, the snoop's own format.
        audio_format: WireCodec = AUDIO_FORMAT if self.call.sample_rate == SAMPLE_RATE \
            else "slin"
        media = await ari.external_media(f"{host}:{port}", audio_format=audio_format)
        tap.media_id = str(media["id"])
        tap.rtp_source = rtp_source(media)
        self.router.add(*tap.rtp_source, audio_format, self.call, tap.leg)
        await ari.add_channel_when_ready(tap.bridge_id, tap.media_id, self.stasis_timeout_s)
        log.info("call %s leg %s tapped: snoop %s, RTP from %s:%d", self.call.call_id,
                 tap.leg, tap.snoop_id, tap.rtp_source[0], tap.rtp_source[1])
        await self._take_law(tap)

    async def _take_law(self, tap: LegTap) -> None:
        """A G.711 leg reaches us as resampled slin, whose samples no longer show its law:
        take the law from the channel, so its clips are judged against the law's maximum
        (metrics.md, codec_max). Unknown (ARI refuses): the samples decide, as linear PCM."""
        try:
            native = await self.ari.get_variable(tap.channel_id, "CHANNEL(audionativeformat)")
        except AriError as exc:
            log.info("call %s leg %s: codec unknown (%s)", self.call.call_id, tap.leg, exc)
            return
        law = native.strip().strip("()")
        if law in ("ulaw", "alaw"):
            self.call.analyzer.set_law(tap.leg, "ulaw" if law == "ulaw" else "alaw")

    def handle_event(self, body: Mapping[str, Any]) -> None:
        """ARI event hook: a tapped leg going away ends the call; a helper going away fails."""
        if body.get("type") not in _END_EVENTS:
            return
        channel = body.get("channel")
        if not isinstance(channel, Mapping):
            return
        gone = channel.get("id")
        if any(gone == t.channel_id for t in self.taps.values()):
            self.ended.set()
        elif any(gone in (t.snoop_id, t.media_id) for t in self.taps.values()):
            self.failed.set()

    async def run(self, clock: Callable[[], float], tick_s: float | None = TICK_S) -> None:
        """Tick the call (loop time from ``clock``) until it ends; re-tap a failed tap.

        ``tick_s`` None: someone else ticks the call (LiveMetrics' one timer for all calls).
        """
        self.running = True
        while not self.ended.is_set():
            if self.failed.is_set():
                await self._recover(clock)
                continue
            if tick_s is None:
                await _first(self.ended, self.failed)
                continue
            try:
                await asyncio.wait_for(self.ended.wait(), tick_s)
            except TimeoutError:
                self.call.tick(clock())

    async def _recover(self, clock: Callable[[], float]) -> None:
        """A helper channel went away: a tap_failed gap from now, and new taps.

        Its leg's audio stops now, so the analysis stops now (no silence is made up for it):
        routes dropped, call suspended. If the call itself ends within the grace period (a
        hang-up takes the snoops first), it ended with its audio: no gap, no new taps.
        """
        failed_s = self.call.clock.from_loop(clock())
        self.router.remove_call(self.call)
        self.call.suspend(failed_s, GAP_TAP_FAILED)
        try:
            await asyncio.wait_for(self.ended.wait(), TAP_FAILED_GRACE_S)
            failed_at = self.call.clock.wall(failed_s)
            self.ended_at = failed_at if self.ended_at is None else min(self.ended_at, failed_at)
            return
        except TimeoutError:
            pass
        await self._teardown()
        self.failed.clear()
        self.retaps += 1
        if self.retaps > MAX_RETAPS:
            log.warning("call %s: tap failed %d times; not tapping again", self.call.call_id,
                        self.retaps)
            await self.ended.wait()
            return
        log.warning("call %s: a tap channel went away at %.2f s; tapping again",
                    self.call.call_id, failed_s)
        self.taps = {leg: LegTap(leg, self.channels[leg]) for leg in LEGS}
        self._closed = False
        try:
            await self.start()
        except TapError as exc:
            log.warning("call %s: tapping again failed: %s", self.call.call_id, exc)
            self.failed.set()
            await asyncio.sleep(TAP_FAILED_GRACE_S)

    async def close(self) -> None:
        """Tear down every helper channel and bridge (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._teardown()

    async def _teardown(self) -> None:
        self.router.remove_call(self.call)
        for tap in self.taps.values():
            for channel_id in (tap.media_id, tap.snoop_id):
                if channel_id is not None:
                    await self._quietly(self.ari.hangup(channel_id), "hang up", channel_id)
            if tap.bridge_id is not None:
                await self._quietly(self.ari.delete_bridge(tap.bridge_id), "delete bridge",
                                    tap.bridge_id)
            tap.media_id = tap.snoop_id = tap.bridge_id = None

    async def _quietly(self, action: Awaitable[None], what: str, ident: str) -> None:
        try:
            await action
        except AriHttpError as exc:
            if exc.status != 404:  # already gone: a snoop ends with its channel
                log.warning("could not %s %s: %s", what, ident, exc)
        except AriError as exc:
            log.warning("could not %s %s: %s", what, ident, exc)

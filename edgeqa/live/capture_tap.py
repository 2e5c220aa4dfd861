"""The capture tap: each leg's own RTP, captured on the host, instead of a snoop.

Per leg, ARI tells where its media flows (``GET /channels/{id}/variable``, the PJSIP
``CHANNEL(rtp,...)`` function, channels/pjsip/dialplan_functions.c): ``CHANNEL(rtp,src)`` is
Asterisk's local RTP address of the leg, where that leg's phone sends what it says (the audio
a ``spy=in`` snoop would hear), and the capture KEY; ``CHANNEL(rtp,secure)`` is 1 for SRTP;
``CHANNEL(rtp,direct)`` the phone's address when media flows phone to phone (direct media),
``(null)`` otherwise; ``CHANNEL(audionativeformat)`` the negotiated codec.

A leg can be captured when its media is plain RTP through the host with G.711 (``ulaw`` or
``alaw``, 8 kHz); the call is analysed at 8 kHz. Otherwise (SRTP, direct media, another
codec, a channel that is not PJSIP, no capture on this host), the whole call uses the snoop
tap (CallTaps, in 8 kHz ``slin``) when ``[live] tap = "auto"``, or gets call.metrics_unavailable
with the reason when ``tap = "capture"``. Media that moves while the call is up (a re-INVITE,
a transfer, hold) is found again: on the tracker's word and when a leg's packets stop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from edgeqa.ari.resources import AriResources
from edgeqa.ari.rest import AriError, AriHttpError
from edgeqa.live.call import LiveCall
from edgeqa.live.events import GAP_TAP_FAILED
from edgeqa.live.taps import TapError
from edgeqa.media import engine
from edgeqa.media.capture import CaptureStats, CaptureUnavailable, RingLimits, RtpCapture
from edgeqa.media.ingest import Ingest
from edgeqa.media.timeline import WireCodec
from edgeqa.metrics.events import LEGS, Leg

log = logging.getLogger(__name__)

Codec = Literal["ulaw", "alaw"]
#: The codecs capture decodes (RTP payload types 0 and 8), by Asterisk's format name.
CAPTURE_CODECS: tuple[Codec, ...] = ("ulaw", "alaw")
SAMPLE_RATE = 8000
#: A call that may be captured is set up as µ-law; each captured leg then takes its own codec
#: (LiveCall.set_codec: A-law's clip level differs by 0.04 dB).
CAPTURE_CODEC: WireCodec = "ulaw"
#: What is asked of Asterisk per leg (dialplan functions, read through ARI).
VAR_SRC = "CHANNEL(rtp,src)"
VAR_SECURE = "CHANNEL(rtp,secure)"
VAR_DIRECT = "CHANNEL(rtp,direct)"
VAR_FORMAT = "CHANNEL(audionativeformat)"
LEG_VARIABLES = (VAR_SRC, VAR_SECURE, VAR_DIRECT, VAR_FORMAT)
#: A leg with no packet for this long (call time) is looked up again: its media may have moved.
STALE_S = 2.0
#: ... at most this often per call.
RECHECK_EVERY_S = 2.0
#: How often a captured call's task looks at whether a recheck is due.
CHECK_POLL_S = 1.0


class NotCapturable(Exception):
    """This leg's media cannot be captured on the host; the message says why."""


@dataclass(frozen=True, slots=True)
class LegMedia:
    """Where one leg's phone sends its RTP (Asterisk's side), and in which codec."""

    host: bytes  # packed address; b"" when Asterisk's RTP is bound to any address
    port: int
    codec: Codec

    def describe(self) -> str:
        host = str(ipaddress.ip_address(self.host)) if self.host else "*"
        return f"{host}:{self.port} {self.codec}"


def parse_address(text: str) -> tuple[bytes, int]:
    """``1.2.3.4:5``, ``[::1]:5`` (ast_sockaddr_stringify) -> (packed host or b"" for any, port)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise NotCapturable(f"RTP address {text!r} has no port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        addr = ipaddress.ip_address(host)
    except ValueError as exc:
        raise NotCapturable(f"RTP address {text!r} is not an IP address") from exc
    return (b"" if addr.is_unspecified else addr.packed), int(port)


def leg_media(values: Mapping[str, str], port_range: tuple[int, int]) -> LegMedia:
    """The capture key of one leg from its LEG_VARIABLES values; NotCapturable says why not."""
    if values.get(VAR_SECURE, "").strip() == "1":
        raise NotCapturable("its media is SRTP (encrypted)")
    direct = values.get(VAR_DIRECT, "").strip()
    if direct and direct != "(null)" and not direct.startswith("0.0.0.0:") \
            and not direct.startswith("[::]:"):
        raise NotCapturable(f"direct media to {direct}: its RTP does not pass through the host")
    native = values.get(VAR_FORMAT, "").strip().strip("()")
    formats = [f for f in native.split("|") if f]
    if len(formats) != 1 or formats[0] not in CAPTURE_CODECS:
        raise NotCapturable(f"its codec is {native or 'unknown'!r}, not one of "
                            f"{'/'.join(CAPTURE_CODECS)}")
    host, port = parse_address(values.get(VAR_SRC, ""))
    if not port_range[0] <= port <= port_range[1]:
        raise NotCapturable(f"its RTP port {port} is outside the captured range "
                            f"{port_range[0]}-{port_range[1]} ([live] capture_port_start/end)")
    codec: Codec = "ulaw" if formats[0] == "ulaw" else "alaw"
    return LegMedia(host, port, codec)


async def resolve_leg(ari: AriResources, channel_id: str,
                      port_range: tuple[int, int]) -> LegMedia:
    """Ask Asterisk where the leg's media flows; NotCapturable (with the reason) if it cannot
    be captured (or Asterisk answered an error: no such channel, not PJSIP, no RTP), AriError
    if Asterisk could not be asked."""
    got = await asyncio.gather(*(ari.get_variable(channel_id, v) for v in LEG_VARIABLES),
                               return_exceptions=True)
    values: dict[str, str] = {}
    for name, value in zip(LEG_VARIABLES, got, strict=True):
        if isinstance(value, BaseException):
            if isinstance(value, AriHttpError):
                raise NotCapturable(f"{name} of channel {channel_id}: {value}") from value
            raise value
        values[name] = value
    return leg_media(values, port_range)


def new_engine(max_legs: int, depth_packets: int) -> Ingest:
    """The ingest engine (compiled, or its reference)."""
    return engine.Ingest(max_legs, depth_packets)


class CaptureService:
    """The host's one capture ring and ingest engine, shared by every captured call."""

    def __init__(self, port_range: tuple[int, int], max_legs: int, depth_packets: int,
                 limits: RingLimits | None = None) -> None:
        self.port_range = port_range
        self.max_legs = max_legs
        self.depth_packets = depth_packets
        self.limits = limits
        self.engine: Ingest | None = None
        self.reader: RtpCapture | None = None
        #: Why capture is off on this host (None: it is on).
        self.unavailable: str | None = "not opened"

    def open(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Start capturing; False (reason logged once, kept in ``unavailable``) if impossible."""
        try:
            ingest = new_engine(self.max_legs, self.depth_packets)
            reader = RtpCapture(ingest.feed_block, loop.time, self.limits)
            reader.open(loop, *self.port_range)
        except (CaptureUnavailable, ValueError) as exc:  # IngestError: a bad limit
            self.unavailable = str(exc)
            log.warning("live metrics: host RTP capture is off, calls use the snoop tap: %s",
                        exc)
            return False
        self.engine, self.reader, self.unavailable = ingest, reader, None
        return True

    def health(self) -> dict[str, Any]:
        """Counters for /v1/health (ring, kernel drops, engine)."""
        if self.reader is None or self.engine is None:
            return {"enabled": False, "reason": self.unavailable}
        s: CaptureStats = self.reader.poll_stats()
        return {"enabled": True, "wakeups": s.wakeups, "blocks": s.blocks, "frames": s.frames,
                "full_wakeups": s.full_wakeups, "sink_errors": s.sink_errors,
                "kernel_packets": s.kernel_packets, "kernel_drops": s.kernel_drops,
                "kernel_freezes": s.kernel_freezes, "engine": self.engine.stats()}

    def hold(self) -> None:
        """The live calls' one timer reads the ring from now on (RtpCapture.hold)."""
        if self.reader is not None:
            self.reader.hold()

    def drain(self) -> None:
        """Read what the ring holds now (the timer, before it ticks calls)."""
        if self.reader is not None:
            self.reader.drain()

    def release(self) -> None:
        """The ring wakes its reader again (no live call is ticked)."""
        if self.reader is not None:
            self.reader.release()

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


#: Builds the snoop tap for a call (the fallback): CallTaps.
SnoopFactory = Callable[[], Any]


class CallCapture:
    """Both legs of one call from the capture ring into its LiveCall (each leg a slot of the
    shared ingest engine, attached to the call: the call takes its audio at its ticks); the
    same surface as CallTaps (start, run, end, handle_event, close, ended, failed, running).
    With a ``fallback``, a call (or, mid-call, one whose media moved where capture cannot see
    it) goes over to the snoop tap."""

    def __init__(self, ari: AriResources, capture: CaptureService, call: LiveCall,
                 channels: Mapping[Leg, str], *, fallback: SnoopFactory | None = None,
                 loop_time: Callable[[], float] | None = None) -> None:
        if capture.engine is None:
            raise ValueError("capture is not open")
        self.ari = ari
        self.capture = capture
        self.engine: Ingest = capture.engine
        self.call = call
        self.channels = dict(channels)
        self.fallback = fallback
        self.snoop: Any = None  # the CallTaps this call went over to
        self.media: dict[Leg, LegMedia] = {}
        self.slots: dict[Leg, int] = {}
        self.ended = asyncio.Event()
        self.ended_at: float | None = None
        self.running = False
        self._failed = asyncio.Event()  # capture itself never fails a call: it goes over
        self._loop_time = loop_time or asyncio.get_running_loop().time
        self._recheck = asyncio.Event()
        self._checked_at = -1e9
        #: Wakes run(): the call ended, or poll() found a lookup due.
        self._wake = asyncio.Event()
        self._polled_at = -1e9
        self._opened_at = 0.0
        self._closed = False

    # --- the CallTaps surface --------------------------------------------------------------

    @property
    def taps(self) -> Mapping[Leg, Any]:
        """The snoop tap's per-leg objects (empty while capturing: nothing to sweep)."""
        return self.snoop.taps if self.snoop is not None else {}

    @property
    def failed(self) -> asyncio.Event:
        """Set while the snoop tap this call went over to is failed (its ticks wait)."""
        return self.snoop.failed if self.snoop is not None else self._failed

    @property
    def mode(self) -> str:
        return "snoop" if self.snoop is not None else "capture"

    def end(self, at: float | None = None) -> None:
        if at is not None and self.ended_at is None:
            self.ended_at = at
        self._end_now()
        if self.snoop is not None:
            self.snoop.end(at)

    def handle_event(self, body: Mapping[str, Any]) -> None:
        if self.snoop is not None:
            self.snoop.handle_event(body)
            if self.snoop.ended.is_set():
                self._end_now()
            return
        if body.get("type") not in ("ChannelDestroyed", "StasisEnd", "ChannelHangupRequest"):
            return
        channel = body.get("channel")
        if isinstance(channel, Mapping) and channel.get("id") in self.channels.values():
            self._end_now()

    def _end_now(self) -> None:
        self.ended.set()
        self._wake.set()

    def poll(self, now: float) -> None:
        """Wake run() if the legs' media is due a lookup (see _due); LiveMetrics' one timer
        calls it at each tick, and it looks at most every CHECK_POLL_S (no timer per call)."""
        if now - self._polled_at < CHECK_POLL_S:
            return
        self._polled_at = now
        if self.ended.is_set() or (self.snoop is None and self._due(now)):
            self._wake.set()

    def media_may_have_moved(self) -> None:
        """A hold, a re-INVITE: look the legs' media up again soon."""
        self._recheck.set()

    def channels_changed(self, channels: Mapping[Leg, str]) -> None:
        """The tracker connected the call with other channels (a transfer)."""
        if dict(channels) != self.channels:
            self.channels = dict(channels)
            if self.snoop is None:
                self._recheck.set()

    def link_down(self) -> None:
        """A link to Asterisk dropped (the call's audio is a pbx_outage gap): the phones may
        still send, but that is not the call's audio until Asterisk confirms the legs' media
        again (the next lookup that succeeds reopens them)."""
        if self.snoop is None and self.slots:
            self._close_slots()
            self._recheck.set()

    async def start(self) -> None:
        """Resolve and open both legs; on NotCapturable go over to the snoop tap, or raise
        TapError with the reason (no fallback)."""
        try:
            media = await self._resolve()
        except (NotCapturable, AriError) as exc:
            await self._to_snoop(str(exc))
            return
        try:
            self._open(media)
        except (OverflowError, ValueError) as exc:
            self._close_slots()
            await self._to_snoop(f"the ingest engine refused a leg: {exc}")
            return
        log.info("call %s captured: %s", self.call.call_id,
                 ", ".join(f"{leg} {m.describe()}" for leg, m in self.media.items()))

    async def _resolve(self) -> dict[Leg, LegMedia]:
        found: dict[Leg, LegMedia] = {}
        for leg in LEGS:
            try:
                found[leg] = await resolve_leg(self.ari, self.channels[leg],
                                               self.capture.port_range)
            except NotCapturable as exc:
                raise NotCapturable(f"{leg} leg: {exc}") from exc
        if found["customer"].port == found["agent"].port and \
                found["customer"].host == found["agent"].host:
            raise NotCapturable("both legs report the same RTP address")
        return found

    def _open(self, media: Mapping[Leg, LegMedia]) -> None:
        """Open a slot per leg and attach it to the call."""
        offset = self.call.clock_offset_s
        self._opened_at = self._loop_time()
        for leg, m in media.items():
            slot = self.engine.open_leg(m.host, m.port, m.codec, offset)
            self.slots[leg] = slot
            self.media[leg] = m
            self.call.attach(leg, self.engine, slot)
            self.call.set_codec(leg, m.codec)

    def _close_slots(self) -> None:
        """Detach each leg (its slot's audio is analysed first) and free its slot."""
        for leg, slot in self.slots.items():
            self.call.detach(leg)
            self.engine.close_leg(slot)
        self.slots.clear()
        self.media.clear()

    async def _to_snoop(self, reason: str) -> None:
        if self.fallback is None:
            raise TapError(f"call {self.call.call_id} cannot be captured: {reason}")
        log.info("call %s: not captured (%s); using the snoop tap", self.call.call_id, reason)
        snoop = self.fallback()
        await snoop.start()
        self.snoop = snoop

    async def run(self, clock: Callable[[], float], tick_s: float | None = None) -> None:
        """Until the call ends: look its legs' media up again when due. ``tick_s``: tick the
        call that often too (None: someone else ticks it, LiveMetrics' one timer, which also
        polls it: see poll)."""
        self.running = True
        while not self.ended.is_set():
            if self.snoop is not None:
                await self._run_snoop(clock, tick_s)
                return
            if tick_s is None:
                await self._wake.wait()
                self._wake.clear()
            else:
                try:
                    async with asyncio.timeout(tick_s):  # no task per wait, unlike wait_for
                        await self.ended.wait()
                except TimeoutError:
                    pass
            now = clock()
            if tick_s is not None and not self.ended.is_set():
                self.call.tick(now)
            if not self.ended.is_set() and self._due(now):
                await self._reresolve(now)

    async def _run_snoop(self, clock: Callable[[], float], tick_s: float | None) -> None:
        if self.ended.is_set():
            self.snoop.end(self.ended_at)
        await self.snoop.run(clock, tick_s=tick_s)
        if self.ended_at is None:
            self.ended_at = self.snoop.ended_at
        self.ended.set()

    def _due(self, now: float) -> bool:
        """A recheck was asked for, or a leg went quiet (not paused), and none ran lately."""
        if now - self._checked_at < RECHECK_EVERY_S:
            return False
        if self._recheck.is_set() or not self.slots:
            return True
        if self.call.paused:
            return False
        for leg in self.slots:
            last_ms = self.call.leg_stats(leg).get("last_arrival_ms", -1)
            last = last_ms / 1000 if last_ms >= 0 else self._opened_at
            if now - last > STALE_S:
                return True
        return False

    async def _reresolve(self, now: float) -> None:
        """Look the legs up again; reopen a leg whose media moved; if one cannot be captured
        any more, the call's audio is a gap from now and the call goes over to the snoop tap."""
        self._checked_at = now
        try:
            media = await self._resolve()
        except AriError as exc:  # Asterisk unreachable: ask again later
            log.info("call %s: cannot look its media up now: %s", self.call.call_id, exc)
            return
        except NotCapturable as exc:
            self._recheck.clear()
            self._close_slots()
            self.call.suspend(self.call.clock.from_loop(self._loop_time()), GAP_TAP_FAILED)
            log.warning("call %s: media moved where capture cannot see it (%s)",
                        self.call.call_id, exc)
            try:
                await self._to_snoop(str(exc))
            except TapError as failed:
                log.warning("call %s: %s", self.call.call_id, failed)
                await self.ended.wait()  # a gap to the end, with its reason
            return
        self._recheck.clear()
        if media == self.media:
            return
        if self.slots:
            log.info("call %s: media moved: %s", self.call.call_id,
                     ", ".join(f"{leg} {m.describe()}" for leg, m in media.items()))
        self._close_slots()
        try:
            self._open(media)
        except (OverflowError, ValueError) as exc:
            self._close_slots()
            self.call.suspend(self.call.clock.from_loop(self._loop_time()), GAP_TAP_FAILED)
            log.warning("call %s: cannot capture its moved media: %s", self.call.call_id, exc)

    async def close(self) -> None:
        """Free the legs' slots; tear down the snoop tap if the call went over (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._close_slots()
        if self.snoop is not None:
            await self.snoop.close()

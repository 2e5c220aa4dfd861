"""PCI pause service: mutes both recorded legs on the switch (MixMonitorMute), gates the live
analysis, and audits who paused and resumed, when, before it answers.

Asked by the HTTP API (and the CLI through it) and by a DTMF feature code on the agent's
phone (the edgeqa-pci dialplan raises an AMI UserEvent). An action is acknowledged only once
its audit entry is committed; if the audit cannot be written, the action is undone and
refused. The mute lives in Asterisk: a restarted daemon finds the pause in the audit trail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from edgeqa.ami.message import AmiMessage
from edgeqa.audit.model import PCI_PAUSE, PCI_RESUME, Actor, AuditEntry
from edgeqa.calls.changes import CallChange, CallEnded, connected_pair
from edgeqa.calls.model import ROLE_AGENT, Call, Channel
from edgeqa.pci.config import PciConfig
from edgeqa.pci.model import Command, Pause, Pauses, PciError, parse_user_event
from edgeqa.store import Event, EventLike

log = logging.getLogger(__name__)

#: The stream event types this package produces, each with a schema in schemas/.
PCI_EVENT_TYPES = ("call.pci_paused", "call.pci_resumed")
#: The alert type of a pause that lasts longer than [pci] max_pause_s (call.alert v3).
ALERT_LONG_PAUSE = "pci_pause_long"
#: The actor of a resume the daemon does itself ([pci] auto_resume).
AUTO_RESUME = Actor("system", "auto_resume")


class ActionSender(Protocol):
    """The AMI client as this service uses it."""

    async def send_action(self, action: str, headers: Mapping[str, str] = ..., *,
                          timeout_s: float = ...) -> Any: ...


class LiveGate(Protocol):
    """The live metrics as this service uses them: stop and restart analysing a call."""

    def pause(self, call_id: str, at: float) -> bool: ...
    def resume(self, call_id: str, at: float) -> bool: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a pause or resume did: the answer of the API."""

    call_id: str
    paused: bool
    at: float
    by: Actor
    muted: bool
    audit_id: int
    paused_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer."""
        return {"call_id": self.call_id, "paused": self.paused, "at": self.at,
                "by": self.by.to_dict(), "recording_muted": self.muted,
                "audit_id": self.audit_id, "paused_s": self.paused_s}


class PciService:
    """Pauses and resumes calls; one action at a time per call."""

    def __init__(self, cfg: PciConfig, ami: ActionSender,
                 audit: Callable[[AuditEntry], Awaitable[int]],
                 submit: Callable[[Iterable[EventLike]], None],
                 calls: Callable[[], Mapping[str, Call]],
                 channels: Callable[[], Mapping[str, Channel]],
                 recording_channel: Callable[[str], str | None], *,
                 live: LiveGate | None, wall: Callable[[], float],
                 action_timeout_s: float = 10.0) -> None:
        self.cfg = cfg
        self._ami = ami
        self._audit = audit
        self._submit = submit
        self._calls = calls
        self._channels = channels
        self._recording_channel = recording_channel
        self._live = live
        self._wall = wall
        self._action_timeout_s = action_timeout_s
        self.pauses = Pauses()
        self._locks: dict[str, asyncio.Lock] = {}
        self._tg: asyncio.TaskGroup | None = None
        self.dtmf_refused = 0

    def bind(self, tg: asyncio.TaskGroup) -> None:
        """Run the DTMF requests and auto-resumes as tasks of ``tg``."""
        self._tg = tg

    def restore(self, entries: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Take over the pauses a previous run left on (the switch keeps the mute): ``entries``
        holds, for each call still open, its pci.* audit entries, oldest first."""
        for call_id, history in entries.items():
            if not history or history[-1]["action"] != PCI_PAUSE:
                continue
            entry = history[-1]
            by = Actor(entry["actor_kind"], entry["actor_name"])
            muted = bool(entry.get("detail", {}).get("recording_muted", False))
            self.pauses.start(Pause(call_id, float(entry["at"]), by, muted))
            if self._live is not None:
                self._live.pause(call_id, float(entry["at"]))
            log.info("pci: call %s is still paused (since a previous run, by %s)", call_id, by)

    def health(self) -> Mapping[str, Any]:
        """Counters for /v1/health."""
        return {"paused_calls": len(self.pauses), "dtmf_refused": self.dtmf_refused}

    # --- the actions ----------------------------------------------------------------------

    async def pause(self, call_id: str, by: Actor) -> Outcome:
        """Pause ``call_id``: mute its recording, stop its analysis, audit; raise PciError."""
        async with self._lock(call_id):
            call = self._connected(call_id)
            if self.pauses.get(call_id) is not None:
                raise PciError("already_paused", f"call {call_id} is already paused")
            channel = self._recording_channel(call_id)
            if channel is not None:
                await self._mute(channel, True)
            at = self._wall()
            pause = Pause(call_id, at, by, muted=channel is not None)
            self.pauses.start(pause)
            if self._live is not None:
                self._live.pause(call_id, at)
            try:
                audit_id = await self._audit(AuditEntry(at, by, PCI_PAUSE, call_id, {
                    "recording_muted": pause.muted, "t_s": _call_time(call, at)}))
            except Exception as exc:
                log.error("pci: pause of %s not audited (%s): undone", call_id, exc)
                await self._undo(pause)
                raise PciError("audit_failed", f"the pause could not be audited ({exc}); it "
                                               "was undone") from exc
            self._submit([Event("call.pci_paused", at, {
                "call_id": call_id, "leg": None, "by": by.to_dict(),
                "t_s": _call_time(call, at), "recording_muted": pause.muted})])
            log.info("pci: call %s paused by %s (recording %s)", call_id, by,
                     "muted" if pause.muted else "not recorded")
            return Outcome(call_id, True, at, by, pause.muted, audit_id)

    async def resume(self, call_id: str, by: Actor) -> Outcome:
        """Resume ``call_id``: unmute its recording, analyse it again, audit; raise PciError."""
        async with self._lock(call_id):
            call = self._calls().get(call_id)
            pause = self.pauses.get(call_id)
            if pause is None:
                if call is None:
                    raise PciError("unknown_call", f"no call {call_id} is up")
                raise PciError("not_paused", f"call {call_id} is not paused")
            channel = self._recording_channel(call_id) if pause.muted else None
            if channel is not None:
                await self._mute(channel, False)
            at = self._wall()
            self.pauses.end(call_id)
            if self._live is not None:
                self._live.resume(call_id, at)
            paused_s = round(max(0.0, at - pause.since), 3)
            try:
                audit_id = await self._audit(AuditEntry(at, by, PCI_RESUME, call_id, {
                    "paused_s": paused_s, "t_s": _call_time(call, at)}))
            except Exception as exc:
                log.error("pci: resume of %s not audited (%s): paused again", call_id, exc)
                if channel is not None:
                    await self._mute(channel, True)
                self.pauses.start(pause)
                if self._live is not None:
                    self._live.pause(call_id, at)
                raise PciError("audit_failed", f"the resume could not be audited ({exc}); "
                                               "the call stays paused") from exc
            self._submit([Event("call.pci_resumed", at, {
                "call_id": call_id, "leg": None, "by": by.to_dict(),
                "t_s": _call_time(call, at), "paused_s": paused_s})])
            log.info("pci: call %s resumed by %s after %.1f s", call_id, by, paused_s)
            return Outcome(call_id, False, at, by, pause.muted, audit_id, paused_s)

    def _lock(self, call_id: str) -> asyncio.Lock:
        lock = self._locks.get(call_id)
        if lock is None:
            lock = self._locks[call_id] = asyncio.Lock()
        return lock

    def _connected(self, call_id: str) -> Call:
        call = self._calls().get(call_id)
        if call is None:
            raise PciError("unknown_call", f"no call {call_id} is up")
        if connected_pair(call) is None:
            raise PciError("not_connected", f"call {call_id} is not connected to an agent")
        return call

    async def _mute(self, channel: str, on: bool) -> None:
        try:
            await self._ami.send_action("MixMonitorMute", {
                "Channel": channel, "Direction": "both", "State": "1" if on else "0"},
                timeout_s=self._action_timeout_s)
        except Exception as exc:  # refused (no MixMonitor on it, channel gone) or link down
            raise PciError("switch_failed", f"MixMonitorMute {'on' if on else 'off'} on "
                                            f"{channel} failed: {exc}") from exc

    async def _undo(self, pause: Pause) -> None:
        self.pauses.end(pause.call_id)
        if self._live is not None:
            self._live.resume(pause.call_id, self._wall())
        channel = self._recording_channel(pause.call_id) if pause.muted else None
        if channel is not None:
            try:
                await self._mute(channel, False)
            except PciError as exc:
                log.error("pci: %s", exc)

    # --- events from the switch and time ---------------------------------------------------

    def on_ami(self, msg: AmiMessage) -> None:
        """A feature code from a phone (UserEvent EdgeqaPci): pause or resume its call, if
        the phone is the agent of a connected call."""
        try:
            request = parse_user_event(msg)
        except ValueError as exc:
            self.dtmf_refused += 1
            log.warning("pci: feature code ignored: %s", exc)
            return
        if request is None:
            return
        channel = self._channels().get(request.uniqueid)
        if channel is None or channel.role != ROLE_AGENT:
            self.dtmf_refused += 1
            log.warning("pci: feature code from %s ignored: not the agent of a call",
                        request.channel)
            return
        by = Actor("dtmf", channel.endpoint)
        self._spawn(self._dtmf(request.command, channel.call_id, by),
                    f"pci-{request.command}-{channel.call_id}")

    async def _dtmf(self, command: Command, call_id: str, by: Actor) -> None:
        try:
            if command == "pause":
                await self.pause(call_id, by)
            else:
                await self.resume(call_id, by)
        except PciError as exc:
            if exc.kind not in ("already_paused", "not_paused"):  # a second press: no harm
                self.dtmf_refused += 1
            log.warning("pci: %s from %s not done: %s", command, by, exc)

    def on_changes(self, changes: Sequence[CallChange], now: float) -> None:
        """A paused call that ends is no longer paused (its recording ended with it)."""
        for change in changes:
            if isinstance(change, CallEnded):
                self._locks.pop(change.call_id, None)
                if self.pauses.end(change.call_id) is not None:
                    log.info("pci: call %s ended while paused", change.call_id)

    def tick(self, now: float) -> None:
        """Alert on pauses that ran longer than max_pause_s; resume them if auto_resume."""
        for pause in self.pauses.overdue(now, self.cfg.max_pause_s):
            call = self._calls().get(pause.call_id)
            paused_s = round(now - pause.since, 3)
            log.warning("pci: call %s paused for %.0f s (max %g s)", pause.call_id, paused_s,
                        self.cfg.max_pause_s)
            self._submit([Event("call.alert", now, {
                "call_id": pause.call_id, "leg": None, "type": ALERT_LONG_PAUSE,
                "severity": "warn", "at_s": _call_time(call, now), "value": paused_s})])
            if self.cfg.auto_resume:
                self._spawn(self._auto_resume(pause.call_id), f"pci-auto-{pause.call_id}")

    async def _auto_resume(self, call_id: str) -> None:
        try:
            await self.resume(call_id, AUTO_RESUME)
        except PciError as exc:
            log.warning("pci: auto-resume of %s not done: %s", call_id, exc)

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        if self._tg is None:
            log.warning("pci: %s dropped: the service is not running", name)
            return
        self._tg.create_task(_guarded(work, name), name=name)


async def _guarded(work: Awaitable[None], name: str) -> None:
    try:
        await work
    except Exception:  # never into the daemon's TaskGroup
        log.exception("pci: %s failed", name)


def _call_time(call: Call | None, at: float) -> float | None:
    """Wall time ``at`` as call time (seconds from the answer), or None before the answer."""
    if call is None or call.answered_at is None:
        return None
    return round(max(0.0, at - call.answered_at), 3)

"""Spy service: decides (policy, PIN, target, caps), audits each decision before acting, and
carries the spy out on the switch through one AGI handler on the supervisor's own channel:
EXEC MixMonitor (r(): the supervisor's voice, a third recording of the call), then EXEC
ChanSpy on the agent's exact channel. EXEC returns when the spy ends: the session's end.

Two ways in (spy_api.md):
- a feature code dialled on the supervisor's phone: AGI route ``spy`` with (mode, digits);
- POST /v1/spy (and the CLI): decided here, then one AMI Originate (never re-sent: the AMI
  client does not replay an action across a reconnect, and nothing here retries it) that
  rings the supervisor's phone into AGI route ``spy-session/<id>``.

Mode changes: DTMF 4/5/6 inside ChanSpy, learnt from AMI DTMFEnd on the spyer channel; the
API sends them with AMI PlayDTMF Receive=yes (app_senddtmf.c queues the digit as if the phone
had sent it; ChanSpy reads it like a pressed key). The end: ChanSpy returns, the channel hangs
up, or DELETE hangs the spyer channel up.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from edgeqa.agi import AgiHangup
from edgeqa.ami.message import AmiMessage
from edgeqa.audit.model import (
    SPY_DENIED,
    SPY_ENDED,
    SPY_MODE_CHANGED,
    SPY_STARTED,
    Actor,
    AuditEntry,
)
from edgeqa.auth.model import Principal
from edgeqa.calls.model import endpoint_of
from edgeqa.recording.config import RecordingConfig
from edgeqa.recording.events import Recording, event_for
from edgeqa.recording.files import examine
from edgeqa.recording.model import supervisor_file
from edgeqa.recording.service import closed_row
from edgeqa.spy.config import SpyConfig
from edgeqa.spy.model import (
    AGENT_DIGITS,
    DIGIT_OF,
    MODE_OF_DIGIT,
    REASON_TEXT,
    SESSION_ID,
    Mode,
    SessionError,
    SpyDenied,
    SpySession,
    Target,
    Via,
    agent_names,
    authorise,
    authorise_name,
    chanspy_options,
    check_caps,
    check_pin,
    known_agents,
    parse_mode,
    resolve_agent,
    resolve_call,
)
from edgeqa.store import Event, EventLike

log = logging.getLogger(__name__)

#: The stream event types this package produces, each with a schema in schemas/.
SPY_EVENT_TYPES = ("spy.started", "spy.mode_changed", "spy.ended", "spy.denied")
#: The AGI routes this service handles (the first path segment of the AGI script).
ROUTE_FEATURE_CODE = "spy"
ROUTE_SESSION = "spy-session"
#: What a denied supervisor hears (Asterisk's core sounds) before the hang-up.
DENIED_PROMPT = "beeperr"
#: What asks for the PIN, how long it waits, and how many digits it takes.
PIN_PROMPT = "agent-pass"
PIN_TIMEOUT_MS = 5000
PIN_MAX_DIGITS = 16
#: How long the supervisor's phone rings for an API spy (AMI Originate Timeout).
RING_TIMEOUT_S = 30.0
#: How long after the ring time a session not answered is given up.
ANSWER_MARGIN_S = 5.0
#: Ended sessions kept for GET /v1/spy (the audit trail has them all).
MAX_ENDED_SESSIONS = 100
#: Sessions at once, whatever the caps say (a bound on memory).
MAX_SESSIONS = 1000


class ActionSender(Protocol):
    """The AMI client as this service uses it (sends once, never replays)."""

    async def send_action(self, action: str, headers: Mapping[str, str] = ..., *,
                          timeout_s: float = ...) -> Any: ...


class AgiChannel(Protocol):
    """What the handlers use of edgeqa.agi.AgiSession (a test double fits it too)."""

    @property
    def request(self) -> Any: ...
    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> str: ...
    async def stream_file(self, name: str, escape_digits: str = "") -> None: ...
    async def exec(self, app: str, *args: str) -> int: ...
    async def hangup(self) -> None: ...


class SpyService:
    """Spy sessions: decisions, the AGI handlers, mode changes, ends, live state."""

    def __init__(self, cfg: SpyConfig, teams: Mapping[str, frozenset[str]],
                 ami: ActionSender, audit: Callable[[AuditEntry], Awaitable[int]],
                 submit: Callable[[Iterable[EventLike]], None],
                 snapshot: Callable[[], Mapping[str, Any]], *,
                 recording: RecordingConfig | None, wall: Callable[[], float] = time.time,
                 agi_url: str = "agi://127.0.0.1:4573", action_timeout_s: float = 10.0,
                 new_id: Callable[[], str] = lambda: secrets.token_hex(8),
                 labels: Callable[[str], tuple[str | None, str | None] | None] | None = None,
                 ) -> None:
        self.cfg = cfg
        #: The (queue, agent) a recorded call's files are filed under (Recorder.labels).
        self._labels = labels
        self._teams = teams
        self._ami = ami
        self._audit = audit
        self._submit = submit
        self._snapshot = snapshot
        self._recording = recording if recording is not None and recording.enabled else None
        self._wall = wall
        self._agi_url = agi_url
        self._action_timeout_s = action_timeout_s
        self._new_id = new_id
        self.sessions: dict[str, SpySession] = {}
        self._ended: list[str] = []
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.denied = 0

    def bind(self, tg: asyncio.TaskGroup) -> None:
        """Run audits of DTMF mode changes and recording closes as tasks of ``tg``."""
        self._tg = tg

    def routes(self) -> dict[str, Callable[[AgiChannel], Awaitable[None]]]:
        """The AGI routes: the feature code and the API-originated session."""
        return {ROUTE_FEATURE_CODE: self.feature_code, ROUTE_SESSION: self.originated}

    def health(self) -> Mapping[str, Any]:
        """Counters for /v1/health."""
        return {"active": len(self.active()), "denied": self.denied}

    def active(self) -> list[SpySession]:
        """The sessions not ended, oldest first."""
        return [s for s in self.sessions.values() if s.ended_at is None]

    def spies_by_call(self) -> dict[str, list[dict[str, Any]]]:
        """Live state for /v1/calls: who spies on each call, in which mode."""
        out: dict[str, list[dict[str, Any]]] = {}
        for s in self.active():
            out.setdefault(s.call_id, []).append(
                {"id": s.id, "supervisor": s.supervisor, "mode": s.mode, "state": s.state,
                 "spyer_channel": s.spyer_channel, "agent_channel": s.agent_channel})
        return out

    # --- deciding ----------------------------------------------------------------------------

    async def request(self, *, supervisor: str, agent: str | None, call_id: str | None,
                      mode: str, reason: str, principal: Principal, via: Via,
                      origin: str) -> SpySession:
        """POST /v1/spy: decide, audit, then ring the supervisor's phone (one Originate).

        Raise SpyDenied (audited) or ValueError (a malformed request: not a decision)."""
        checked = parse_mode(mode)
        if not REASON_TEXT.fullmatch(reason):
            raise ValueError("reason must be at most 200 printable characters")
        if (agent is None) == (call_id is None):
            raise ValueError('give exactly one of "agent" and "call_id"')
        actor = Actor(via if via != "feature_code" else "api", principal.actor.name)
        asked = {"supervisor": supervisor, "agent": agent, "call_id": call_id,
                 "mode": checked, "reason": reason, "via": via, "from": origin}
        try:
            snap = self._snapshot()
            if agent is not None:
                if agent not in known_agents(snap, self._teams):
                    raise SpyDenied("unknown_agent", f"no agent {agent!r} is known")
                authorise_name(self.cfg, self._teams, supervisor, agent_names(snap, agent),
                               principal)
            target = resolve_agent(snap, agent, self._teams) if agent is not None \
                else resolve_call(snap, str(call_id))
            authorise(self.cfg, self._teams, supervisor, target, principal)
            check_caps(self.cfg, self.sessions.values(), target)
        except SpyDenied as exc:
            await self._deny(exc, actor, asked)
            raise
        session = self._new_session(supervisor, target, checked, reason, actor, via, origin)
        await self._start(session)  # audited (or refused) before anything reaches the switch
        try:
            await self._ami.send_action("Originate", {
                "Channel": supervisor, "Application": "AGI",
                "Data": f"{self._agi_url}/{ROUTE_SESSION}/{session.id}",
                "Timeout": str(int(RING_TIMEOUT_S * 1000)), "Async": "true",
                "CallerID": f"Spy <{checked}>"}, timeout_s=self._action_timeout_s)
        except Exception as exc:  # refused or the link dropped: never re-sent
            await self._finish(session, f"originate_failed: {exc}", actor)
            raise SpyFailed(f"the supervisor's phone could not be called: {exc}") from exc
        self._spawn(self._expire(session), f"spy-ring-{session.id}")
        return session

    async def _expire(self, session: SpySession) -> None:
        """A phone that was not answered within the ring time (plus a margin): the session
        ends, and no longer counts against the caps."""
        await asyncio.sleep(RING_TIMEOUT_S + ANSWER_MARGIN_S)
        if session.state == "pending":
            await self._finish(session, "not_answered", "system:spy")

    def _new_session(self, supervisor: str, target: Target, mode: Mode, reason: str,
                     actor: Actor, via: Via, origin: str) -> SpySession:
        if len(self.sessions) >= MAX_SESSIONS:
            raise SpyDenied("too_many_spies", f"{MAX_SESSIONS} sessions are kept already")
        session = SpySession(self._new_id(), supervisor, target.agent, target.call_id,
                             target.agent_channel, mode, reason, self._wall(), str(actor),
                             via, origin)
        if not SESSION_ID.fullmatch(session.id) or session.id in self.sessions:
            raise RuntimeError(f"bad or repeated session id {session.id!r}")
        return session

    async def _deny(self, exc: SpyDenied, actor: Actor, asked: Mapping[str, Any]) -> None:
        """Audit and publish a denial (an audit failure is logged: the denial stands)."""
        self.denied += 1
        at = self._wall()
        detail = {**asked, "result": exc.reason, "message": str(exc)}
        log.warning("spy: denied to %s (%s): %s", actor, exc.reason, exc)
        try:
            await self._audit(AuditEntry(at, actor, SPY_DENIED, asked.get("call_id"), detail))
        except Exception:
            log.exception("spy: the denial could not be audited")
        self._submit([Event("spy.denied", at, {
            "call_id": asked.get("call_id"), "supervisor": asked.get("supervisor"),
            "agent": asked.get("agent"), "mode": asked.get("mode"),
            "reason": exc.reason, "via": asked.get("via"), "by": actor.to_dict()})])

    async def _start(self, session: SpySession) -> None:
        """Audit the decision, then keep and publish the session (AuditFailed: nothing runs)."""
        try:
            await self._audit(AuditEntry(session.started_at, _actor(session.actor), SPY_STARTED,
                                         session.call_id, session.audit_detail("allowed")))
        except Exception as exc:
            log.error("spy: %s not audited (%s): not started", session.id, exc)
            raise AuditFailed(f"the spy could not be audited ({exc}); it was not started") \
                from exc
        self.sessions[session.id] = session
        self._publish("spy.started", session.started_at, session)
        log.info("spy: %s %s on %s (%s) by %s via %s", session.id, session.mode,
                 session.agent_channel, session.call_id, session.actor, session.via)

    async def _finish(self, session: SpySession, result: str, by: Actor | str) -> None:
        """End ``session`` (once), audit and publish it."""
        if not session.end(self._wall(), result):
            return
        self._forget_later(session.id)
        assert session.ended_at is not None
        try:
            await self._audit(AuditEntry(session.ended_at, _actor(by), SPY_ENDED,
                                         session.call_id, {
                                             **session.audit_detail(result),
                                             "modes": [m.to_dict() for m in session.modes],
                                             "started_at": session.started_at,
                                             "ended_at": session.ended_at}))
        except Exception:  # the spy is over either way; say so loudly
            log.exception("spy: the end of %s could not be audited", session.id)
        self._publish("spy.ended", session.ended_at, session)
        log.info("spy: %s ended (%s)", session.id, result)

    def _forget_later(self, session_id: str) -> None:
        self._ended.append(session_id)
        while len(self._ended) > MAX_ENDED_SESSIONS:
            self.sessions.pop(self._ended.pop(0), None)

    def _publish(self, type_: str, at: float, session: SpySession) -> None:
        self._submit([Event(type_, at, {"call_id": session.call_id, "spy": session.to_dict()})])

    # --- changing and ending ----------------------------------------------------------------

    def get(self, session_id: str) -> SpySession:
        """The session, or SpyNotFound."""
        session = self.sessions.get(session_id)
        if session is None:
            raise SpyNotFound(f"no spy {session_id!r}")
        return session

    async def change_mode(self, session_id: str, mode: str, by: Actor) -> SpySession:
        """PATCH: audit, then send the mode's digit into the spyer channel (PlayDTMF
        Receive=yes); ChanSpy switches as if the supervisor had pressed it."""
        checked = parse_mode(mode)
        session = self.get(session_id)
        if session.state != "active" or session.spyer_channel is None:
            raise SpyConflict(f"spy {session_id} is {session.state}: no mode change")
        if checked == session.mode:
            return session
        before, at = session.mode, self._wall()
        try:
            await self._audit(AuditEntry(at, by, SPY_MODE_CHANGED, session.call_id, {
                **session.audit_detail("requested"), "mode": checked, "from_mode": before}))
        except Exception as exc:
            raise AuditFailed(f"the mode change could not be audited ({exc})") from exc
        session.change_mode(checked, at, str(by))
        try:
            await self._ami.send_action("PlayDTMF", {
                "Channel": session.spyer_channel, "Digit": DIGIT_OF[checked],
                "Receive": "yes"}, timeout_s=self._action_timeout_s)
        except Exception as exc:
            session.change_mode(before, self._wall(), "system:switch_failed")
            raise SpyFailed(f"PlayDTMF on {session.spyer_channel} failed: {exc}") from exc
        self._publish("spy.mode_changed", at, session)
        return session

    async def end(self, session_id: str, by: Actor) -> SpySession:
        """DELETE: hang the spyer channel up (the handler then sees ChanSpy return); a
        session not connected yet is cancelled (its phone, if it answers, hears a refusal)."""
        session = self.get(session_id)
        if session.state == "ended":
            raise SpyConflict(f"spy {session_id} has ended already")
        if session.spyer_channel is None:
            await self._finish(session, "cancelled", by)
            return session
        try:
            await self._ami.send_action("Hangup", {"Channel": session.spyer_channel},
                                        timeout_s=self._action_timeout_s)
        except Exception as exc:
            raise SpyFailed(f"Hangup of {session.spyer_channel} failed: {exc}") from exc
        await self._finish(session, "ended_by_request", by)
        return session

    def on_ami(self, msg: AmiMessage) -> None:
        """DTMFEnd on a spyer channel (a mode switch), Hangup of one (the end)."""
        event = msg.event
        if event not in ("DTMFEnd", "Hangup"):
            return
        channel = msg.get("Channel")
        session = next((s for s in self.active() if s.spyer_channel == channel), None)
        if session is None:
            return
        if event == "Hangup":
            self._spawn(self._finish(session, "hangup", f"dtmf:{session.supervisor}"),
                        f"spy-end-{session.id}")
            return
        mode = MODE_OF_DIGIT.get(msg.get("Digit") or "")
        if mode is None or msg.get("Direction", "Received") != "Received":
            return
        at, by = self._wall(), f"dtmf:{session.supervisor}"
        try:
            changed = session.change_mode(mode, at, by)
        except SessionError:
            return
        if changed:
            self._publish("spy.mode_changed", at, session)
            self._spawn(self._audit_dtmf(session, at), f"spy-mode-{session.id}")

    async def _audit_dtmf(self, session: SpySession, at: float) -> None:
        await self._audit(AuditEntry(at, Actor("dtmf", session.supervisor), SPY_MODE_CHANGED,
                                     session.call_id, session.audit_detail("switched")))

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        if self._tg is None:
            log.debug("spy: %s dropped: the service is not running", name)
            work.close()
            return
        task = self._tg.create_task(_guarded(work, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- the AGI handlers --------------------------------------------------------------------

    async def feature_code(self, agi: AgiChannel) -> None:
        """AGI route ``spy`` (mode, digits): decide on the supervisor's own channel."""
        channel = str(agi.request.channel)
        supervisor = endpoint_of(channel)
        args = tuple(agi.request.args)
        by = Actor("dtmf", supervisor)
        mode_arg, digits = (*args, "", "")[:2]
        try:
            mode = parse_mode(mode_arg)
        except ValueError as exc:
            log.error("spy: feature code from %s with a bad mode (%s): check the dialplan",
                      channel, exc)
            await _refuse(agi)
            return
        agent = self.cfg.agent_endpoint.replace("{n}", digits) \
            if AGENT_DIGITS.fullmatch(digits) else None
        asked = {"supervisor": supervisor, "agent": agent or digits[:16], "call_id": None,
                 "mode": mode, "reason": "", "via": "feature_code", "from": channel}
        try:
            phone = self.cfg.supervisors.get(supervisor)
            if phone is None:
                raise SpyDenied("unauthorised", f"{supervisor!r} is not a supervisor phone")
            if phone.pin is not None:
                given = await agi.get_data(PIN_PROMPT, PIN_TIMEOUT_MS, PIN_MAX_DIGITS)
                if not check_pin(phone, given):
                    raise SpyDenied("wrong_pin", f"wrong PIN from {supervisor}")
            if agent is None:
                raise SpyDenied("unknown_agent", f"{digits!r} names no agent")
            target = resolve_agent(self._snapshot(), agent, self._teams)
            asked["call_id"] = target.call_id
            authorise(self.cfg, self._teams, supervisor, target, None)
            check_caps(self.cfg, self.sessions.values(), target)
            session = self._new_session(supervisor, target, mode, "", by, "feature_code",
                                        channel)
        except SpyDenied as exc:
            await self._deny(exc, by, asked)
            await _refuse(agi)
            return
        try:
            await self._start(session)
        except AuditFailed:
            await _refuse(agi)
            return
        await self._run(agi, session, channel)

    async def originated(self, agi: AgiChannel) -> None:
        """AGI route ``spy-session/<id>``: the supervisor answered an API spy's call."""
        channel = str(agi.request.channel)
        _, _, session_id = str(agi.request.script).partition("/")
        session = self.sessions.get(session_id) if SESSION_ID.fullmatch(session_id) else None
        if session is None or session.state != "pending" \
                or endpoint_of(channel) != session.supervisor:
            log.warning("spy: %s answered for spy %r, which is not waiting for it", channel,
                        session_id)
            await _refuse(agi)
            return
        await self._run(agi, session, channel)

    async def _run(self, agi: AgiChannel, session: SpySession, channel: str) -> None:
        """MixMonitor the supervisor, then ChanSpy until it returns: the session's end."""
        result = "ended"
        try:
            session.connected(channel)
            row = await self._record(agi, session)
            await agi.exec("ChanSpy", session.agent_channel, chanspy_options(session.mode))
        except AgiHangup:  # the supervisor hung up
            result, row = "hangup", None
        except Exception as exc:  # the AGI link failed, or Asterisk refused a command
            log.warning("spy: %s failed on the switch: %s", session.id, exc)
            result, row = f"failed: {exc}", None
        await self._finish(session, result, f"dtmf:{session.supervisor}")
        if row is not None:
            self._spawn(self._close_row(row), f"spy-record-{session.id}")

    async def _record(self, agi: AgiChannel, session: SpySession) -> Recording | None:
        """Start the supervisor's recording (r(): what the supervisor's phone sends)."""
        if self._recording is None:
            return None
        n = 1 + sum(1 for s in self.sessions.values()
                    if s.call_id == session.call_id and s.started_at < session.started_at)
        leg = "supervisor" if n == 1 else f"supervisor.{n}"
        try:
            file = supervisor_file(self._recording, session.call_id, session.started_at, leg)
        except ValueError as exc:
            log.warning("spy: %s not recorded: %s", session.id, exc)
            return None
        call: Mapping[str, Any] = next((c for c in self._snapshot().get("calls", ())
                     if c.get("call_id") == session.call_id), {})
        queue, agent = call.get("queue"), call.get("agent_name") or session.agent
        filed = self._labels(session.call_id) if self._labels is not None else None
        if filed is not None:  # filed with the call's other files: listed, kept and purged alike
            queue, agent = filed[0], filed[1] or agent
        row = Recording(session.call_id, leg, str(file.daemon_path),  # type: ignore[arg-type]
                        self._wall(), queue if isinstance(queue, str) else None, agent)
        await agi.exec("MixMonitor", "", f"r({file.asterisk_path})")
        self._submit([event_for(row, row.started_at)])
        return row

    async def _close_row(self, row: Recording) -> None:
        assert self._recording is not None
        facts = await asyncio.to_thread(examine, Path(row.path), self._recording.close_timeout_s)
        self._submit([event_for(closed_row(row, facts, self._wall()), self._wall())])

    async def close(self) -> None:
        """Stop: cancel the waits for unanswered phones and the recording closes in flight
        (a spy still running on the switch ends with its AGI session: the AGI server stops
        first)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class SpyNotFound(LookupError):
    """No such session (404)."""


class SpyConflict(Exception):
    """The session's state does not allow it (409)."""


class SpyFailed(Exception):
    """The switch refused the action, or the link is down (502)."""


class AuditFailed(Exception):
    """The decision could not be audited: nothing was done (503)."""


def _actor(by: Actor | str) -> Actor:
    if isinstance(by, Actor):
        return by
    kind, _, name = by.partition(":")
    return Actor(kind, name)  # type: ignore[arg-type]


async def _refuse(agi: AgiChannel) -> None:
    """A short prompt, then hang up (the channel may have gone already)."""
    try:
        await agi.stream_file(DENIED_PROMPT)
        await agi.hangup()
    except Exception as exc:
        log.info("spy: refusal prompt not played: %s", exc)


async def _guarded(work: Coroutine[Any, Any, None], name: str) -> None:
    try:
        await work
    except Exception:  # never into the daemon's TaskGroup
        log.exception("spy: %s failed", name)


__all__ = ["SPY_EVENT_TYPES", "AuditFailed", "SpyConflict", "SpyFailed", "SpyNotFound",
           "SpyService"]

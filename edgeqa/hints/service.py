"""Hints service: after a call's summary, the first rule it crosses (edgeqa.hints.model)
raises the agent's penalty in the call's queue (AMI QueuePenalty) or pauses the agent with a
reason (AMI QueuePause), for a bounded time, within the guard rails.

Order of every change: the hint's row in the store, then its audit entry (both durable),
then the switch, then the stream (hint.*). A dry-run hint (the default) stops before the
switch. Restore: each hint's original and applied values and its expiry are in the store; at
its expiry, at a clear, at SIGTERM (close()) and whenever an AMI session comes up (start,
reconnect, restart after a crash), QueueStatus is read and compared: what still shows the
hint's value is put back, what shows anything else was changed by a person and is left as
it is (the hint is dropped, and that is recorded).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol, TypeVar

from edgeqa.audit.model import Actor, AuditEntry
from edgeqa.hints import db
from edgeqa.hints.config import HintRule, HintsConfig
from edgeqa.hints.model import (
    HINT_ID,
    INTERFACE,
    Hint,
    MemberView,
    Skip,
    decide,
    first_rule,
    member_from,
    reconcile,
    shows_applied,
)
from edgeqa.store import Event, EventLike

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: The stream event types this package produces, each with a schema in schemas/.
HINT_EVENT_TYPES = ("hint.applied", "hint.skipped", "hint.expired", "hint.cleared",
                    "hint.dropped")
#: The audit actions (the same words, plus hint.failed: the switch refused the change).
HINT_FAILED = "hint.failed"
#: Who the daemon's own changes are by, in the audit trail.
SYSTEM_ACTOR = Actor("system", "hints")
#: Calls whose queue and agent are remembered until their summary comes (oldest go first).
MAX_CALLS_REMEMBERED = 10_000
#: Hints kept in memory: every active one, and ended ones while they count for the cooldown.
MAX_ENDED_HINTS = 1000
#: The AMI events that tell a member's penalty or pause changed.
MEMBER_CHANGE_EVENTS = frozenset({"QueueMemberPenalty", "QueueMemberPause"})


class Switch(Protocol):
    """The AMI client as the hints use it (an action is sent once, never replayed)."""

    async def send_action(self, action: str, headers: Mapping[str, str] = ..., *,
                          timeout_s: float = ...) -> Any: ...

    async def send_list_action(self, action: str, headers: Mapping[str, str] = ..., *,
                               timeout_s: float = ...) -> tuple[Any, list[Any]]: ...


class HintStore(Protocol):
    """The store as the hints use it (edgeqa.store.Store.run)."""

    async def run(self, op: Callable[[Any], _T]) -> _T: ...


class HintNotFound(LookupError):
    """No active hint by that id (404)."""


class HintFailed(Exception):
    """The switch or the audit trail refused (502/503)."""


class HintService:
    """Hints: made from call summaries, expired on time, restored, listed, cleared."""

    def __init__(self, cfg: HintsConfig, ami: Switch, store: HintStore,
                 audit: Callable[[AuditEntry], Awaitable[int]],
                 submit: Callable[[Iterable[EventLike]], None], *,
                 wall: Callable[[], float] = time.time, action_timeout_s: float = 10.0,
                 new_id: Callable[[], str] = lambda: secrets.token_hex(8)) -> None:
        self.cfg = cfg
        self._ami = ami
        self._store = store
        self._audit = audit
        self._submit = submit
        self._wall = wall
        self._action_timeout_s = action_timeout_s
        self._new_id = new_id
        self.hints: dict[str, Hint] = {}
        #: call id -> (queue, agent interface), from call.* events; None once summarised.
        self._calls: OrderedDict[str, tuple[str, str] | None] = OrderedDict()
        #: Hints whose change or restore is in flight: member events about them are ours.
        self._busy: set[str] = set()
        self._lock = asyncio.Lock()
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.counts = {"applied": 0, "skipped": 0, "expired": 0, "cleared": 0, "dropped": 0,
                       "failed": 0}

    # --- lifecycle ---------------------------------------------------------------------------

    async def restore(self) -> None:
        """At start: the active hints and the recent ones (for the cooldown) from the store.
        The switch is checked when the AMI session comes up (on_session)."""
        since = self._wall() - self.cfg.cooldown_s
        for hint in await self._store.run(lambda c: db.hints(c, since=since)):
            self.hints[hint.id] = hint
        active = self.active()
        if active:
            log.info("hints: %d active hints restored from the store; checked against "
                     "QueueStatus once AMI is up", len(active))

    def bind(self, tg: asyncio.TaskGroup) -> None:
        """Run the hints' work (decisions, restores) as tasks of ``tg``."""
        self._tg = tg

    async def run(self) -> None:
        """Expire hints on time, every ``tick_s``, until cancelled."""
        while True:
            await asyncio.sleep(self.cfg.tick_s)
            await self.expire_due()

    async def expire_due(self) -> None:
        """End every active hint whose expiry has come (the switch is put back)."""
        now = self._wall()
        for hint in self.active():
            if now >= hint.expires_at and hint.id not in self._busy:
                await self._guarded(self._expire(hint.id), f"hint-expire-{hint.id}")

    def on_session(self) -> None:
        """An AMI session came up: check every applied hint against QueueStatus."""
        self._spawn(self.check_switch(), "hints-check")

    async def close(self) -> None:
        """At SIGTERM, while AMI is still up: put back every applied hint now (none may
        outlive its expiry while the daemon is down), then stop."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for hint in self.active():
            if not hint.dry_run:
                await self._guarded(self._end(hint.id, "expired", SYSTEM_ACTOR, "stopping"),
                                    f"hint-stop-{hint.id}")

    # --- views -------------------------------------------------------------------------------

    def active(self) -> list[Hint]:
        """The active hints, oldest first."""
        return sorted((h for h in self.hints.values() if h.state == "active"),
                      key=lambda h: h.created_at)

    def health(self) -> Mapping[str, Any]:
        """Counters for /v1/health."""
        return {"enabled": self.cfg.enabled, "dry_run": self.cfg.dry_run,
                "active": len(self.active()), **self.counts}

    # --- input -------------------------------------------------------------------------------

    def on_committed(self, events: Sequence[Any]) -> None:
        """Committed stream events (StoredEvent): call.* name a call's queue and agent;
        call.summary makes a hint for it (once per call)."""
        if not self.cfg.enabled:
            return
        for event in events:
            if event.type in ("call.started", "call.updated", "call.ended"):
                self._note_call(event.data.get("call"))
            elif event.type == "call.summary":
                data = event.data
                call_id, summary = data.get("call_id"), data.get("summary")
                if isinstance(call_id, str) and isinstance(summary, Mapping):
                    self._on_summary(call_id, summary)

    def _note_call(self, call: object) -> None:
        if not isinstance(call, Mapping) or not isinstance(call.get("call_id"), str):
            return
        call_id, queue, agent = call["call_id"], call.get("queue"), call.get("agent_interface")
        if not isinstance(queue, str) or not isinstance(agent, str) or not queue or not agent:
            return
        if call_id in self._calls:
            if self._calls[call_id] is None:
                return
            self._calls.move_to_end(call_id)
        self._calls[call_id] = (queue, agent)
        while len(self._calls) > MAX_CALLS_REMEMBERED:
            self._calls.popitem(last=False)

    def _on_summary(self, call_id: str, summary: Mapping[str, Any]) -> None:
        where = self._calls.get(call_id)
        if where is None:
            return  # not a queue call, or summarised already (one hint per call)
        self._calls[call_id] = None
        found = first_rule(self.cfg.rules.values(), summary)
        if found is None:
            return
        rule, value = found
        self._spawn(self.consider(call_id, where[0], where[1], rule, value),
                    f"hint-{call_id}")

    def on_ami(self, msg: Any) -> None:
        """QueueMemberPenalty/QueueMemberPause: a member no longer showing an applied hint's
        value was changed by a person: the hint is dropped, the value left as it is."""
        if msg.event not in MEMBER_CHANGE_EVENTS:
            return
        member = member_from(msg)
        queue = msg.get("Queue")
        if member is None:
            return
        for hint in self.active():
            if (hint.queue == queue and hint.interface == member.interface and not hint.dry_run
                    and hint.id not in self._busy and not shows_applied(hint, member)):
                self._spawn(self._drop(hint.id, "changed_by_person"), f"hint-drop-{hint.id}")

    # --- deciding ----------------------------------------------------------------------------

    async def consider(self, call_id: str, queue: str, interface: str, rule: HintRule,
                       value: float) -> Hint | Skip:
        """Decide the hint ``rule`` makes for the call's agent, then store, audit, apply and
        publish it (or publish and audit why none)."""
        async with self._lock:
            now = self._wall()
            try:
                members = await self.members(queue)
            except Exception as exc:
                return await self._skipped(rule, value, queue, interface, call_id,
                                           Skip("no_switch", f"QueueStatus failed: {exc}"), "")
            name = next((m.name for m in members if m.interface == interface), "")
            result = decide(self.cfg, rule, value, queue, interface, members,
                            self.hints.values(), now, hint_id=self._new_id(), call_id=call_id)
            if isinstance(result, Skip):
                return await self._skipped(rule, value, queue, interface, call_id, result,
                                           name)
            hint = result
            if not HINT_ID.fullmatch(hint.id) or hint.id in self.hints:
                raise RuntimeError(f"bad or repeated hint id {hint.id!r}")
            try:
                await self._keep(hint)
                await self._audit(AuditEntry(now, SYSTEM_ACTOR, "hint.applied", call_id,
                                             hint.to_dict()))
            except Exception as exc:
                log.error("hints: %s not stored or audited (%s): not applied", hint.id, exc)
                failed = hint.ended("failed", now, f"audit failed: {exc}")
                self.hints[hint.id] = failed
                await self._quietly(self._keep(failed))
                return await self._skipped(rule, value, queue, interface, call_id,
                                           Skip("audit_failed", str(exc)), name)
            self.hints[hint.id] = hint
            if not hint.dry_run:
                self._busy.add(hint.id)
                try:
                    await self._apply(hint)
                except Exception as exc:
                    log.warning("hints: %s refused by the switch: %s", hint.id, exc)
                    failed = hint.ended("failed", self._wall(), f"switch refused: {exc}")
                    await self._record(failed, HINT_FAILED, SYSTEM_ACTOR, None)
                    return await self._skipped(rule, value, queue, interface, call_id,
                                               Skip("switch_refused", str(exc)), name)
                finally:
                    self._busy.discard(hint.id)
            self.counts["applied"] += 1
            self._submit([Event("hint.applied", now, {"hint": hint.to_dict()})])
            log.info("hints: %s %s %s in %s (%s %.1f >= %g)%s", hint.id, hint.kind,
                     interface, queue, rule.metric, value, rule.at_least,
                     " [dry run]" if hint.dry_run else "")
            return hint

    async def _skipped(self, rule: HintRule, value: float, queue: str, interface: str,
                       call_id: str | None, skip: Skip, agent: str) -> Skip:
        self.counts["skipped"] += 1
        now = self._wall()
        detail = {"reason": skip.reason, "message": skip.message, "rule": rule.name,
                  "kind": rule.action, "value": round(value, 3), "queue": queue,
                  "interface": interface, "agent": agent,
                  "call_id": call_id, "dry_run": self.cfg.dry_run}
        await self._quietly(self._audit(AuditEntry(now, SYSTEM_ACTOR, "hint.skipped",
                                                   call_id, detail)))
        # Under "hint", not at the top: a call_id there would open it to everyone on the call.
        self._submit([Event("hint.skipped", now, {"hint": detail})])
        log.info("hints: no %s for %s in %s: %s", rule.action, interface, queue, skip.message)
        return skip

    # --- the switch --------------------------------------------------------------------------

    async def members(self, queue: str) -> list[MemberView]:
        """The queue's members as the switch shows them now (AMI QueueStatus)."""
        _, items = await self._ami.send_list_action("QueueStatus", {"Queue": queue},
                                                    timeout_s=self._action_timeout_s)
        out = []
        for item in items:
            if item.event == "QueueMember" and item.get("Queue") == queue:
                member = member_from(item)
                if member is not None:
                    out.append(member)
        return out

    async def _apply(self, hint: Hint) -> None:
        await self._set(hint, undo=False)

    async def _undo(self, hint: Hint) -> None:
        await self._set(hint, undo=True)

    async def _set(self, hint: Hint, *, undo: bool) -> None:
        if not INTERFACE.fullmatch(hint.interface):  # a stored row edited by hand
            raise ValueError(f"{hint.interface!r} is not a member interface")
        if hint.kind == "penalty":
            penalty = hint.original_penalty if undo else hint.applied_penalty
            await self._ami.send_action("QueuePenalty", {
                "Interface": hint.interface, "Penalty": str(int(penalty)),
                "Queue": hint.queue}, timeout_s=self._action_timeout_s)
            return
        headers = {"Interface": hint.interface, "Queue": hint.queue,
                   "Paused": "false" if undo else "true"}
        if not undo:
            headers["Reason"] = hint.pause_reason or ""
        await self._ami.send_action("QueuePause", headers, timeout_s=self._action_timeout_s)

    # --- ending ------------------------------------------------------------------------------

    async def _expire(self, hint_id: str) -> None:
        await self._end(hint_id, "expired", SYSTEM_ACTOR, "expiry")

    async def clear(self, hint_id: str, by: Actor) -> Hint:
        """A person clears an active hint (API/CLI): put back what it changed, now."""
        if not HINT_ID.fullmatch(hint_id) or hint_id not in self.hints \
                or self.hints[hint_id].state != "active":
            raise HintNotFound(f"no active hint {hint_id!r}")
        ended = await self._end(hint_id, "cleared", by, "cleared")
        if ended is None:
            raise HintFailed(f"hint {hint_id} could not be cleared now (is AMI up?)")
        return ended

    async def _end(self, hint_id: str, state: Literal["expired", "cleared"], by: Actor,
                   why: str) -> Hint | None:
        """End an active hint: look at the switch, put back what still shows the hint's
        value, leave what a person changed. None if the switch could not be asked (the next
        tick or session tries again)."""
        async with self._lock:
            hint = self.hints.get(hint_id)
            if hint is None or hint.state != "active":
                return None
            now = self._wall()
            if hint.dry_run:
                return await self._record(hint.ended(state, now, f"{why} (dry run)"),
                                          f"hint.{state}", by, f"hint.{state}")
            self._busy.add(hint_id)
            try:
                try:
                    members = await self.members(hint.queue)
                except Exception as exc:
                    log.warning("hints: %s due (%s) but QueueStatus failed: %s", hint_id, why,
                                exc)
                    return None
                member = next((m for m in members if m.interface == hint.interface), None)
                verdict = reconcile(hint, member, max(now, hint.expires_at))
                if verdict in ("changed_by_person", "member_gone"):
                    return await self._record(hint.ended("dropped", now, verdict),
                                              "hint.dropped", by, "hint.dropped")
                if verdict != "restored_already":
                    try:
                        await self._undo(hint)
                    except Exception as exc:
                        log.warning("hints: %s not put back (%s): retried", hint_id, exc)
                        return None
                outcome = f"{why}: {'restored' if verdict != 'restored_already' else verdict}"
                return await self._record(hint.ended(state, now, outcome),
                                          f"hint.{state}", by, f"hint.{state}")
            finally:
                self._busy.discard(hint_id)

    async def _drop(self, hint_id: str, why: str) -> None:
        async with self._lock:
            hint = self.hints.get(hint_id)
            if hint is None or hint.state != "active" or hint_id in self._busy:
                return
            await self._record(hint.ended("dropped", self._wall(), why), "hint.dropped",
                               SYSTEM_ACTOR, "hint.dropped")

    async def check_switch(self) -> None:
        """Compare every applied active hint with QueueStatus: restore the overdue ones,
        drop the ones a person changed, keep the rest."""
        active = [h for h in self.active() if not h.dry_run]
        for queue in sorted({h.queue for h in active}):
            try:
                members = {m.interface: m for m in await self.members(queue)}
            except Exception as exc:
                log.warning("hints: QueueStatus %s failed (%s): checked at the next session",
                            queue, exc)
                continue
            for hint in (h for h in active if h.queue == queue):
                verdict = reconcile(hint, members.get(hint.interface), self._wall())
                if verdict in ("changed_by_person", "member_gone"):
                    await self._drop(hint.id, verdict)
                elif verdict in ("restore", "restored_already"):
                    await self._expire(hint.id)
        log.info("hints: %d active hints checked against the switch", len(active))

    async def _record(self, hint: Hint, action: str, by: Actor,
                      event_type: str | None) -> Hint:
        """Keep ``hint``'s new state, audit it, publish it (an audit failure is logged: the
        switch is as the hint says already)."""
        self.hints[hint.id] = hint
        self.counts[hint.state] = self.counts.get(hint.state, 0) + 1
        await self._quietly(self._keep(hint))
        await self._quietly(self._audit(AuditEntry(hint.ended_at or self._wall(), by, action,
                                                   hint.call_id, hint.to_dict())))
        if event_type is not None:
            self._submit([Event(event_type, hint.ended_at or self._wall(),
                                {"hint": hint.to_dict(), "by": by.to_dict()})])
        log.info("hints: %s %s (%s)", hint.id, hint.state, hint.outcome)
        self._forget_old()
        return hint

    def _forget_old(self) -> None:
        ended = sorted((h for h in self.hints.values() if h.state != "active"),
                       key=lambda h: h.created_at)
        horizon = self._wall() - self.cfg.cooldown_s
        for i, hint in enumerate(ended):
            if hint.created_at < horizon or i < len(ended) - MAX_ENDED_HINTS:
                del self.hints[hint.id]

    async def _keep(self, hint: Hint) -> None:
        await self._store.run(lambda c: db.put_hint(c, hint))

    # --- tasks -------------------------------------------------------------------------------

    async def _quietly(self, work: Awaitable[Any]) -> None:
        try:
            await work
        except Exception:
            log.exception("hints: store or audit failed")

    async def _guarded(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        try:
            await work
        except Exception:  # never into the daemon's TaskGroup
            log.exception("hints: %s failed", name)

    def _spawn(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        if self._tg is None:
            log.debug("hints: %s dropped: the service is not running", name)
            work.close()
            return
        task = self._tg.create_task(self._guarded(work, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


__all__ = ["HINT_EVENT_TYPES", "HintFailed", "HintNotFound", "HintService"]

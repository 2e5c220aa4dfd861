"""The FastAGI ``route`` handler: the dialplan's ``AGI(agi://127.0.0.1:4573/route,QUEUE,PRIO)``
before Queue() (asterisk_conf/extensions_edgeqa.conf [edgeqa-agi] route).

Within the deadline ([route] deadline_ms, 50 ms by default, from the handler's start): read the
caller's history (HistoryReader: its own connection and threads; a lookup late by
LOOKUP_SHARE of the deadline is dropped and the decision made without it), decide
(edgeqa.route.model), then ONE command: ``EXEC MSet`` of the validated channel variables,
waited for until the deadline at most. The session then ends (AGISTATUS=SUCCESS). Anything
else (the daemon down, a refused session, a late answer) ends it with FAILURE or a closed
socket: the dialplan keeps its defaults. Every decision is published (``route.decided``) and
counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from edgeqa.agi.codec import AgiArgumentError, exec_data
from edgeqa.calls.queues import QueueBook
from edgeqa.route.config import RouteConfig
from edgeqa.route.history import HistoryReader
from edgeqa.route.model import (
    Decision,
    MemberView,
    PastCall,
    decide,
    normalise_caller,
    parse_prio,
    parse_queue,
)
from edgeqa.store import Event, EventLike

log = logging.getLogger(__name__)

#: The AGI route this service handles.
ROUTE = "route"
#: The stream event type of a decision (schemas/route.decided.v1.json).
ROUTE_EVENT_TYPES = ("route.decided",)
#: Share of the deadline the history lookup may take; the rest is for the one EXEC MSet.
LOOKUP_SHARE = 0.6
#: Asterisk's device state "not in use" (AST_DEVICE_NOT_INUSE): a member free for a call.
DEVICE_NOT_INUSE = 1
#: Shortest wait for Asterisk's answer to the MSet, even when the lookup used the budget.
MIN_SEND_S = 0.002


class AgiChannel(Protocol):
    """What the handler uses of edgeqa.agi.AgiSession."""

    @property
    def request(self) -> Any: ...
    async def command(self, *words: str, timeout_s: float | None = ...) -> Any: ...


class Lookup(Protocol):
    """HistoryReader as the service uses it (a test double fits it too)."""

    async def lookup(self, caller: str, since: float, limit: int) -> list[PastCall]: ...


@dataclass(slots=True)
class RouteStats:
    """Counters for /v1/health and the bench."""

    decided: int = 0
    #: Decisions by rule name (vip, care, repeat, prefer) and "none" (no rule matched).
    by_rule: Counter[str] = field(default_factory=Counter)
    #: History lookups: ok, late (past LOOKUP_SHARE of the deadline), failed, skipped (no
    #: readable caller number).
    history: Counter[str] = field(default_factory=Counter)
    #: Sessions that ended before the variables were set (hang-up, late answer, link lost).
    not_set: int = 0


def member_view(queues: QueueBook) -> Callable[[str, str], MemberView | None]:
    """What the tracker sees of a member now (its penalty; ready: not paused, device free, not
    on a call)."""
    def view(queue: str, agent: str) -> MemberView | None:
        q = queues.queues.get(queue)
        m = q.members.get(agent) if q is not None else None
        if m is None:
            return None
        return MemberView(m.penalty, not m.paused and not m.in_call
                          and m.status == DEVICE_NOT_INUSE)
    return view


class RouteService:
    """The ``route`` AGI handler, its counters and its events."""

    def __init__(self, cfg: RouteConfig, reader: Lookup | None,
                 submit: Callable[[Iterable[EventLike]], None],
                 member: Callable[[str, str], MemberView | None], *,
                 wall: Callable[[], float] = time.time,
                 mono: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self._reader = reader
        self._submit = submit
        self._member = member
        self._wall = wall
        self._mono = mono
        self.stats = RouteStats()

    def routes(self) -> dict[str, Callable[[AgiChannel], Awaitable[None]]]:
        """The AGI route of this service."""
        return {ROUTE: self.handle} if self.cfg.enabled else {}

    def health(self) -> Mapping[str, Any]:
        """Counters for /v1/health."""
        s = self.stats
        return {"decided": s.decided, "by_rule": dict(s.by_rule), "history": dict(s.history),
                "not_set": s.not_set}

    async def _history(self, caller: str | None, now: float,
                       budget_s: float) -> tuple[list[PastCall], str]:
        if caller is None or self._reader is None:
            return [], "skipped"
        c = self.cfg
        window_h = max(c.repeat_within_h, c.care_within_h,
                       c.prefer_within_h if c.prefer_agent else 0.0)
        try:
            async with asyncio.timeout(max(budget_s, 0.0)):
                return await self._reader.lookup(caller, now - window_h * 3600.0,
                                                 c.history_rows), "ok"
        except TimeoutError:
            return [], "late"
        except Exception as exc:  # a locked or missing table: decide without history
            log.warning("route: caller history not read: %s", exc)
            return [], "failed"

    async def handle(self, agi: AgiChannel) -> None:
        """Decide and set the variables within the deadline (AgiError ends the session with
        FAILURE or a closed socket: the dialplan keeps its defaults)."""
        started = self._mono()
        deadline_s = self.cfg.deadline_ms / 1000.0
        request = agi.request
        args = tuple(request.args)
        base_queue = parse_queue(args[0] if args else "")
        base_prio = parse_prio(args[1] if len(args) > 1 else "")
        caller = normalise_caller(request.env.get("agi_callerid"))
        now = self._wall()
        history, how = await self._history(caller, now, deadline_s * LOOKUP_SHARE
                                           - (self._mono() - started))
        decision = decide(self.cfg, caller, history, now, base_prio=base_prio,
                          base_queue=base_queue, member=self._member)
        try:
            _, data = exec_data("MSet", tuple(f"{k}={v}" for k, v in decision.variables()))
        except AgiArgumentError:  # pragma: no cover - model.py checked every value
            log.exception("route: a decision with a value the dialplan cannot take")
            raise
        left = deadline_s - (self._mono() - started)
        done = False
        try:
            await agi.command("EXEC", "MSet", data, timeout_s=max(left, MIN_SEND_S))
            done = True
        finally:
            self._count(decision, how, request, caller, started, done)

    def _count(self, decision: Decision, how: str, request: Any, caller: str | None,
               started: float, done: bool) -> None:
        s = self.stats
        s.decided += 1
        s.not_set += 0 if done else 1
        s.history[how] += 1
        for rule in decision.reasons or ("none",):
            s.by_rule[rule] += 1
        self._submit([Event("route.decided", self._wall(), {
            "call_id": str(request.uniqueid), "channel": str(request.channel),
            "caller": caller, "queue": decision.queue or None, "prio": decision.prio,
            "agent": decision.agent, "penalty": decision.penalty,
            "offer_s": decision.offer_s, "reasons": list(decision.reasons),
            "history": how, "set": done,
            "decided_ms": round((self._mono() - started) * 1e3, 3)})])

    async def close(self) -> None:
        """Stop the history reader's threads."""
        if isinstance(self._reader, HistoryReader):
            await asyncio.to_thread(self._reader.close)


__all__ = ["ROUTE", "ROUTE_EVENT_TYPES", "RouteService", "RouteStats", "member_view"]

"""Per-subscriber filtering of the event stream: each reader gets the events its principal
may see (edgeqa.auth.visibility), resumable by the same global seq; a reader whose token is
revoked (or whose session ends) is cut off within CREDENTIAL_RECHECK_S, at its next event."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from edgeqa.api.access import AUTH_KEY, CREDENTIAL_KEY, call_facts_of, principal_of
from edgeqa.auth.model import CallFacts, Principal, call_facts, sees_call
from edgeqa.auth.visibility import (
    event_call,
    event_call_id,
    hidden_from_agent,
    sees_type,
    sees_uncalled_event,
)
from edgeqa.store.records import StoredEvent
from edgeqa.stream import StreamError, Subscription

#: Calls whose facts one filtered subscriber remembers (the least recently used go first).
CALL_FACTS_MAX_ENTRIES = 4096
#: How often a stream checks that its token (or session) is still good.
CREDENTIAL_RECHECK_S = 10.0


class CredentialRevoked(StreamError):
    """The reader's token was revoked or its session ended; it resumed after ``resume_after``."""

    def __init__(self, resume_after: int) -> None:
        super().__init__(f"the token was revoked or the session ended, at {resume_after}")
        self.resume_after = resume_after


class EventSource(Protocol):
    """What the WebSocket and SSE loops read: a Subscription, filtered or not."""

    @property
    def last_delivered(self) -> int: ...
    async def next(self) -> StoredEvent: ...


class VisibleEvents:
    """A subscription that skips the events its principal may not see.

    Cancellation-safe like Subscription.next(): an event taken from the subscription but not
    yet judged is kept and judged first on the next call.
    """

    def __init__(self, sub: Subscription, request: web.Request, principal: Principal,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sub = sub
        self._request = request
        self._principal = principal
        self._clock = clock
        self._checked_at = clock()
        self._filtered = principal.role not in ("admin", "feed")
        self._teams = request.app[AUTH_KEY].cfg.teams
        self._facts: OrderedDict[str, CallFacts] = OrderedDict()
        self._pending: StoredEvent | None = None

    @property
    def last_delivered(self) -> int:
        """The seq of the last event taken from the subscription (seen or skipped)."""
        return self._sub.last_delivered

    async def next(self) -> StoredEvent:
        """The next event this principal may see; raise CredentialRevoked once its credential
        is no longer good."""
        while True:
            if self._pending is None:
                self._pending = await self._sub.next()
            event = self._pending
            await self._recheck(event.seq - 1)
            visible = await self._visible(event) if self._filtered else True
            self._pending = None
            if visible:
                return event

    async def _recheck(self, resume_after: int) -> None:
        now = self._clock()
        if now - self._checked_at < CREDENTIAL_RECHECK_S:
            return
        credential = self._request.get(CREDENTIAL_KEY)
        if credential is not None and not await credential.still_valid(
                self._request.app[AUTH_KEY]):
            raise CredentialRevoked(resume_after)
        self._checked_at = now

    async def _visible(self, event: StoredEvent) -> bool:
        data: Any = event.data
        if not isinstance(data, dict) or not sees_type(self._principal, event.type):
            return False
        if self._principal.role == "agent" and hidden_from_agent(data):
            return False
        call_id = event_call_id(data)
        if call_id is None:
            return sees_uncalled_event(self._principal, event.type, data, self._teams)
        facts = self._facts.pop(call_id, None)
        call = event_call(data)
        if call is not None:
            carried = call_facts(call)
            facts = carried if facts is None else facts.merged(carried)
        else:
            if facts is None:  # first seen here (a reader resumed mid-call): ask the daemon
                facts = await call_facts_of(self._request, call_id, False) or CallFacts()
            channel = data.get("channel") or data.get("leg")
            if isinstance(channel, dict):  # a leg.* event: its call is that channel's too
                facts = facts.merged(call_facts({"channels": [channel]}))
        self._facts[call_id] = facts
        while len(self._facts) > CALL_FACTS_MAX_ENTRIES:
            self._facts.popitem(last=False)
        return sees_call(self._principal, facts, self._teams)


def visible_events(request: web.Request, sub: Subscription) -> EventSource:
    """``sub`` as the request's principal may read it (admin and feed: unfiltered)."""
    return VisibleEvents(sub, request, principal_of(request))

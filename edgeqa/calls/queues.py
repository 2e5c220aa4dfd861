"""Queues, their members and waiting callers, from AMI queue events (pure)."""

from __future__ import annotations

from typing import Any

from edgeqa.ami.message import AmiMessage
from edgeqa.calls.model import Caller, Member, Queue, endpoint_of
from edgeqa.store.records import Event

# A PBX with more queues or members than this is not one edge box; refuse to grow further.
MAX_QUEUES = 1_000
MAX_MEMBERS_PER_QUEUE = 1_000
MAX_CALLERS_PER_QUEUE = 10_000

MEMBER_EVENTS = frozenset({
    "QueueMemberStatus", "QueueMemberAdded", "QueueMemberPause", "QueueMemberPenalty",
    "QueueMemberRinginuse", "QueueMember",
})


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


class QueueBook:
    """The queues seen so far; every change returns the TrackerEvents it causes."""

    def __init__(self) -> None:
        self.queues: dict[str, Queue] = {}

    def queue(self, name: str) -> Queue | None:
        """Return the queue called ``name``, creating it unless the MAX_QUEUES cap is reached."""
        found = self.queues.get(name)
        if found is None and len(self.queues) < MAX_QUEUES:
            found = self.queues[name] = Queue(name=name)
        return found

    def agent_endpoints(self) -> set[str]:
        """Every device that is a queue member (its Interface and StateInterface)."""
        found: set[str] = set()
        for queue in self.queues.values():
            for member in queue.members.values():
                found.add(endpoint_of(member.interface))
                if member.state_interface:
                    found.add(endpoint_of(member.state_interface))
        return found

    def member_for(self, endpoint: str) -> Member | None:
        """The first member whose interface or state interface is ``endpoint``."""
        for queue in self.queues.values():
            for member in queue.members.values():
                if endpoint in (member.interface, member.state_interface):
                    return member
        return None

    def agent_dict(self, interface: str, on_call: str | None) -> dict[str, Any]:
        """One agent across every queue it belongs to (schemas: $defs.agent)."""
        memberships = [
            (q.name, q.members[interface]) for q in sorted(self.queues.values(),
                                                           key=lambda q: q.name)
            if interface in q.members
        ]
        name = next((m.name for _, m in memberships if m.name), "")
        return {
            "interface": interface, "name": name,
            "queues": [
                {"queue": qname, "paused": m.paused, "penalty": m.penalty,
                 "state": m.to_dict()["state"], "calls_taken": m.calls_taken}
                for qname, m in memberships
            ],
            "paused": bool(memberships) and all(m.paused for _, m in memberships),
            "on_call": on_call,
        }

    def interfaces(self) -> list[str]:
        """Every member interface, sorted."""
        return sorted({i for q in self.queues.values() for i in q.members})

    def on_member(self, msg: AmiMessage, now: float, on_call: str | None,
                  seen: set[tuple[str, str]] | None = None) -> list[Event]:
        """QueueMember* events and QueueStatus' QueueMember: update one member."""
        queue = self.queue(msg.get("Queue", "") or "")
        # QueueStatus' QueueMember names the interface Location; the live events Interface.
        interface = msg.get("Interface") or msg.get("Location") or ""
        if queue is None or not interface:
            return []
        if seen is not None:
            seen.add((queue.name, interface))
        member = queue.members.get(interface)
        if member is None:
            if len(queue.members) >= MAX_MEMBERS_PER_QUEUE:
                return []
            member = queue.members[interface] = Member(interface=interface)
        before = member.to_dict()
        member.name = msg.get("MemberName") or msg.get("Name") or member.name
        member.state_interface = msg.get("StateInterface") or member.state_interface
        member.membership = msg.get("Membership") or member.membership
        member.paused = _int(msg.get("Paused"), int(member.paused)) != 0
        member.paused_reason = msg.get("PausedReason", member.paused_reason) or ""
        member.penalty = _int(msg.get("Penalty"), member.penalty)
        member.status = _int(msg.get("Status"), member.status)
        member.in_call = _int(msg.get("InCall"), int(member.in_call)) != 0
        member.calls_taken = _int(msg.get("CallsTaken"), member.calls_taken)
        if member.to_dict() == before and msg.event != "QueueMemberAdded":
            return []
        return self._member_changed(queue, interface, now, on_call)

    def on_member_removed(self, msg: AmiMessage, now: float) -> list[Event]:
        """QueueMemberRemoved."""
        queue = self.queues.get(msg.get("Queue", "") or "")
        interface = msg.get("Interface") or ""
        if queue is None or queue.members.pop(interface, None) is None:
            return []
        return self._member_changed(queue, interface, now, None)

    def _member_changed(self, queue: Queue, interface: str, now: float,
                        on_call: str | None) -> list[Event]:
        return [
            Event("queue.updated", now, {"queue": queue.to_dict()}),
            Event("agent.updated", now, {"agent": self.agent_dict(interface, on_call)}),
        ]

    def on_params(self, msg: AmiMessage, now: float) -> list[Event]:
        """QueueParams (from QueueStatus)."""
        queue = self.queue(msg.get("Queue", "") or "")
        if queue is None:
            return []
        before = queue.to_dict()
        queue.strategy = msg.get("Strategy") or queue.strategy
        queue.completed = _int(msg.get("Completed"), queue.completed)
        queue.abandoned = _int(msg.get("Abandoned"), queue.abandoned)
        after = queue.to_dict()
        return [] if after == before else [Event("queue.updated", now, {"queue": after})]

    def on_join(self, msg: AmiMessage, ts: float, now: float, call_id: str | None,
                since: float | None = None) -> list[Event]:
        """QueueCallerJoin, or QueueStatus' QueueEntry (``since`` from its Wait)."""
        queue = self.queue(msg.get("Queue", "") or "")
        uniqueid = msg.get("Uniqueid") or ""
        if queue is None or not uniqueid:
            return []
        known = queue.callers.get(uniqueid)
        position = _int(msg.get("Position"), 0)
        if known is not None:
            known.position = position
            return []
        if len(queue.callers) >= MAX_CALLERS_PER_QUEUE:
            return []
        caller = Caller(uniqueid, msg.get("Channel") or "", call_id, position,
                        ts if since is None else since)
        queue.callers[uniqueid] = caller
        return [Event("queue.caller_joined", now,
                             {"queue": queue.name, "caller": caller.to_dict()})]

    def on_complete(self, msg: AmiMessage, now: float) -> list[Event]:
        """AgentComplete: app_queue counted one more completed call (update_queue())."""
        queue = self.queue(msg.get("Queue", "") or "")
        if queue is None:
            return []
        queue.completed += 1
        return [Event("queue.updated", now, {"queue": queue.to_dict()})]

    def answered(self, call_id: str, agent_uniqueid: str) -> None:
        """An agent leg of ``call_id`` answered: its waiting callers are no longer waiting."""
        for queue in self.queues.values():
            for caller in queue.callers.values():
                if caller.call_id == call_id and caller.answered_by is None:
                    caller.answered_by = agent_uniqueid

    def release(self, agent_uniqueid: str, now: float) -> list[Event]:
        """The answering agent leg hung up before app_queue took the caller: it waits again."""
        events: list[Event] = []
        for name in sorted(self.queues):
            queue = self.queues[name]
            waiting = [c for c in queue.callers.values() if c.answered_by == agent_uniqueid]
            for caller in waiting:
                caller.answered_by = None
            if waiting:
                events.append(Event("queue.updated", now, {"queue": queue.to_dict()}))
        return events

    def on_abandon(self, msg: AmiMessage) -> None:
        """QueueCallerAbandon: comes before QueueCallerLeave; remember why the caller left."""
        queue = self.queues.get(msg.get("Queue", "") or "")
        caller = None if queue is None else queue.callers.get(msg.get("Uniqueid") or "")
        if caller is not None:
            caller.abandoned = True

    def leave(self, queue_name: str, uniqueid: str, ts: float, now: float,
              reason: str | None = None) -> list[Event]:
        """Remove a waiting caller (QueueCallerLeave, hang-up, or sweep)."""
        queue = self.queues.get(queue_name)
        caller = None if queue is None else queue.callers.pop(uniqueid, None)
        if queue is None or caller is None:
            return []
        for other in queue.callers.values():
            if other.position > caller.position > 0:
                other.position -= 1
        why = reason or ("abandoned" if caller.abandoned else "left")
        if why == "abandoned":
            queue.abandoned += 1
        data = {"queue": queue.name, "caller": caller.to_dict(), "reason": why,
                "waited_s": max(0.0, ts - caller.since)}
        return [Event("queue.caller_left", now, data)]

    def leave_everywhere(self, uniqueid: str, ts: float, now: float,
                         reason: str) -> list[Event]:
        """Remove ``uniqueid`` from every queue it waits in."""
        events: list[Event] = []
        for name in sorted(self.queues):
            events += self.leave(name, uniqueid, ts, now, reason)
        return events

    def sweep_unseen(self, seen_queues: set[str], seen_members: set[tuple[str, str]],
                     seen_callers: set[tuple[str, str]], now: float) -> list[Event]:
        """After a QueueStatus resync: drop members and callers of listed queues not listed."""
        events: list[Event] = []
        for name in sorted(seen_queues):
            queue = self.queues.get(name)
            if queue is None:
                continue
            for uniqueid in sorted(queue.callers):
                if (name, uniqueid) not in seen_callers:
                    events += self.leave(name, uniqueid, now, now, "swept")
            gone = [i for i in sorted(queue.members) if (name, i) not in seen_members]
            for interface in gone:
                del queue.members[interface]
                events += self._member_changed(queue, interface, now, None)
        return events

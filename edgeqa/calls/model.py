"""The call model: channels, calls, queues and their members (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROLE_CUSTOMER = "customer"
ROLE_AGENT = "agent"
ROLE_CALLEE = "callee"
ROLE_SUPERVISOR = "supervisor"
ROLE_UNKNOWN = "unknown"
ROLES = (ROLE_CUSTOMER, ROLE_AGENT, ROLE_CALLEE, ROLE_SUPERVISOR, ROLE_UNKNOWN)

CALL_NEW = "new"
CALL_QUEUED = "queued"
CALL_CONNECTED = "connected"
CALL_ENDED = "ended"

# Every tracker Event.type, each with schemas/<store.schema_name(type)>.json.
EVENT_TYPES = (
    "call.started", "call.updated", "call.ended",
    "leg.added", "leg.updated", "leg.removed",
    "queue.updated", "queue.caller_joined", "queue.caller_left",
    "agent.updated",
)

# A channel's final state once it has hung up (Asterisk's own states end at "up"/"busy").
CHANNEL_HUNGUP = "hungup"
# Hold intervals kept per channel; older ones are dropped (hold_count and hold_s stay exact).
MAX_HOLDS_PER_CHANNEL = 32
# Transfers kept per call; older ones are dropped.
MAX_TRANSFERS_PER_CALL = 16
TRANSFER_BLIND = "blind"
TRANSFER_ATTENDED = "attended"
TRANSFER_KINDS = (TRANSFER_BLIND, TRANSFER_ATTENDED)

# Asterisk device states (ast_device_state), as QueueMemberStatus reports them in Status.
DEVICE_STATES = {
    0: "unknown", 1: "not_inuse", 2: "inuse", 3: "busy", 4: "invalid",
    5: "unavailable", 6: "ringing", 7: "ringinuse", 8: "onhold",
}
# Asterisk channel states (ast_channel_state), as ChannelState reports them.
CHANNEL_STATES = {
    0: "down", 1: "reserved", 2: "offhook", 3: "dialing", 4: "ring",
    5: "ringing", 6: "up", 7: "busy", 8: "dialing_offhook", 9: "prering",
}


@dataclass(slots=True)
class Channel:
    """One channel of a call, as the tracker currently knows it."""

    uniqueid: str
    channel: str
    call_id: str
    started_at: float
    role: str = ROLE_UNKNOWN
    state: str = "down"
    caller_id_num: str = ""
    caller_id_name: str = ""
    answered_at: float | None = None
    ended_at: float | None = None
    queue: str | None = None
    agent_interface: str | None = None
    on_hold: bool = False
    recording: bool = False
    bridge_id: str | None = None
    spying_on: str | None = None
    spy_mode: str | None = None
    hangup_cause: str | None = None
    last_seen: float = 0.0
    hold_count: int = 0
    hold_s: float = 0.0
    holds: list[tuple[float, float | None]] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        """``PJSIP/agent1`` for ``PJSIP/agent1-00000001``: the device, without the sequence."""
        return endpoint_of(self.channel)

    def to_dict(self) -> dict[str, Any]:
        """The channel as JSON-ready data (schemas/*: $defs.channel)."""
        return {
            "uniqueid": self.uniqueid, "channel": self.channel, "endpoint": self.endpoint,
            "call_id": self.call_id, "role": self.role, "state": self.state,
            "caller_id_num": self.caller_id_num, "caller_id_name": self.caller_id_name,
            "started_at": self.started_at, "answered_at": self.answered_at,
            "ended_at": self.ended_at, "queue": self.queue,
            "agent_interface": self.agent_interface, "on_hold": self.on_hold,
            "recording": self.recording, "bridge_id": self.bridge_id,
            "spying_on": self.spying_on, "spy_mode": self.spy_mode,
            "hangup_cause": self.hangup_cause, "hold_count": self.hold_count,
            "hold_s": self.hold_s,
            "holds": [{"start": start, "end": end} for start, end in self.holds],
        }

    def set_hold(self, on_hold: bool, ts: float) -> None:
        """Start or end a hold interval at ``ts``; repeating the current state changes nothing."""
        if on_hold == self.on_hold:
            return
        self.on_hold = on_hold
        if on_hold:
            self.hold_count += 1
            if len(self.holds) >= MAX_HOLDS_PER_CHANNEL:
                del self.holds[0]
            self.holds.append((ts, None))
        elif self.holds and self.holds[-1][1] is None:
            start = self.holds[-1][0]
            self.holds[-1] = (start, max(ts, start))
            self.hold_s += max(0.0, ts - start)


@dataclass(frozen=True, slots=True)
class Transfer:
    """A completed transfer: who moved whom where (uniqueids; ``exten@context`` if blind)."""

    kind: str
    at: float
    transferer: str | None
    transferee: str | None
    target: str | None

    def to_dict(self) -> dict[str, Any]:
        """The transfer as JSON-ready data (schemas/call.*: $defs.call.transfers)."""
        return {"kind": self.kind, "at": self.at, "transferer": self.transferer,
                "transferee": self.transferee, "target": self.target}


@dataclass(slots=True)
class Call:
    """A call: the channels sharing one Linkedid, plus supervisors attached by ChanSpy."""

    call_id: str
    started_at: float
    announced: bool = False
    state: str = CALL_NEW
    answered_at: float | None = None
    ended_at: float | None = None
    queue: str | None = None
    agent_interface: str | None = None
    agent_name: str | None = None
    channels: dict[str, Channel] = field(default_factory=dict)
    transfers: list[Transfer] = field(default_factory=list)

    def live_channels(self) -> list[Channel]:
        """Channels that have not hung up."""
        return [c for c in self.channels.values() if c.ended_at is None]

    @property
    def on_hold(self) -> bool:
        """True while any live channel is on hold."""
        return any(c.on_hold for c in self.live_channels())

    def to_dict(self) -> dict[str, Any]:
        """The call as JSON-ready data (schemas/*: $defs.call)."""
        channels = sorted(self.channels.values(), key=lambda c: (c.started_at, c.uniqueid))
        return {
            "call_id": self.call_id, "state": self.state, "started_at": self.started_at,
            "answered_at": self.answered_at, "ended_at": self.ended_at,
            "duration_s": None if self.ended_at is None else self.ended_at - self.started_at,
            "queue": self.queue, "agent_interface": self.agent_interface,
            "agent_name": self.agent_name,
            "on_hold": self.on_hold,
            "hold_s": sum(c.hold_s for c in self.channels.values()
                          if c.role != ROLE_SUPERVISOR),
            "supervisors": sum(
                1 for c in self.live_channels() if c.role == ROLE_SUPERVISOR
            ),
            "transfers": [transfer.to_dict() for transfer in self.transfers],
            "channels": [c.to_dict() for c in channels],
        }


@dataclass(slots=True)
class Member:
    """One member (agent interface) of one queue."""

    interface: str
    name: str = ""
    state_interface: str = ""
    membership: str = "static"
    paused: bool = False
    paused_reason: str = ""
    penalty: int = 0
    status: int = 0
    in_call: bool = False
    calls_taken: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The member as JSON-ready data (schemas/*: $defs.member)."""
        return {
            "interface": self.interface, "name": self.name,
            "state_interface": self.state_interface, "membership": self.membership,
            "paused": self.paused, "paused_reason": self.paused_reason,
            "penalty": self.penalty, "status": self.status,
            "state": DEVICE_STATES.get(self.status, "unknown"), "in_call": self.in_call,
            "calls_taken": self.calls_taken,
        }


@dataclass(slots=True)
class Caller:
    """A caller waiting in a queue."""

    uniqueid: str
    channel: str
    call_id: str | None
    position: int
    since: float
    abandoned: bool = False
    # The agent channel that answered this caller: app_queue removes the caller only after the
    # agent's device is in use, so such a caller is no longer shown as waiting.
    answered_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The waiting caller as JSON-ready data (schemas/*: $defs.caller)."""
        return {
            "uniqueid": self.uniqueid, "channel": self.channel, "call_id": self.call_id,
            "position": self.position, "since": self.since,
        }


@dataclass(slots=True)
class Queue:
    """A queue: its members by interface and its waiting callers by uniqueid."""

    name: str
    strategy: str = ""
    members: dict[str, Member] = field(default_factory=dict)
    callers: dict[str, Caller] = field(default_factory=dict)
    completed: int = 0
    abandoned: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The queue as JSON-ready data (schemas/*: $defs.queue)."""
        callers = sorted((c for c in self.callers.values() if c.answered_by is None),
                         key=lambda c: (c.position, c.since))
        return {
            "name": self.name, "strategy": self.strategy, "completed": self.completed,
            "abandoned": self.abandoned,
            "members": [self.members[k].to_dict() for k in sorted(self.members)],
            "callers": [caller.to_dict() for caller in callers],
        }


def endpoint_of(channel: str) -> str:
    """Strip Asterisk's ``-<sequence>`` suffix: ``PJSIP/agent1-0000000a`` -> ``PJSIP/agent1``."""
    head, sep, tail = channel.rpartition("-")
    if sep and "/" in head and tail and all(c in "0123456789abcdefABCDEF" for c in tail):
        return head
    return channel


def is_local(channel: str) -> bool:
    """``Local/…;1`` and ``;2``: plumbing, never a channel of a call."""
    return channel.startswith("Local/")


# Channels Asterisk creates for media taps: never call channels, nor supervisors
# (docs/asterisk.md).
MEDIA_TECHS = ("Snoop/", "UnicastRTP/", "AudioSocket/", "WebSocket/", "Announcer/", "Recorder/")


def is_media_helper(channel: str) -> bool:
    """ARI snoop / externalMedia / bridge helper channels."""
    return channel.startswith(MEDIA_TECHS)


def spy_mode_of(chanspy_data: str) -> str:
    """ChanSpy options -> ``listen`` / ``whisper`` (w) / ``barge`` (B)."""
    _, _, options = chanspy_data.partition(",")
    if "B" in options:
        return "barge"
    if "w" in options:
        return "whisper"
    return "listen"

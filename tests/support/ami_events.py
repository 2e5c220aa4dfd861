"""Hand-built AMI events for tracker tests, and checks on the tracker's model and stream."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from edgeqa.ami.message import AmiMessage
from edgeqa.ami.protocol import AmiCodec
from edgeqa.calls import CallTracker
from edgeqa.store.records import Event
from tests.support.schemas import assert_valid

T0 = 1_800_000_000.0
#: The recorded transcript's time origin (run_ami).
TRANSCRIPT_T0 = 1_795_327_440.0


def ami(event: str, **headers: str) -> AmiMessage:
    pairs = [("Event", event)] + [(k.replace("_", "-") if k == "Cause_txt" else k, v)
                                  for k, v in headers.items()]
    return AmiMessage(tuple(pairs))


def chan(event: str, channel: str, uniqueid: str, linkedid: str, state: str = "6",
         **extra: str) -> AmiMessage:
    return ami(event, Channel=channel, ChannelState=state, Uniqueid=uniqueid,
               Linkedid=linkedid, **extra)


def dial(caller: tuple[str, str], dest: tuple[str, str], linkedid: str) -> AmiMessage:
    return ami("DialBegin", Channel=caller[0], Uniqueid=caller[1], Linkedid=linkedid,
               DestChannel=dest[0], DestUniqueid=dest[1], DestLinkedid=linkedid,
               DialString=dest[0])


def feed(tracker: CallTracker, *msgs: AmiMessage, t: float = T0) -> list[Event]:
    events: list[Event] = []
    for index, msg in enumerate(msgs):
        events += tracker.handle_ami(msg, t + index)
    assert_valid(events)
    return events


def roles(tracker: CallTracker) -> dict[str, str]:
    return {leg["channel"]: leg["role"] for call in tracker.snapshot()["calls"]
            for leg in call["channels"]}


def member(event: str = "QueueMemberStatus", **extra: str) -> AmiMessage:
    base = {"Queue": "support", "MemberName": "Agent One", "Interface": "PJSIP/agent1",
            "StateInterface": "PJSIP/agent1", "Membership": "static", "Penalty": "0",
            "CallsTaken": "0", "Status": "1", "Paused": "0", "PausedReason": "",
            "InCall": "0"}
    base.update(extra)
    return ami(event, **base)


CALLER = ("PJSIP/caller-00000010", "100.1")


BOB = ("PJSIP/bob-00000011", "100.2")


AGENT = ("PJSIP/agent1-00000012", "100.3")


LINKED = CALLER[1]


def queue_join() -> AmiMessage:
    return ami("QueueCallerJoin", Channel=CALLER[0], Uniqueid=CALLER[1], Linkedid=LINKED,
               Queue="support", Position="1", Count="1")


def answered_queue_call() -> list[AmiMessage]:
    """Asterisk 22's order (tests/data/asterisk/ami_call.txt): the agent's device turns
    in-use (QueueMemberStatus) before app_queue removes the caller (QueueCallerLeave)."""
    return [
        member(),
        chan("Newchannel", *CALLER, LINKED, state="4"), chan("Newstate", *CALLER, LINKED),
        queue_join(),
        chan("Newchannel", *AGENT, LINKED, state="0"),
        ami("AgentCalled", Channel=CALLER[0], Uniqueid=CALLER[1], Linkedid=LINKED,
            DestChannel=AGENT[0], DestUniqueid=AGENT[1], Queue="support",
            Interface="PJSIP/agent1", MemberName="Agent One"),
        ami("DialBegin", Channel=CALLER[0], Uniqueid=CALLER[1], Linkedid=LINKED,
            DestChannel=AGENT[0], DestUniqueid=AGENT[1], DialString="PJSIP/agent1"),
        chan("Newstate", *AGENT, LINKED, state="6"),
        member(Status="2"),
        ami("QueueCallerLeave", Channel=CALLER[0], Uniqueid=CALLER[1], Linkedid=LINKED,
            Queue="support", Position="1", Count="0"),
        ami("AgentConnect", Channel=CALLER[0], Uniqueid=CALLER[1], Linkedid=LINKED,
            DestChannel=AGENT[0], DestUniqueid=AGENT[1], Queue="support",
            Interface="PJSIP/agent1", MemberName="Agent One", HoldTime="3", RingTime="1"),
    ]


def hangups() -> list[AmiMessage]:
    return [
        ami("AgentComplete", Channel=CALLER[0], Uniqueid=CALLER[1], Linkedid=LINKED,
            DestChannel=AGENT[0], DestUniqueid=AGENT[1], Queue="support",
            Interface="PJSIP/agent1", MemberName="Agent One", HoldTime="3", TalkTime="30",
            Reason="caller"),
        chan("Hangup", *CALLER, LINKED, Cause="16", Cause_txt="Normal Clearing"),
        chan("Hangup", *AGENT, LINKED, Cause="16", Cause_txt="Normal Clearing"),
        member(CallsTaken="1", Status="1"),
    ]


def check_consistent(tracker: CallTracker) -> None:
    for uniqueid, leg in tracker.channels.items():
        assert tracker.calls[leg.call_id].channels[uniqueid] is leg
        assert not leg.channel.startswith(("Snoop/", "UnicastRTP/", "Local/"))
    for call in tracker.calls.values():
        assert call.channels, call.call_id


def check_stream(events: list[Event]) -> None:
    """Per call: at most one start and one end, in that order; channels added before removed;
    a leg.* event's "leg" is its channel's role."""
    started: Counter[str] = Counter()
    ended: Counter[str] = Counter()
    live: set[tuple[str, str]] = set()
    for event in events:
        if event.type.startswith("leg."):
            assert event.data["leg"] == event.data["channel"]["role"], event.data
        if event.type == "call.started":
            started[event.data["call"]["call_id"]] += 1
        elif event.type == "call.ended":
            call_id = event.data["call"]["call_id"]
            assert started[call_id] == 1
            ended[call_id] += 1
        elif event.type == "leg.added":
            live.add((event.data["call_id"], event.data["channel"]["uniqueid"]))
        elif event.type == "leg.removed":
            key = (event.data["call_id"], event.data["channel"]["uniqueid"])
            assert key in live, key
            live.discard(key)
    assert max(started.values(), default=0) <= 1 and max(ended.values(), default=0) <= 1
    assert set(started) == set(ended)


def ami_messages(data_dir: Path) -> list[AmiMessage]:
    return AmiCodec().feed((data_dir / "asterisk" / "ami_call.txt").read_bytes())


def run_ami(tracker: CallTracker, msgs: list[AmiMessage]) -> list[Event]:
    events: list[Event] = []
    for index, msg in enumerate(msgs):
        events += tracker.handle_ami(msg, TRANSCRIPT_T0 + index * 0.01)
    return events

"""The tracker on hand-built AMI/ARI sequences: dial roles, Local, hold, queues, resync, sweep."""

from __future__ import annotations

from typing import Any

from edgeqa.ami.message import AmiMessage
from edgeqa.calls import CallTracker
from edgeqa.store.records import Event
from tests.support.ami_events import AGENT, BOB, CALLER, T0, ami, chan, dial, feed, member, roles
from tests.support.schemas import assert_valid


def test_plain_dial_to_unknown_endpoint_is_callee() -> None:
    tracker = CallTracker()
    events = feed(tracker, chan("Newchannel", *CALLER, "100.1", state="4"),
                  chan("Newchannel", *BOB, "100.1", state="0"), dial(CALLER, BOB, "100.1"))
    assert [e.type for e in events] == ["call.started", "leg.added", "leg.added"]
    assert roles(tracker) == {CALLER[0]: "customer", BOB[0]: "callee"}


def test_plain_dial_to_queue_member_is_agent() -> None:
    tracker = CallTracker()
    feed(tracker, member(), chan("Newchannel", *CALLER, "100.1", state="4"),
         chan("Newchannel", *AGENT, "100.1", state="0"), dial(CALLER, AGENT, "100.1"),
         chan("Newstate", *AGENT, "100.1"),
         ami("BridgeEnter", BridgeUniqueid="b1", Channel=AGENT[0], Uniqueid=AGENT[1],
             Linkedid="100.1"),
         ami("BridgeEnter", BridgeUniqueid="b1", Channel=CALLER[0], Uniqueid=CALLER[1],
             Linkedid="100.1"))
    assert roles(tracker) == {CALLER[0]: "customer", AGENT[0]: "agent"}
    (call,) = tracker.snapshot()["calls"]
    assert call["state"] == "connected" and call["answered_at"] == T0 + 6
    agent_leg = next(leg for leg in call["channels"] if leg["role"] == "agent")
    assert agent_leg["agent_interface"] == "PJSIP/agent1" and agent_leg["answered_at"] == T0 + 4


def test_local_channels_make_no_phantom_calls() -> None:
    tracker = CallTracker()
    local1, local2 = ("Local/100@agents-00000001;1", "100.5"), ("Local/100@agents-00000001;2",
                                                                "100.6")
    events = feed(
        tracker, member(),
        chan("Newchannel", *CALLER, "100.1", state="4"),
        chan("Newchannel", *local1, "100.1", state="0"),
        chan("Newchannel", *local2, "100.1", state="4"),
        dial(CALLER, local1, "100.1"),
        chan("Newchannel", *AGENT, "100.1", state="0"),
        dial(local2, AGENT, "100.1"),
        # An originated Local pair of its own (the sandbox's tally): nothing at all.
        chan("Newchannel", "Local/tally@sandbox-test-00000002;1", "200.1", "200.1", "0"),
        chan("Newchannel", "Local/tally@sandbox-test-00000002;2", "200.2", "200.1", "4"),
        chan("Hangup", "Local/tally@sandbox-test-00000002;2", "200.2", "200.1"),
        chan("Hangup", "Local/tally@sandbox-test-00000002;1", "200.1", "200.1"),
    )
    assert [e.type for e in events if e.type.startswith("call")] == ["call.started"]
    assert roles(tracker) == {CALLER[0]: "customer", AGENT[0]: "agent"}
    assert set(tracker.calls) == {"100.1"}


def test_local_queue_member_agent_connect_marks_the_device_leg() -> None:
    tracker = CallTracker()
    local1 = ("Local/agent1@agents-00000003;1", "100.5")
    feed(tracker,
         member(Interface="Local/agent1@agents", StateInterface="PJSIP/agent1"),
         chan("Newchannel", *CALLER, "100.1", state="4"),
         ami("QueueCallerJoin", Channel=CALLER[0], Uniqueid=CALLER[1], Linkedid="100.1",
             Queue="support", Position="1", Count="1"),
         chan("Newchannel", *local1, "100.1", state="0"),
         chan("Newchannel", *AGENT, "100.1", state="0"),
         ami("AgentConnect", Channel=CALLER[0], Uniqueid=CALLER[1], Linkedid="100.1",
             DestChannel=local1[0], DestUniqueid=local1[1], Queue="support",
             Interface="Local/agent1@agents", MemberName="Agent One", HoldTime="3"))
    (call,) = tracker.snapshot()["calls"]
    agent_leg = next(leg for leg in call["channels"] if leg["channel"] == AGENT[0])
    assert agent_leg["role"] == "agent"
    assert call["agent_interface"] == "Local/agent1@agents"
    agents = tracker.snapshot()["agents"]
    assert agents[0]["on_call"] == "100.1"


def test_originated_chanspy_is_a_supervisor_not_a_call_and_snoop_is_ignored() -> None:
    tracker = CallTracker()
    sup = ("PJSIP/supervisor-00000020", "300.1")
    events = feed(
        tracker, chan("Newchannel", *CALLER, "100.1", state="4"),
        chan("Newchannel", *BOB, "100.1", state="0"), dial(CALLER, BOB, "100.1"),
        chan("Newchannel", *sup, "300.1", state="0"),
        ami("DialBegin", DestChannel=sup[0], DestUniqueid=sup[1], DestLinkedid="300.1",
            DialString="supervisor"),
        chan("Newstate", *sup, "300.1"),
        ami("OriginateResponse", Response="Success", Channel=sup[0], Application="ChanSpy",
            Data="PJSIP/bob-,qw", Uniqueid=sup[1]),
        ami("ChanSpyStart", SpyerChannel="Snoop/100.1-00000000", SpyerUniqueid="snoop-1",
            SpyeeChannel=CALLER[0], SpyeeUniqueid=CALLER[1]),
        ami("ChanSpyStart", SpyerChannel=sup[0], SpyerUniqueid=sup[1],
            SpyeeChannel=BOB[0], SpyeeUniqueid=BOB[1]),
    )
    assert [e.data["call"]["call_id"] for e in events if e.type == "call.started"] == ["100.1"]
    assert roles(tracker) == {CALLER[0]: "customer", BOB[0]: "callee", sup[0]: "supervisor"}
    sup_leg = tracker.channels[sup[1]]
    assert (sup_leg.spy_mode, sup_leg.spying_on) == ("whisper", BOB[1])
    events = feed(tracker, chan("Hangup", *sup, "300.1"), t=T0 + 50)
    assert [e.type for e in events] == ["leg.removed", "call.updated"]
    assert events[1].data["call"]["supervisors"] == 0


def test_supervisor_alone_after_the_call_ends_the_call() -> None:
    tracker = CallTracker()
    sup = ("PJSIP/supervisor-00000021", "300.2")
    feed(tracker, chan("Newchannel", *CALLER, "100.1", state="4"),
         chan("Newchannel", *BOB, "100.1", state="0"), dial(CALLER, BOB, "100.1"),
         chan("Newchannel", *sup, "300.2", state="4"),
         ami("Newexten", Channel=sup[0], Uniqueid=sup[1], Application="ChanSpy",
             AppData="PJSIP/caller-,qB"),
         ami("ChanSpyStart", SpyerChannel=sup[0], SpyerUniqueid=sup[1],
             SpyeeChannel=CALLER[0], SpyeeUniqueid=CALLER[1]))
    assert tracker.channels[sup[1]].spy_mode == "barge"
    events = feed(tracker, chan("Hangup", *CALLER, "100.1"), chan("Hangup", *BOB, "100.1"),
                  chan("Hangup", *sup, "300.2"), t=T0 + 60)
    assert [e.type for e in events].count("call.ended") == 1
    assert events[-1].type == "call.ended" or "call.ended" in [e.type for e in events]
    assert tracker.calls == {} and tracker.channels == {}


def test_hold_and_unhold() -> None:
    tracker = CallTracker()
    feed(tracker, chan("Newchannel", *CALLER, "100.1", state="4"),
         chan("Newchannel", *BOB, "100.1", state="0"), dial(CALLER, BOB, "100.1"))
    events = feed(tracker, chan("Hold", *CALLER, "100.1", MusicClass="default"), t=T0 + 10)
    assert [e.type for e in events] == ["leg.updated", "call.updated"]
    assert events[0].data["channel"]["on_hold"] is True and events[1].data["call"]["on_hold"]
    events = feed(tracker, chan("Unhold", *CALLER, "100.1"), t=T0 + 20)
    assert events[1].data["call"]["on_hold"] is False


def test_queue_members_and_abandon() -> None:
    tracker = CallTracker()
    events = feed(tracker, member("QueueMemberAdded", Membership="dynamic"),
                  member("QueueMemberPause", Paused="1", PausedReason="lunch",
                         Membership="dynamic"),
                  member("QueueMemberPenalty", Paused="1", PausedReason="lunch", Penalty="3",
                         Membership="dynamic"),
                  member("QueueMemberPenalty", Paused="1", PausedReason="lunch", Penalty="3",
                         Membership="dynamic"))
    # The repeated penalty changes nothing, so it emits nothing.
    assert [e.type for e in events] == ["queue.updated", "agent.updated"] * 3
    (m,) = tracker.snapshot()["queues"][0]["members"]
    assert (m["paused"], m["paused_reason"], m["penalty"], m["membership"]) == (
        True, "lunch", 3, "dynamic")
    assert tracker.snapshot()["agents"][0]["paused"] is True
    join = ami("QueueCallerJoin", Channel=CALLER[0], Uniqueid=CALLER[1], Linkedid="100.1",
               Queue="support", Position="1", Count="1")
    events = feed(tracker, chan("Newchannel", *CALLER, "100.1", state="4"), join,
                  ami("QueueCallerAbandon", Uniqueid=CALLER[1], Queue="support",
                      Position="1", OriginalPosition="1", HoldTime="12"),
                  ami("QueueCallerLeave", Channel=CALLER[0], Uniqueid=CALLER[1],
                      Queue="support", Position="1", Count="0"),
                  chan("Hangup", *CALLER, "100.1"), t=T0 + 100)
    assert [e.type for e in events] == ["call.started", "leg.added", "queue.caller_joined",
                                        "queue.caller_left", "leg.removed", "call.ended"]
    left = events[3].data
    assert left["reason"] == "abandoned" and left["waited_s"] == 2.0
    assert tracker.snapshot()["queues"][0]["abandoned"] == 1
    events = feed(tracker, ami("QueueMemberRemoved", Queue="support",
                               Interface="PJSIP/agent1"), t=T0 + 200)
    assert tracker.snapshot()["queues"][0]["members"] == []
    assert events[1].data["agent"]["queues"] == []


def test_timestamp_header_is_used_for_the_record() -> None:
    tracker = CallTracker()
    events = feed(tracker, chan("Newchannel", *CALLER, "100.1", state="4",
                                Timestamp="1700000000.250000"),
                  chan("Newchannel", *BOB, "100.1", state="0"), dial(CALLER, BOB, "100.1"))
    assert events[0].data["call"]["started_at"] == 1_700_000_000.25
    assert events[0].at == T0 + 2


def _resync_messages(include_agent: bool = True) -> list[AmiMessage]:
    msgs = [
        ami("QueueParams", Queue="support", Strategy="ringall", Completed="4",
            Abandoned="1"),
        ami("QueueMember", Queue="support", Name="Agent One", Location="PJSIP/agent1",
            StateInterface="PJSIP/agent1", Membership="static", Penalty="0",
            CallsTaken="2", Status="2", Paused="0", PausedReason="", InCall="1"),
        ami("CoreShowChannel", Channel=CALLER[0], Uniqueid=CALLER[1], Linkedid="100.1",
            ChannelState="6", ChannelStateDesc="Up", CallerIDNum="5551000",
            CallerIDName="Customer", Application="Queue", ApplicationData="support,r",
            Duration="00:01:05", BridgeId="b9"),
    ]
    if include_agent:
        msgs.append(ami("CoreShowChannel", Channel=AGENT[0], Uniqueid=AGENT[1],
                        Linkedid="100.1", ChannelState="6", ChannelStateDesc="Up",
                        Application="AppQueue", ApplicationData="(Outgoing Line)",
                        Duration="00:00:50", BridgeId="b9"))
    return msgs


def test_resync_from_core_show_channels_and_queue_status() -> None:
    tracker = CallTracker()
    now = T0 + 1000
    tracker.begin_resync(now)
    # Order as delivered does not matter: the tracker applies queue membership first.
    events = tracker.resync_ami(list(reversed(_resync_messages())), now)
    events += tracker.end_resync(now)
    assert_valid(events)
    (call,) = tracker.snapshot()["calls"]
    assert call["call_id"] == "100.1" and call["state"] == "connected"
    assert (call["queue"], call["agent_interface"], call["agent_name"]) == (
        "support", "PJSIP/agent1", "Agent One")
    assert call["started_at"] == now - 65
    assert roles(tracker) == {CALLER[0]: "customer", AGENT[0]: "agent"}
    queue = tracker.snapshot()["queues"][0]
    assert (queue["strategy"], queue["completed"], queue["members"][0]["state"]) == (
        "ringall", 4, "inuse")
    # Second resync: the agent's channel is gone (its Hangup was missed).
    tracker.begin_resync(now + 10)
    tracker.resync_ami(_resync_messages(include_agent=False), now + 10)
    events = tracker.end_resync(now + 10)
    assert [e.type for e in events] == ["leg.removed", "agent.updated"]
    assert events[0].data["channel"]["hangup_cause"] == "swept"
    # Third: nothing is listed any more: the call ends, the member is swept.
    tracker.begin_resync(now + 20)
    tracker.resync_ami([_resync_messages()[0]], now + 20)
    events = tracker.end_resync(now + 20)
    assert_valid(events)
    assert [e.type for e in events][:2] == ["leg.removed", "call.ended"]
    assert tracker.snapshot()["queues"][0]["members"] == []


def test_resync_queue_entry_and_sweep_of_waiting_callers() -> None:
    tracker = CallTracker()
    now = T0 + 2000
    tracker.begin_resync(now)
    msgs = [_resync_messages()[0],
            ami("CoreShowChannel", Channel=CALLER[0], Uniqueid=CALLER[1], Linkedid="100.1",
                ChannelState="6", Application="Queue", ApplicationData="support",
                Duration="00:00:30"),
            ami("QueueEntry", Queue="support", Position="1", Channel=CALLER[0],
                Uniqueid=CALLER[1], Wait="30")]
    events = tracker.resync_ami(msgs, now) + tracker.end_resync(now)
    assert_valid(events)
    (caller,) = tracker.snapshot()["queues"][0]["callers"]
    assert caller["since"] == now - 30 and caller["call_id"] == "100.1"
    assert tracker.snapshot()["calls"][0]["state"] == "queued"
    events = tracker.sweep(now + 100, max_idle_s=50)
    assert_valid(events)
    assert [e.type for e in events] == ["queue.caller_left", "leg.removed", "call.ended"]
    assert events[0].data["reason"] == "hangup"


def _ari_channel(uniqueid: str, name: str, app: str = "", state: str = "Up") -> dict[str, Any]:
    return {"id": uniqueid, "name": name, "state": state,
            "caller": {"name": "", "number": "5551000"},
            "creationtime": "2027-01-15T08:00:00.000+0000",
            "dialplan": {"context": "x", "exten": "600", "priority": 1, "app_name": app,
                         "app_data": ""}}


def test_resync_from_ari_channels_and_bridges() -> None:
    tracker = CallTracker()
    feed(tracker, chan("Newchannel", *CALLER, "100.1", state="4"))
    now = T0 + 3000
    tracker.begin_resync(now)
    channels = [_ari_channel(CALLER[1], CALLER[0], "Queue"),
                _ari_channel(BOB[1], BOB[0], "AppDial"),
                _ari_channel("snoop-1", "Snoop/100.1-00000000", "Stasis"),
                _ari_channel("x.9", "PJSIP/lonely-00000099", "Playback")]
    bridges = [{"id": "b1", "channels": [CALLER[1], BOB[1]], "bridge_type": "mixing"}]
    events = tracker.resync_ari(channels, bridges, now) + tracker.end_resync(now)
    assert_valid(events)
    assert roles(tracker) == {CALLER[0]: "customer", BOB[0]: "callee"}
    assert tracker.channels[BOB[1]].call_id == "100.1"
    assert tracker.channels[BOB[1]].started_at == 1_800_000_000.0  # ARI creationtime
    # A lone channel in Playback is kept quietly, not announced as a call.
    assert "x.9" in tracker.channels and not tracker.calls["x.9"].announced
    assert "snoop-1" not in tracker.channels


def test_sweep_ends_idle_legs_only() -> None:
    tracker = CallTracker()
    feed(tracker, chan("Newchannel", *CALLER, "100.1", state="4"),
         chan("Newchannel", *BOB, "100.1", state="0"), dial(CALLER, BOB, "100.1"))
    assert tracker.sweep(T0 + 30, max_idle_s=60) == []
    feed(tracker, chan("Newstate", *BOB, "100.1"), t=T0 + 50)
    events = tracker.sweep(T0 + 70, max_idle_s=60)
    assert [e.type for e in events] == ["leg.removed"]
    events = tracker.sweep(T0 + 200, max_idle_s=60)
    assert [e.type for e in events] == ["leg.removed", "call.ended"]
    assert events[-1].data["call"]["channels"][0]["hangup_cause"] == "swept"


def test_feature_code_spy_mode_from_user_event() -> None:
    """The edgeqa AMI user cannot read Newexten; the dialplan's UserEvent names the options."""
    tracker = CallTracker()
    sup = ("PJSIP/supervisor1-00000030", "300.3")
    events = feed(
        tracker, chan("Newchannel", *CALLER, "100.1", state="4"),
        chan("Newchannel", *BOB, "100.1", state="0"), dial(CALLER, BOB, "100.1"),
        chan("Newchannel", *sup, "300.3", state="4"),
        chan("UserEvent", *sup, "300.3", UserEvent="EdgeqaSpy", Agent="1", Options="qEw"),
        ami("ChanSpyStart", SpyerChannel=sup[0], SpyerUniqueid=sup[1],
            SpyeeChannel=BOB[0], SpyeeUniqueid=BOB[1]))
    assert [e.type for e in events].count("call.started") == 1
    added = [e.data["channel"] for e in events if e.type == "leg.added"]
    assert added[-1]["channel"] == sup[0]
    assert (added[-1]["role"], added[-1]["spy_mode"]) == ("supervisor", "whisper")


def test_stale_resync_list_cannot_revive_a_hung_up_leg() -> None:
    """Lists are read, then applied; a Hangup that arrived in between must win."""
    tracker = CallTracker()
    feed(tracker, chan("Newchannel", *CALLER, "100.1", state="4"),
         chan("Newchannel", *BOB, "100.1", state="0"), dial(CALLER, BOB, "100.1"))
    now = T0 + 10
    tracker.begin_resync(now)
    listed = [ami("CoreShowChannel", Channel=c, Uniqueid=u, Linkedid="100.1", ChannelState="6",
                  Application="Dial", Duration="00:00:10") for c, u in (CALLER, BOB)]
    events = feed(tracker, chan("Hangup", *BOB, "100.1"), chan("Hangup", *CALLER, "100.1"),
                  t=now)
    assert events[-1].type == "call.ended"
    events = tracker.resync_ami(listed, now + 1)
    events += tracker.resync_ari([_ari_channel(BOB[1], BOB[0], "AppDial")], [], now + 1)
    events += tracker.end_resync(now + 1)
    assert events == [] and tracker.calls == {} and tracker.channels == {}


def test_ari_hold_state_and_destroy_of_known_legs() -> None:
    tracker = CallTracker()
    feed(tracker, chan("Newchannel", *CALLER, "100.1", state="4"),
         chan("Newchannel", *BOB, "100.1", state="0"), dial(CALLER, BOB, "100.1"))
    stamp = "2027-01-15T08:00:01.500+0000"

    def ari(kind: str, uniqueid: str, **extra: Any) -> list[Event]:
        channel = {"id": uniqueid, "name": "x", "state": extra.pop("state", "Up")}
        events = tracker.handle_ari({"type": kind, "timestamp": stamp, "channel": channel,
                                     **extra}, T0 + 30)
        assert_valid(events)
        return events

    (event,) = ari("ChannelStateChange", BOB[1], state="Up")
    assert event.data["channel"]["state"] == "up"
    assert event.data["channel"]["answered_at"] == 1_800_000_001.5
    events = ari("ChannelHold", BOB[1])
    assert [e.type for e in events] == ["leg.updated", "call.updated"]
    assert events[0].data["channel"]["on_hold"] is True and events[1].data["call"]["on_hold"]
    assert ari("ChannelHold", BOB[1]) == []  # no change, no event
    assert ari("ChannelUnhold", BOB[1])[0].data["channel"]["on_hold"] is False
    assert ari("ChannelVarset", BOB[1]) == [] and ari("ChannelHold", "unknown.9") == []
    events = ari("ChannelDestroyed", BOB[1], cause=16, cause_txt="Normal Clearing")
    assert events[0].data["channel"]["hangup_cause"] == "Normal Clearing"
    assert tracker.handle_ari({"type": "ChannelDestroyed"}, T0) == []


def test_cancelled_resync_sweeps_nothing() -> None:
    tracker = CallTracker()
    feed(tracker, chan("Newchannel", *CALLER, "100.1", state="4"),
         chan("Newchannel", *BOB, "100.1", state="0"), dial(CALLER, BOB, "100.1"))
    tracker.begin_resync(T0 + 5)
    tracker.cancel_resync()
    assert tracker.end_resync(T0 + 6) == []
    assert set(tracker.channels) == {CALLER[1], BOB[1]}

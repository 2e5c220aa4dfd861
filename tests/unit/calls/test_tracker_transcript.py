"""The tracker on the recorded transcripts; every emitted event checked against schemas/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgeqa.calls import CallTracker
from edgeqa.calls.model import DEVICE_STATES, ROLES
from edgeqa.store.records import Event, schema_name
from tests.support.ami_events import ami_messages, check_stream, run_ami
from tests.support.schemas import assert_valid, check_schema, load_schemas

T0 = 1_795_327_440.0


def test_schema_checker_rejects_what_it_should() -> None:
    schema = load_schemas()["leg.added"]
    assert check_schema({"call_id": "x"}, schema, schema) == ["$: missing 'leg'",
                                                               "$: missing 'channel'"]
    assert check_schema({"call_id": 1, "leg": None}, schema, schema)
    bad_role = {"call_id": "c", "leg": "boss"}
    assert any("boss" in e for e in check_schema(bad_role, schema, schema))
    assert check_schema({"call_id": "c", "leg": {}, "x": 1}, schema, schema)
    assert check_schema(True, {"type": "integer"}, {}) != []


def test_every_schema_is_draft_2020_12_and_versioned() -> None:
    for name, schema in load_schemas().items():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].endswith(f"/{schema_name(name)}.json")


def test_ami_transcript_call(data_dir: Path) -> None:
    tracker = CallTracker()
    msgs = ami_messages(data_dir)
    events = run_ami(tracker, msgs)
    assert_valid(events)
    check_stream(events)
    types = [e.type for e in events]
    assert types.count("call.started") == 1 and types.count("call.ended") == 1
    started = next(e for e in events if e.type == "call.started").data["call"]
    assert started["call_id"] == "1795327440.0"
    assert started["queue"] == "support"
    assert [leg["role"] for leg in started["channels"]] == ["customer"]

    legs: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.type.startswith("leg."):
            legs[event.data["channel"]["channel"]] = dict(event.data["channel"])
    assert legs["PJSIP/caller-00000000"]["role"] == "customer"
    agent = legs["PJSIP/agent1-00000001"]
    assert (agent["role"], agent["agent_interface"], agent["queue"]) == (
        "agent", "PJSIP/agent1", "support")
    supervisors = {c: leg for c, leg in legs.items() if c.startswith("PJSIP/supervisor")}
    assert sorted(leg["spy_mode"] for leg in supervisors.values()) == ["barge", "listen",
                                                                      "whisper"]
    assert all(leg["role"] == "supervisor" for leg in supervisors.values())
    # Snoop/ and UnicastRTP/ channels are our own taps: never legs, never supervisors.
    assert not any(c.startswith(("Snoop/", "UnicastRTP/")) for c in legs)
    assert max(e.data["call"]["supervisors"] for e in events if e.type == "call.updated") == 1

    ended = next(e for e in events if e.type == "call.ended").data["call"]
    assert ended["state"] == "ended" and ended["agent_interface"] == "PJSIP/agent1"
    assert ended["agent_name"] == "Agent One"
    assert ended["started_at"] < ended["answered_at"] < ended["ended_at"]
    assert ended["duration_s"] == pytest.approx(ended["ended_at"] - ended["started_at"])
    # The final record keeps every leg the call had, supervisors included.
    assert {leg["channel"]: leg["role"] for leg in ended["channels"]} == {
        "PJSIP/caller-00000000": "customer", "PJSIP/agent1-00000001": "agent",
        "PJSIP/supervisor-00000002": "supervisor", "PJSIP/supervisor-00000003": "supervisor",
        "PJSIP/supervisor-00000004": "supervisor"}
    assert all(leg["ended_at"] is not None and leg["recording"] is False
               for leg in ended["channels"])

    # Time stamps come from `now`: the caller joins the queue before the agent answers.
    joined = next(e for e in events if e.type == "queue.caller_joined")
    left = next(e for e in events if e.type == "queue.caller_left")
    assert joined.data["caller"]["position"] == 1 and left.data["reason"] == "left"
    assert 0 < left.data["waited_s"] < ended["answered_at"] - ended["started_at"] + 1
    snap = tracker.snapshot()
    assert snap["calls"] == []
    queue = snap["queues"][0]
    assert queue["name"] == "support" and queue["callers"] == []
    members = {m["interface"]: m for m in queue["members"]}
    assert members["PJSIP/agent1"]["calls_taken"] == 1
    assert [a["interface"] for a in snap["agents"]] == ["PJSIP/agent1", "PJSIP/agent2"]
    assert all(a["on_call"] is None for a in snap["agents"])
    assert tracker.channels == {} and tracker.calls == {}


def test_snapshot_mid_call(data_dir: Path) -> None:
    tracker = CallTracker()
    msgs = ami_messages(data_dir)
    first_spy = next(i for i, m in enumerate(msgs) if m.event == "ChanSpyStart")
    run_ami(tracker, msgs[: first_spy + 1])
    snap = tracker.snapshot()
    json.dumps(snap)
    (call,) = snap["calls"]
    assert call["state"] == "connected" and call["supervisors"] == 1
    roles = {leg["channel"]: leg["role"] for leg in call["channels"]}
    assert roles == {"PJSIP/caller-00000000": "customer", "PJSIP/agent1-00000001": "agent",
                     "PJSIP/supervisor-00000002": "supervisor"}
    agent1 = next(a for a in snap["agents"] if a["interface"] == "PJSIP/agent1")
    assert agent1["on_call"] == "1795327440.0"
    assert all(leg["recording"] for leg in call["channels"] if leg["role"] != "supervisor")


def test_ari_transcript_alongside_ami(data_dir: Path) -> None:
    """ARI events of the same call: duplicates of AMI's hang-ups change nothing twice."""
    tracker = CallTracker()
    lines = (data_dir / "asterisk" / "ari_call.jsonl").read_text().splitlines()
    ari_events = [json.loads(line) for line in lines]
    ami = ami_messages(data_dir)
    # Drive AMI up to the first hang-up of a real leg, then replay ARI, then the rest.
    cut = next(i for i, m in enumerate(ami)
               if m.event == "Hangup" and (m.get("Channel") or "").startswith("PJSIP/caller"))
    events = run_ami(tracker, ami[:cut])
    for index, event in enumerate(ari_events):
        events += tracker.handle_ari(event, T0 + 100 + index * 0.01)
    events += run_ami(tracker, ami[cut:])
    assert_valid(events)
    assert [e.type for e in events].count("call.ended") == 1
    assert tracker.calls == {}


def test_ari_only_destroys_end_the_call(data_dir: Path) -> None:
    tracker = CallTracker()
    ami = ami_messages(data_dir)
    cut = next(i for i, m in enumerate(ami) if m.event == "SoftHangupRequest")
    run_ami(tracker, ami[:cut])
    destroyed = [json.loads(line) for line in
                 (data_dir / "asterisk" / "ari_call.jsonl").read_text().splitlines()
                 if '"ChannelDestroyed"' in line]
    events: list[Event] = []
    for index, event in enumerate(destroyed):
        events += tracker.handle_ari(event, T0 + 200 + index)
    assert_valid(events)
    (ended,) = [e for e in events if e.type == "call.ended"]
    assert ended.data["call"]["call_id"] == "1795327440.0"
    # ARI's own timestamp is used for the record.
    assert ended.data["call"]["ended_at"] < T0 + 200


def test_schema_enums_match_the_model() -> None:
    leg = load_schemas()["leg.added"]["$defs"]["channel"]["properties"]
    assert leg["role"]["enum"] == list(ROLES)
    member = load_schemas()["queue.updated"]["$defs"]["member"]["properties"]
    assert member["state"]["enum"] == list(DEVICE_STATES.values())

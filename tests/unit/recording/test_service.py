"""The recording service: which calls get MixMonitor, what reaches the stream, restarts.

AMI is an in-process stand-in recording each action (no sockets); files are written by the test
as Asterisk would leave them.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from edgeqa.calls.changes import CallEnded
from edgeqa.calls.model import Call
from edgeqa.config import parse_config
from edgeqa.recording.config import RecordingConfig
from edgeqa.recording.service import Recorder
from edgeqa.store import EventLike, schema_name
from tests.support.actions import ActionRecorder
from tests.support.calls import connected, connected_call
from tests.support.schemas import errors
from tests.unit.recording.wavs import closed_wav

ENV = {"EDGEQA_AMI_SECRET": "a", "EDGEQA_ARI_PASSWORD": "b"}
T0 = 1733012345.0
CALL_ID = "1733012345.1"


def _cfg(tmp_path: Path, extra: str = "") -> RecordingConfig:
    text = (f'[recording]\nasterisk_dir = "/ast/rec"\ndaemon_dir = "{tmp_path}"\n'
            f'close_timeout_s = 0.5\n{extra}')
    return parse_config(text, env=ENV).recording


class Harness:
    def __init__(self, tmp_path: Path, extra: str = "", refuse: bool = False) -> None:
        self.ami = ActionRecorder(refuse)
        self.events: list[EventLike] = []
        self.calls: dict[str, Call] = {}
        self.rec = Recorder(_cfg(tmp_path, extra), self.ami, self.events.extend,
                            lambda: self.calls, wall=lambda: T0 + 30)

    def types(self) -> list[tuple[str, str]]:
        """(type, leg) of each event published, each checked against its schema first."""
        for e in self.events:
            assert errors(dict(e.data), schema_name(e.type)) == [], e
        return [(e.type, e.data["leg"]) for e in self.events]


def _write_files(tmp_path: Path, call_id: str) -> dict[str, bytes]:
    out = {}
    for n, leg in enumerate(("customer", "agent")):
        path = tmp_path / "2024/12/01" / f"{call_id}-{leg}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        out[leg] = closed_wav(800 + n)
        path.write_bytes(out[leg])
    return out


async def test_a_selected_call_is_recorded_on_its_customer_channel(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    call = h.calls["1733012345.1"] = connected_call()
    async with asyncio.TaskGroup() as tg:
        h.rec.bind(tg)
        h.rec.on_changes([connected(call)], T0)
        h.rec.on_changes([connected(call)], T0 + 1)  # a resync or a transfer: no second one
        await asyncio.sleep(0)
        written = _write_files(tmp_path, call.call_id)
        h.rec.on_changes([CallEnded(call.call_id, T0 + 20)], T0 + 20)
    assert h.ami.sent == [("MixMonitor", {
        "Channel": "PJSIP/customer1-00000001",
        "Options": "r(/ast/rec/2024/12/01/1733012345.1-customer.wav)"
                   "t(/ast/rec/2024/12/01/1733012345.1-agent.wav)"})]
    assert h.types() == [("recording.started", "customer"), ("recording.started", "agent"),
                         ("recording.completed", "customer"), ("recording.completed", "agent")]
    done = {e.data["leg"]: e.data for e in h.events[2:]}
    for leg, data in written.items():
        assert done[leg]["sha256"] == hashlib.sha256(data).hexdigest()
        assert done[leg]["size"] == len(data) and done[leg]["state"] == "complete"
        assert done[leg]["ended_at"] == T0 + 20 and done[leg]["codec"] == "pcm_s16le/8000"
        assert done[leg]["queue"] == "sales" and done[leg]["agent"] == "Alice"
    assert h.rec.health()["active_calls"] == 0


async def test_the_recording_channel_is_known_from_the_start_to_the_end(tmp_path: Path) -> None:
    # PCI pause mutes this channel: while MixMonitor is being sent it is already named (a
    # mute then fails rather than let the recording start unmuted); after the call, None.
    h = Harness(tmp_path)
    call = h.calls[CALL_ID] = connected_call(CALL_ID)
    assert h.rec.recording_channel(CALL_ID) is None
    async with asyncio.TaskGroup() as tg:
        h.rec.bind(tg)
        h.rec.on_changes([connected(call)], T0)
        assert h.rec.recording_channel(CALL_ID) == "PJSIP/customer1-00000001"  # starting
        await asyncio.sleep(0)
        assert h.rec.recording_channel(CALL_ID) == "PJSIP/customer1-00000001"  # recording
        _write_files(tmp_path, CALL_ID)
        h.rec.on_changes([CallEnded(CALL_ID, T0 + 20)], T0 + 20)
    assert h.rec.recording_channel(CALL_ID) is None


async def test_a_refused_recording_has_no_channel_to_mute(tmp_path: Path) -> None:
    h = Harness(tmp_path, refuse=True)
    call = h.calls[CALL_ID] = connected_call(CALL_ID)
    async with asyncio.TaskGroup() as tg:
        h.rec.bind(tg)
        h.rec.on_changes([connected(call)], T0)
        await asyncio.sleep(0)
        assert h.rec.recording_channel(CALL_ID) is None


async def test_calls_not_selected_cost_no_action(tmp_path: Path) -> None:
    h = Harness(tmp_path, 'exclude_agents = ["PJSIP/agent1"]')
    h.calls["q"] = connected_call("q")
    h.calls["noq"] = connected_call("noq", queue=None)
    other = Harness(tmp_path)
    other.calls["noq"] = connected_call("noq", queue=None)
    async with asyncio.TaskGroup() as tg:
        h.rec.bind(tg)
        other.rec.bind(tg)
        h.rec.on_changes([connected(h.calls["q"]), connected(h.calls["noq"])], T0)
        other.rec.on_changes([connected(other.calls["noq"])], T0)
        h.rec.on_changes([CallEnded("q", T0 + 5)], T0 + 5)
    assert h.ami.sent == other.ami.sent == [] and h.events == other.events == []
    assert h.rec.health()["skipped"] == 2


async def test_a_refused_mixmonitor_fails_both_legs_as_missing(tmp_path: Path) -> None:
    h = Harness(tmp_path, refuse=True)
    call = h.calls["1733012345.1"] = connected_call()
    async with asyncio.TaskGroup() as tg:
        h.rec.bind(tg)
        h.rec.on_changes([connected(call)], T0)
        h.rec.on_changes([CallEnded(call.call_id, T0 + 3)], T0 + 3)
    assert h.types() == [("recording.failed", "customer"), ("recording.failed", "agent")]
    assert {e.data["state"] for e in h.events} == {"missing"}
    assert "Permission denied" in h.events[0].data["reason"]


async def test_a_missing_or_unclosed_file_fails_with_a_reason(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    call = h.calls["1733012345.1"] = connected_call()
    async with asyncio.TaskGroup() as tg:
        h.rec.bind(tg)
        h.rec.on_changes([connected(call)], T0)
        await asyncio.sleep(0)
        path = tmp_path / "2024/12/01/1733012345.1-customer.wav"
        path.parent.mkdir(parents=True)
        path.write_bytes(closed_wav()[:100])  # header sizes disagree: never closed
        h.rec.on_changes([CallEnded(call.call_id, T0 + 3)], T0 + 3)
    assert h.types()[2:] == [("recording.failed", "customer"), ("recording.failed", "agent")]
    failed = {e.data["leg"]: e.data for e in h.events if e.type == "recording.failed"}
    assert failed["customer"]["state"] == "corrupt" and failed["customer"]["sha256"]
    assert failed["customer"]["reason"].startswith("RIFF size")
    assert (failed["agent"]["state"], failed["agent"]["reason"]) == ("missing", "no file")


async def test_a_restart_closes_rows_left_recording(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    written = _write_files(tmp_path, "ended.1")
    _write_files(tmp_path, "up.2")
    rows = [{"call_id": c, "leg": leg, "state": "recording", "started_at": T0,
             "path": str(tmp_path / "2024/12/01" / f"{c}-{leg}.wav"), "queue": "sales",
             "agent": "Alice"} for c in ("ended.1", "up.2") for leg in ("customer", "agent")]
    h.rec.restore(rows, ["up.2"])
    async with asyncio.TaskGroup() as tg:
        h.rec.bind(tg)  # ended.1 ended while no daemon ran: closed now
        h.calls["up.2"] = connected_call("up.2")
        h.rec.on_changes([connected(h.calls["up.2"])], T0 + 31)  # resync: no second MixMonitor
        await asyncio.sleep(0.3)
        assert {e.data["call_id"] for e in h.events} == {"ended.1"}
        h.rec.on_changes([CallEnded("up.2", T0 + 40)], T0 + 40)
    assert h.ami.sent == [] and len(h.types()) == 4
    assert [(e.type, e.data["call_id"]) for e in h.events] == [
        ("recording.completed", "ended.1")] * 2 + [("recording.completed", "up.2")] * 2
    assert h.events[0].data["sha256"] == hashlib.sha256(written["customer"]).hexdigest()
    assert h.events[0].data["ended_at"] == T0 + 30  # unknown end: when it was closed
    assert h.events[2].data["ended_at"] == T0 + 40

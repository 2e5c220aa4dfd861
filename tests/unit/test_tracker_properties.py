"""Property: whatever order or loss the transcript's events suffer, the model stays consistent."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeqa.ami.protocol import AmiCodec
from edgeqa.calls import CallTracker, TrackerEvent
from tests.unit.test_tracker_transcript import assert_valid

DATA = Path(__file__).resolve().parents[1] / "data" / "asterisk" / "ami_call.txt"
MSGS = [m for m in AmiCodec().feed(DATA.read_bytes())
        if m.event not in ("VarSet", "RTCPReceived", "RTCPSent", "DeviceStateChange")]
T0 = 1_795_327_440.0


def check_consistent(tracker: CallTracker) -> None:
    for uniqueid, leg in tracker.legs.items():
        assert tracker.calls[leg.call_id].legs[uniqueid] is leg
        assert not leg.channel.startswith(("Snoop/", "UnicastRTP/", "Local/"))
    for call in tracker.calls.values():
        assert call.legs, call.call_id


def check_stream(events: list[TrackerEvent]) -> None:
    """Per call: at most one start and one end, in that order; legs added before removed."""
    started: Counter[str] = Counter()
    ended: Counter[str] = Counter()
    live: set[tuple[str, str]] = set()
    for event in events:
        if event.type == "call.started":
            started[event.data["call"]["call_id"]] += 1
        elif event.type == "call.ended":
            call_id = event.data["call"]["call_id"]
            assert started[call_id] == 1
            ended[call_id] += 1
        elif event.type == "leg.added":
            live.add((event.data["call_id"], event.data["leg"]["uniqueid"]))
        elif event.type == "leg.removed":
            key = (event.data["call_id"], event.data["leg"]["uniqueid"])
            assert key in live, key
            live.discard(key)
    assert max(started.values(), default=0) <= 1 and max(ended.values(), default=0) <= 1
    assert set(started) == set(ended)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(range(len(MSGS))),
       keep=st.lists(st.booleans(), min_size=len(MSGS), max_size=len(MSGS)),
       shuffle=st.booleans())
def test_any_order_or_loss_keeps_the_model_consistent(order: list[int], keep: list[bool],
                                                      shuffle: bool) -> None:
    tracker = CallTracker()
    events: list[TrackerEvent] = []
    indices = order if shuffle else range(len(MSGS))
    for step, index in enumerate(indices):
        if keep[index]:
            events += tracker.handle_ami(MSGS[index], T0 + step * 0.01)
            check_consistent(tracker)
    # Whatever hang-ups were lost, a sweep far in the future leaves nothing behind.
    events += tracker.sweep(T0 + 10_000, max_idle_s=60)
    assert_valid(events)
    check_stream(events)
    assert tracker.calls == {} and tracker.legs == {}
    assert all(queue["callers"] == [] for queue in tracker.snapshot()["queues"])

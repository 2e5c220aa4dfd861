"""Property: whatever order or loss the transcript's events suffer, the model stays consistent."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeqa.ami.protocol import AmiCodec
from edgeqa.calls import CallTracker
from edgeqa.store.records import Event
from tests.support.ami_events import check_consistent, check_stream
from tests.support.paths import DATA
from tests.support.schemas import assert_valid

DATA = DATA / "asterisk" / "ami_call.txt"
MSGS = [m for m in AmiCodec().feed(DATA.read_bytes())
        if m.event not in ("VarSet", "RTCPReceived", "RTCPSent", "DeviceStateChange")]
T0 = 1_795_327_440.0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(range(len(MSGS))),
       keep=st.lists(st.booleans(), min_size=len(MSGS), max_size=len(MSGS)),
       shuffle=st.booleans())
def test_any_order_or_loss_keeps_the_model_consistent(order: list[int], keep: list[bool],
                                                      shuffle: bool) -> None:
    tracker = CallTracker()
    events: list[Event] = []
    indices = order if shuffle else range(len(MSGS))
    for step, index in enumerate(indices):
        if keep[index]:
            events += tracker.handle_ami(MSGS[index], T0 + step * 0.01)
            check_consistent(tracker)
    # Whatever hang-ups were lost, a sweep far in the future leaves nothing behind.
    events += tracker.sweep(T0 + 10_000, max_idle_s=60)
    assert_valid(events)
    check_stream(events)
    assert tracker.calls == {} and tracker.channels == {}
    assert all(queue["callers"] == [] for queue in tracker.snapshot()["queues"])

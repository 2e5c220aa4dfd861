"""store.call_holds: a stored call's hold intervals, for the summaries from recordings."""

from __future__ import annotations

from pathlib import Path

from edgeqa.store import Event, Store
from tests.support.calls import T0, connected_call


async def test_the_holds_of_the_customer_and_agent_channels(tmp_path: Path) -> None:
    call = connected_call("c1")
    call.channels["u-cust"].set_hold(True, T0 + 5)
    call.channels["u-cust"].set_hold(False, T0 + 9)
    call.channels["u-agent"].set_hold(True, T0 + 20)  # still on hold when the call ended
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    try:
        await store.append([Event("call.started", T0, {"call": call.to_dict()})])
        assert sorted(await store.call_holds("c1")) == [(T0 + 5, T0 + 9), (T0 + 20, float("inf"))]
        await store.append([Event("call.ended", T0 + 30, {"call": call.to_dict()})])
        assert sorted(await store.call_holds("c1")) == [(T0 + 5, T0 + 9), (T0 + 20, T0 + 30)]
        assert await store.call_holds("unknown") == []
    finally:
        await store.close()

"""Live per-leg taps (ARI snoop + externalMedia) of a real queue call equal the offline analysis.

Run: EDGEQA_SANDBOX_PORT_BASE=18000 .venv/bin/pytest -q tests/integration/test_live_taps.py
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from edgeqa.analyze.offline import load_pair, run_call
from edgeqa.ari.client import AriClient
from edgeqa.live.call import LiveCall
from edgeqa.live.clock import CallClock
from edgeqa.live.router import TapRouter
from edgeqa.live.taps import CallTaps
from edgeqa.media.receiver import open_receiver
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall
from edgeqa.store import Event
from tests.support.live import HELPER_PREFIXES, assert_close, complete

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

#: Long enough for two of the talk_over fixture's three interruptions (15.4 s and 25.05 s).
TALK_S = 27.5
#: The same leg's speech through the snoop (16 kHz linear) and through the far phone (G.711).
LEVEL_TOL_DB = 1.0
#: A live call-level event must be out this soon after its end (metrics.md: within 1 s),
#: plus the timeline's settling (segment_bridge_ms) and a tick.
LIVE_LATENCY_S = 1.0 + 0.4 + 0.25
RECEIVER_PORT_OFFSET = 960
TIMEOUT_S = 10.0


async def _leg_channels(client: AriClient, customer: str, agent: str) -> dict[str, str]:
    """The call's two PJSIP channels, once both are up."""
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            up = {c["name"].split("-")[0]: c["id"] for c in await client.get_channels()
                  if c["state"] == "Up"}
            if f"PJSIP/{customer}" in up and f"PJSIP/{agent}" in up:
                return {"customer": up[f"PJSIP/{customer}"], "agent": up[f"PJSIP/{agent}"]}
            await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
def live_call(sandbox: Sandbox, data_dir: Path,
              tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One real talk_over call, tapped live, and the offline analysis of its recordings."""
    if sandbox.pid() is None:
        sandbox.start()
    out = tmp_path_factory.mktemp("live_taps")
    return asyncio.run(_place_and_tap(sandbox, data_dir / "calls", out))


async def _place_and_tap(box: Sandbox, calls_dir: Path, out: Path) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    taps: list[CallTaps] = []

    def on_ari(body: Mapping[str, Any]) -> None:
        for tap in taps:
            tap.handle_event(body)

    url, user, password, app = box.ari
    client = AriClient(url, user, password, app, on_event=on_ari)
    runner = asyncio.create_task(client.run())
    received: list[tuple[float, Event]] = []
    router = TapRouter()
    receiver = await open_receiver(router.engine, box.ports.base + RECEIVER_PORT_OFFSET)
    phones = FixtureCall(box, calls_dir, out, fixture="talk_over")
    try:
        await client.wait_connected(TIMEOUT_S)
        await asyncio.to_thread(phones.start)
        # Both phones started playing and recording: the fixture's time 0 is call time 0.
        t0, wall0 = loop.time(), time.time()
        channels = await _leg_channels(client, "customer1", "agent1")
        call = LiveCall("talk_over", CallClock.start(wall0, wall_now=wall0, loop_now=t0),
                        lambda events: received.extend((loop.time() - t0, e) for e in events))
        tap = CallTaps(client, router, receiver.local_address, call,
                       {"customer": channels["customer"], "agent": channels["agent"]})
        taps.append(tap)
        await tap.start()
        tapped_s = loop.time() - t0
        helpers = {c["name"] for c in await client.get_channels()
                   if c["name"].startswith(HELPER_PREFIXES)}
        running = asyncio.create_task(tap.run(loop.time))
        await asyncio.sleep(TALK_S - (loop.time() - t0))
        result = await asyncio.to_thread(phones.finish)
        await asyncio.wait_for(running, TIMEOUT_S)
        leg_stats = {leg: call.leg_stats(leg) for leg in ("customer", "agent")}
        await tap.close()
        call.finish(loop.time() - t0)
        left_channels = [c["name"] for c in await client.get_channels()]
        left_bridges = await client.get_bridges()
    finally:
        phones.close()
        receiver.close()
        await client.close()
        await asyncio.wait_for(runner, TIMEOUT_S)
    (summary,) = [e for _, e in received if e.type == "call.summary"]
    log.info("tapped %.3f s after audio start; receiver %s; engine %s; legs %s", tapped_s,
              receiver.stats, router.engine.stats(), leg_stats)
    return {
        "live": summary.data["summary"], "received": received, "helpers": helpers,
        "left_channels": left_channels, "left_bridges": left_bridges, "call": call,
        "engine": router.engine.stats(), "leg_stats": leg_stats,
        "routes_left": router.routes(call), "tapped_s": tapped_s,
        "offline": run_call(load_pair(result.agent_heard, result.customer_heard)),
    }


def test_live_equals_offline_and_truth(live_call: dict[str, Any], data_dir: Path) -> None:
    live, offline = live_call["live"], live_call["offline"]
    truth = json.loads((data_dir / "calls" / "talk_over.truth.json").read_text())
    end_s = min(live["duration_s"], offline["duration_s"])
    log.info("talk_over live %s offline %s", live["talk_over"], offline["talk_over"])
    for leg in ("customer", "agent"):
        log.info("%s live %s %.2f dBov; offline %s %.2f dBov", leg,
                  live["legs"][leg]["speech_segments"], live["legs"][leg]["active_level_dbov"],
                  offline["legs"][leg]["speech_segments"],
                  offline["legs"][leg]["active_level_dbov"])
    assert end_s >= TALK_S - 1.0, (live["duration_s"], offline["duration_s"])
    # The same events as offline, and as the fixture's truth (two complete interruptions).
    live_over = complete([(e["start"], e["end"], e["interrupter"]) for e in live["talk_over"]],
                          end_s)
    off_over = complete([(e["start"], e["end"], e["interrupter"])
                          for e in offline["talk_over"]], end_s)
    true_over = complete([(e["start"], e["end"], e["interrupter"])
                           for e in truth["talk_over"]], end_s)
    assert len(true_over) == 2
    assert_close(live_over, off_over, "talk_over live/offline")
    assert_close(live_over, true_over, "talk_over live/truth")
    assert [e[2] for e in live_over] == [e[2] for e in true_over]
    assert live["dead_air"] == offline["dead_air"] == []
    for leg in ("customer", "agent"):
        got = complete(live["legs"][leg]["speech_segments"], end_s)
        assert_close(got, complete(offline["legs"][leg]["speech_segments"], end_s),
                     f"{leg} offline")
        assert_close(got, complete(truth["speech"][leg], end_s), f"{leg} truth")
        live_db = live["legs"][leg]["active_level_dbov"]
        off_db = offline["legs"][leg]["active_level_dbov"]
        assert abs(live_db - off_db) <= LEVEL_TOL_DB, (leg, live_db, off_db)


def test_events_arrive_live(live_call: dict[str, Any]) -> None:
    received: list[tuple[float, Event]] = live_call["received"]
    overs = [(at, ev.data["end_s"]) for at, ev in received if ev.type == "call.talk_over"]
    assert len(overs) >= 2, overs
    log.info("talk_over published %s s after its end", [round(at - end, 3) for at, end in overs])
    for at, end in overs[:2]:
        assert end <= at <= end + LIVE_LATENCY_S, (at, end)
    for leg in ("customer", "agent"):
        samples = [ev for _, ev in received if ev.type == "leg.sample" and ev.data["leg"] == leg]
        assert len(samples) >= int(TALK_S) - 1, (leg, len(samples))
    for stats in live_call["leg_stats"].values():
        assert stats["packets"] >= (TALK_S - 1.0) * 50
        assert stats["wrong_payload_type"] == 0
        assert stats["lost"] <= stats["packets"] // 100
    assert live_call["engine"]["malformed"] == 0


def test_every_helper_is_gone(live_call: dict[str, Any]) -> None:
    helpers: set[str] = live_call["helpers"]
    assert sum(name.startswith("Snoop/") for name in helpers) == 2, helpers
    assert sum(name.startswith("UnicastRTP/") for name in helpers) == 2, helpers
    assert not [n for n in live_call["left_channels"] if n.startswith(HELPER_PREFIXES)]
    assert live_call["left_bridges"] == []
    assert live_call["routes_left"] == {}

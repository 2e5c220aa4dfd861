"""The capture tap (host RTP capture, edgeqa/live/capture_tap.py) on real queue calls.

A call captured from the host's RTP gives the same metrics as the offline analysis of what the
phones heard (the tolerances of test_live_taps.py), creates no helper channel, and reports dead
air within 1 s of its 5 s mark; a call whose media capture cannot see goes over to the snoop
tap (here: a captured port range that excludes the sandbox's RTP ports).

Needs root (CAP_NET_RAW). Run:
    EDGEQA_SANDBOX_PORT_BASE=17000 .venv/bin/pytest -q tests/integration/test_live_capture.py
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from edgeqa.analyze.offline import load_pair, run_call
from edgeqa.ari.client import AriClient
from edgeqa.live.call import LiveCall
from edgeqa.live.capture_tap import CAPTURE_CODEC, CallCapture, CaptureService
from edgeqa.live.clock import CallClock
from edgeqa.live.router import TapRouter
from edgeqa.live.taps import CallTaps
from edgeqa.media.receiver import open_receiver
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall
from edgeqa.store import Event
from tests.integration.test_live_taps import _leg_channels
from tests.support.live import HELPER_PREFIXES, assert_close, complete
from tests.support.unavailable import unavailable

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

#: Two of the talk_over fixture's interruptions (15.4 s and 25.05 s).
TALK_S = 27.5
#: dead_air.truth.json: mutual silence from 26.174 s to 39.3 s; its alert is due at +5 s.
DEAD_AIR_START_S = 26.174
DEAD_AIR_MIN_S = 5.0
DEAD_AIR_TALK_S = 33.5
#: The spec's bound on a live alert (metrics.md: within 1 s); the target is 0.3 s.
ALERT_LATENCY_S = 1.0
#: The same leg's G.711 speech captured and as the far phone heard it.
LEVEL_TOL_DB = 1.0
RECEIVER_PORT_OFFSET = 962
TIMEOUT_S = 10.0
TICK_S = 0.25


async def _place(box: Sandbox, calls_dir: Path, out: Path, fixture: str, talk_s: float,
                 port_range: tuple[int, int]) -> dict[str, Any]:
    """One fixture call on the capture tap (falling back to the snoop tap), and its offline
    analysis."""
    loop = asyncio.get_running_loop()
    taps: list[CallCapture] = []

    def on_ari(body: Mapping[str, Any]) -> None:
        for tap in taps:
            tap.handle_event(body)

    url, user, password, app = box.ari
    client = AriClient(url, user, password, app, on_event=on_ari)
    runner = asyncio.create_task(client.run())
    received: list[tuple[float, Event]] = []
    capture = CaptureService(port_range, max_legs=8, depth_packets=5)
    if not capture.open(loop):
        unavailable(f"host RTP capture: {capture.unavailable}")
    router = TapRouter()
    receiver = await open_receiver(router.engine, box.ports.base + RECEIVER_PORT_OFFSET)
    phones = FixtureCall(box, calls_dir, out, fixture=fixture)
    try:
        await client.wait_connected(TIMEOUT_S)
        await asyncio.to_thread(phones.start)
        t0, wall0 = loop.time(), time.time()
        channels = await _leg_channels(client, "customer1", "agent1")
        call = LiveCall(fixture, CallClock.start(wall0, wall_now=wall0, loop_now=t0),
                        lambda events: received.extend((loop.time() - t0, e) for e in events),
                        codec=CAPTURE_CODEC)
        legs = {"customer": channels["customer"], "agent": channels["agent"]}
        tap = CallCapture(client, capture, call, legs, fallback=lambda: CallTaps(
            client, router, receiver.local_address, call, legs))
        taps.append(tap)
        await tap.start()
        helpers = {c["name"] for c in await client.get_channels()
                   if c["name"].startswith(HELPER_PREFIXES)}
        media = dict(tap.media)
        running = asyncio.create_task(tap.run(loop.time, TICK_S))
        await asyncio.sleep(talk_s - (loop.time() - t0))
        leg_stats = {leg: call.leg_stats(leg) for leg in tap.slots}
        result = await asyncio.to_thread(phones.finish)
        await asyncio.wait_for(running, TIMEOUT_S)
        await tap.close()
        call.finish(loop.time() - t0)
        left = [c["name"] for c in await client.get_channels()]
        health = capture.health()
    finally:
        phones.close()
        receiver.close()
        capture.close()
        await client.close()
        await asyncio.wait_for(runner, TIMEOUT_S)
    (summary,) = [e for _, e in received if e.type == "call.summary"]
    log.info("%s: mode %s media %s; leg stats %s; capture %s", fixture, tap.mode, media,
             leg_stats, health)
    return {"live": summary.data["summary"], "received": received, "mode": tap.mode,
            "helpers": helpers, "left": left, "leg_stats": leg_stats, "health": health,
            "offline": run_call(load_pair(result.agent_heard, result.customer_heard))}


def _run(sandbox: Sandbox, data_dir: Path, out: Path, fixture: str, talk_s: float,
         port_range: tuple[int, int] | None = None) -> dict[str, Any]:
    if os.geteuid() != 0:
        unavailable("host RTP capture needs root (CAP_NET_RAW)")
    if sandbox.pid() is None:
        sandbox.start()
    ports = port_range or (sandbox.ports.rtp_start, sandbox.ports.rtp_end)
    return asyncio.run(_place(sandbox, data_dir / "calls", out, fixture, talk_s, ports))


@pytest.fixture(scope="module")
def captured(sandbox: Sandbox, data_dir: Path,
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _run(sandbox, data_dir, tmp_path_factory.mktemp("capture"), "talk_over", TALK_S)


def _assert_equal_offline(live: dict[str, Any], offline: dict[str, Any], talk_s: float) -> None:
    end_s = min(live["duration_s"], offline["duration_s"])
    assert end_s >= talk_s - 1.0, (live["duration_s"], offline["duration_s"])
    live_over = complete([(e["start"], e["end"], e["interrupter"]) for e in live["talk_over"]],
                         end_s)
    off_over = complete([(e["start"], e["end"], e["interrupter"])
                         for e in offline["talk_over"]], end_s)
    assert_close(live_over, off_over, "talk_over live/offline")
    assert [e[2] for e in live_over] == [e[2] for e in off_over]
    for leg in ("customer", "agent"):
        got = complete(live["legs"][leg]["speech_segments"], end_s)
        assert got, leg
        assert_close(got, complete(offline["legs"][leg]["speech_segments"], end_s),
                     f"{leg} offline")
        live_db = live["legs"][leg]["active_level_dbov"]
        off_db = offline["legs"][leg]["active_level_dbov"]
        assert abs(live_db - off_db) <= LEVEL_TOL_DB, (leg, live_db, off_db)


def test_captured_call_equals_offline_and_truth(captured: dict[str, Any],
                                                data_dir: Path) -> None:
    assert captured["mode"] == "capture"
    live, offline = captured["live"], captured["offline"]
    _assert_equal_offline(live, offline, TALK_S)
    truth = json.loads((data_dir / "calls" / "talk_over.truth.json").read_text())
    end_s = min(live["duration_s"], offline["duration_s"])
    true_over = complete([(e["start"], e["end"], e["interrupter"])
                          for e in truth["talk_over"]], end_s)
    live_over = complete([(e["start"], e["end"], e["interrupter"]) for e in live["talk_over"]],
                         end_s)
    assert len(true_over) == 2
    assert_close(live_over, true_over, "talk_over live/truth")
    assert live["dead_air"] == offline["dead_air"] == []


def test_capture_creates_nothing_in_asterisk(captured: dict[str, Any]) -> None:
    assert captured["helpers"] == set()
    assert not [n for n in captured["left"] if n.startswith(HELPER_PREFIXES)]
    for leg, stats in captured["leg_stats"].items():
        assert stats["packets"] >= (TALK_S - 2.0) * 50, (leg, stats)
        assert stats["wrong_payload_type"] == 0, (leg, stats)
    health = captured["health"]
    assert health["enabled"] and health["kernel_drops"] == 0, health
    samples = [e for _, e in captured["received"] if e.type == "leg.sample"]
    assert len(samples) >= 2 * (int(TALK_S) - 1)


def test_dead_air_alert_latency(sandbox: Sandbox, data_dir: Path, tmp_path: Path) -> None:
    got = _run(sandbox, data_dir, tmp_path, "dead_air", DEAD_AIR_TALK_S)
    assert got["mode"] == "capture"
    ongoing = [(at, e.data) for at, e in got["received"]
               if e.type == "call.dead_air" and e.data["state"] == "ongoing"]
    assert ongoing, [e.type for _, e in got["received"]]
    at, data = ongoing[0]
    # Audio time is call time minus the phones' start (about 0); the alert is due at +5 s.
    due = data["start_s"] + DEAD_AIR_MIN_S
    log.info("dead air from %.3f s (truth %.3f s): alert %.3f s after its 5 s mark",
             data["start_s"], DEAD_AIR_START_S, at - due)
    assert abs(data["start_s"] - DEAD_AIR_START_S) <= 0.5, data
    assert 0.0 <= at - due <= ALERT_LATENCY_S, (at, due)


def test_call_capture_cannot_see_goes_over_to_snoop(sandbox: Sandbox, data_dir: Path,
                                                    tmp_path: Path) -> None:
    """Ports outside the captured range: the call is tapped by snoops (8 kHz slin) instead,
    with the same metrics."""
    got = _run(sandbox, data_dir, tmp_path, "talk_over", TALK_S, port_range=(1, 2))
    assert got["mode"] == "snoop"
    assert sum(n.startswith("Snoop/") for n in got["helpers"]) == 2, got["helpers"]
    assert not [n for n in got["left"] if n.startswith(HELPER_PREFIXES)]
    _assert_equal_offline(got["live"], got["offline"], TALK_S)

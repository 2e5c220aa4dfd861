"""The daemon (`edgeqa run`, a real child process) on the real Asterisk sandbox with real phones."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from edgeqa.sandbox.demo.daemon_proc import DaemonProcess
from edgeqa.sandbox.demo.runner import in_thread as blocking
from edgeqa.sandbox.demo.stream_client import Envelope, StreamCollector
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall
from edgeqa.store import schema_name
from tests.support.daemon import (
    API_PORT_OFFSET,
    EVENT_TIMEOUT_S,
    RESYNC_BUDGET_S,
    call_in_state,
    is_type,
    make_daemon,
)
from tests.support.hygiene import no_leaks  # noqa: F401
from tests.support.schemas import envelope_errors

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaks")]













async def test_daemon_tracks_a_real_queue_call(
        running_sandbox: Sandbox, daemon: DaemonProcess, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    col = collect(daemon.api_url)
    await col.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
    call = FixtureCall(running_sandbox, data_dir / "calls", tmp_path / "call", fixture="clean")
    before = time.time()
    try:
        await blocking(call.start)
        connected = await col.wait_for(call_in_state("connected"), EVENT_TIMEOUT_S)
        call_id = connected["data"]["call"]["call_id"]
        snap = daemon.get("/v1/calls")
        assert [c["call_id"] for c in snap["calls"]] == [call_id]
        cli = await blocking(lambda: subprocess.run(
            [sys.executable, "-m", "edgeqa", "calls", "--url", daemon.api_url, "--token-file",
             str(daemon.token_path)],
            capture_output=True, text=True, timeout=30))
        assert cli.returncode == 0, cli.stderr
        assert f"  {call_id}  connected  queue=support  agent=PJSIP/agent1" in cli.stdout
        assert "customer" in cli.stdout and "PJSIP/customer1-" in cli.stdout
        await asyncio.sleep(1.0)
        await blocking(call.finish)
    finally:
        await blocking(call.close)
    after = time.time()
    ended = await col.wait_for(
        lambda e: e["type"] == "call.ended" and e["data"]["call"]["call_id"] == call_id,
        EVENT_TIMEOUT_S)
    c = ended["data"]["call"]
    assert c["queue"] == "support"
    assert c["agent_interface"] == "PJSIP/agent1"
    roles = {channel["role"]: channel for channel in c["channels"]}
    assert roles["customer"]["endpoint"] == "PJSIP/customer1"
    assert roles["agent"]["endpoint"] == "PJSIP/agent1"
    assert before <= c["started_at"] <= c["answered_at"] <= c["ended_at"] <= after
    for channel in c["channels"]:
        assert channel["started_at"] <= channel["ended_at"]
    joined = await col.wait_for(is_type("queue.caller_joined"), EVENT_TIMEOUT_S)
    left = await col.wait_for(is_type("queue.caller_left"), EVENT_TIMEOUT_S)
    assert joined["data"]["queue"] == left["data"]["queue"] == "support"
    assert joined["data"]["caller"]["uniqueid"] == roles["customer"]["uniqueid"]
    assert left["data"]["reason"] != "abandoned"
    busy = await col.wait_for(
        lambda e: e["type"] == "agent.updated"
        and e["data"]["agent"]["interface"] == "PJSIP/agent1"
        and e["data"]["agent"]["on_call"] == call_id, EVENT_TIMEOUT_S)
    assert busy["seq"] < ended["seq"]
    seqs = [e["seq"] for e in col.events]
    assert seqs == list(range(1, len(seqs) + 1))
    for e in col.events:
        assert set(e) == {"seq", "type", "at", "schema", "data"}
        assert e["schema"] == schema_name(e["type"])
    assert daemon.get("/v1/calls")["calls"] == []


def _queue_members_from_cli(sandbox: Sandbox) -> dict[str, str]:
    """Member interface -> device state word, as `queue show support` prints it."""
    out = sandbox.cli("queue show support")
    members = {}
    for line in out.splitlines():
        m = re.search(r"\((PJSIP/\w+)[^)]*\).*?\((Not in use|Unavailable|In use|Busy|Ringing"
                      r"|On Hold|Invalid|Unknown)\)", line)
        if m:
            members[m.group(1)] = m.group(2).lower().replace(" ", "_")
    return members


async def test_asterisk_restart_mid_call_resyncs_within_2s(
        running_sandbox: Sandbox, daemon: DaemonProcess, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    col = collect(daemon.api_url)
    await col.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
    call = FixtureCall(running_sandbox, data_dir / "calls", tmp_path / "call", fixture="clean")
    try:
        await blocking(call.start)
        connected = await col.wait_for(call_in_state("connected"), EVENT_TIMEOUT_S)
        call_id = connected["data"]["call"]["call_id"]
        mark = len(col.events)
        restart_started = time.monotonic()
        boot_s = await blocking(running_sandbox.restart)
        asterisk_up = time.monotonic()
        resync = await col.wait_for(
            lambda e: e["type"] == "resync.completed" and e["data"]["outage_s"] is not None,
            EVENT_TIMEOUT_S, start=mark)
        resynced = time.monotonic()
        for _ in range(int(RESYNC_BUDGET_S / 0.02)):  # poll the other process's health
            if daemon.get("/v1/health")["status"] == "ok":
                break
            await asyncio.sleep(0.02)
        both_up = time.monotonic()
    finally:
        await blocking(call.close)
    after_boot_s = max(0.0, resynced - asterisk_up)  # 0: done before restart() returned
    print(f"\nAsterisk restart: stop+boot {asterisk_up - restart_started:.3f} s "
          f"(FullyBooted in {boot_s:.3f} s); daemon resynced {after_boot_s:.3f} s after boot "
          f"(outage seen by the daemon {resync['data']['outage_s']:.3f} s, resync itself "
          f"{resync['data']['duration_s'] * 1000:.1f} ms); AMI+ARI both up "
          f"{both_up - asterisk_up:.3f} s after boot")
    assert after_boot_s <= RESYNC_BUDGET_S
    assert both_up - asterisk_up <= RESYNC_BUDGET_S
    dropped = {e["data"]["link"] for e in col.events[mark:]
               if e["type"] == "asterisk.disconnected"}
    assert dropped == {"ami", "ari"}  # both links report their drop, named by `link`
    ended = await col.wait_for(
        lambda e: e["type"] == "call.ended" and e["data"]["call"]["call_id"] == call_id,
        EVENT_TIMEOUT_S, start=mark)
    assert ended["data"]["call"]["ended_at"] is not None
    snap = daemon.get("/v1/calls")
    assert snap["calls"] == []
    (support,) = [q for q in snap["queues"] if q["name"] == "support"]
    assert support["callers"] == []
    expected = await blocking(_queue_members_from_cli, running_sandbox)
    assert expected, "could not read `queue show support`"
    got = {m["interface"]: m["state"] for m in support["members"]}
    assert got == expected


async def _read_all_sse(api_url: str, after: int, upto: int, token: str) -> list[Envelope]:
    out: list[Envelope] = []
    headers = {"Last-Event-ID": str(after), "Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session, \
            session.get(f"{api_url}/v1/events", headers=headers) as resp:
        assert resp.status == 200
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("data: "):
                    env = json.loads(line[6:])
                    assert envelope_errors(env) == [], env
                    out.append(env)
                    if env["seq"] >= upto:
                        break
    return out


async def test_resume_exactly_once_across_daemon_restart(
        running_sandbox: Sandbox, tmp_path: Path, data_dir: Path,
        collect: Callable[..., StreamCollector]) -> None:
    proc = make_daemon(running_sandbox, tmp_path)
    proc.start()
    try:
        await blocking(proc.wait_ready)
        first = collect(proc.api_url)
        live = collect(proc.api_url, after=None)  # stays connected through the restart
        await first.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
        await live.connected.wait()
        call = FixtureCall(running_sandbox, data_dir / "calls", tmp_path / "call")
        try:
            await blocking(call.start)
            await first.wait_for(call_in_state("connected"), EVENT_TIMEOUT_S)
            cut = first.last_seq  # the consumer goes away here, mid-call
            await blocking(call.finish)
        finally:
            await blocking(call.close)
        ended = await live.wait_for(is_type("call.ended"), EVENT_TIMEOUT_S)
        assert await blocking(proc.stop) == 0, proc.log()
        await asyncio.wait_for(live.closed.wait(), EVENT_TIMEOUT_S)
        assert live.close_code == 1001
        assert live.close_reason == f"daemon stopping, resume from {live.last_seq}"
        assert live.events[-1]["type"] == "daemon.stopping"
        before_restart = live.last_seq
        proc.start()
        await blocking(proc.wait_ready)
        await asyncio.sleep(0.3)
        last = proc.get("/v1/health")["stream"]["last_seq"]
        assert last > before_restart >= ended["seq"] > cut
        resumed = collect(proc.api_url, after=cut)
        await resumed.wait_for(lambda e: e["seq"] >= last, EVENT_TIMEOUT_S)
        full = collect(proc.api_url, after=0)
        await full.wait_for(lambda e: e["seq"] >= last, EVENT_TIMEOUT_S)
        sse = await _read_all_sse(proc.api_url, cut, last, proc.token())
    finally:
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    expected = [e for e in full.events if cut < e["seq"] <= last]
    assert [e["seq"] for e in expected] == list(range(cut + 1, last + 1))
    got_ws = [e for e in resumed.events if e["seq"] <= last]
    assert got_ws == expected, "WebSocket resume: gap, duplicate or changed event"
    assert sse == expected, "SSE resume: gap, duplicate or changed event"
    assert full.events[:cut] == first.events[:cut]  # durable: unchanged across the restart
    types = [e["type"] for e in expected]
    assert "call.ended" in types and "daemon.stopping" in types and "daemon.started" in types
    print(f"\nresumed after seq {cut}: {len(expected)} events up to {last}, "
          f"each once (WebSocket and SSE), across a daemon restart")


async def test_bad_config_exits_2_with_one_clear_line_per_error(tmp_path: Path) -> None:
    conf = tmp_path / "bad.toml"
    conf.write_text('[ami]\nport = 5038\nsecret_file = "/nonexistent/secret"\n')
    proc = DaemonProcess(conf, 1, tmp_path / "bad.log", env={"PATH": "/usr/bin:/bin"})
    proc.start()
    assert await blocking(proc.wait_exit, 20.0) == 2
    lines = proc.log().strip().splitlines()
    assert lines == [f"edgeqa: configuration error: {conf.resolve()}:3: ami.secret_file: "
                     "cannot read /nonexistent/secret: No such file or directory",
                     f"edgeqa: configuration error: {conf.resolve()}: ari.password_file: "
                     "missing: set ari.password_file or $EDGEQA_ARI_PASSWORD"]


@pytest.mark.parametrize("which", ["ami", "ari"])
async def test_bad_credentials_exit_3_with_one_clear_message(
        running_sandbox: Sandbox, tmp_path: Path, which: str) -> None:
    host, port, user, _ = running_sandbox.ami
    url, ari_user, _, app = running_sandbox.ari
    ami = (host, port, user, "wrong-secret") if which == "ami" else None
    ari = (url, ari_user, "wrong-password", app) if which == "ari" else None
    proc = make_daemon(running_sandbox, tmp_path, ami=ami, ari=ari)
    proc.start()
    try:
        status = await blocking(proc.wait_exit, 20.0)
    finally:
        proc.stop()
    log = proc.log()
    assert status == 3, log
    assert log.count("credentials rejected") == 1, log
    assert f"{which}.username" in log
    assert "wrong-" not in log  # the secret itself is never logged


async def test_unreachable_asterisk_keeps_retrying(tmp_path: Path, sandbox: Sandbox) -> None:
    base = sandbox.ports.base
    nowhere_ami = ("127.0.0.1", base + 37, "edgeqa", "x")  # nothing listens there
    nowhere_ari = (f"http://127.0.0.1:{base + 87}/ari", "edgeqa", "x", "edgeqa")
    proc = make_daemon(sandbox, tmp_path, ami=nowhere_ami, ari=nowhere_ari)
    proc.start()
    try:
        health = await blocking(lambda: proc.wait_ready(connected=False))
        assert health["status"] == "degraded"
        await asyncio.sleep(3.0)
        assert proc.proc is not None and proc.proc.poll() is None, proc.log()
        health = proc.get("/v1/health")
        assert health["status"] == "degraded" and not health["ami"]["connected"]
    finally:
        status = proc.stop()
    log = proc.log()
    assert status == 0, log
    # One daemon line names both links; each client logs its outage's first failure only (the
    # later attempts are at DEBUG), and nothing says "reconnected".
    assert log.count(f"Asterisk is not reachable yet (AMI 127.0.0.1:{base + 37}, ARI "
                     f"http://127.0.0.1:{base + 87}/ari); edgeqa keeps retrying") == 1, log
    for client in ("edgeqa.ami.client", "edgeqa.ari.client"):
        warnings = [line for line in log.splitlines() if f"WARNING {client}:" in line]
        assert len(warnings) == 1 and "reconnecting in" in warnings[0], log
    assert "reconnected after" not in log


async def test_sd_notify_ready_watchdog_stopping(tmp_path: Path, sandbox: Sandbox) -> None:
    """READY=1 once serving, WATCHDOG=1 at WATCHDOG_USEC/2 from the loop, STOPPING=1 on SIGTERM."""
    base = sandbox.ports.base
    proc = make_daemon(sandbox, tmp_path, ami=("127.0.0.1", base + 37, "edgeqa", "x"),
                       ari=(f"http://127.0.0.1:{base + 87}/ari", "edgeqa", "x", "edgeqa"))
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    proc.env.update(NOTIFY_SOCKET=str(path), WATCHDOG_USEC="400000")
    loop = asyncio.get_running_loop()
    messages: list[tuple[float, str]] = []

    arrived = asyncio.Event()

    async def reader() -> None:
        while True:
            data = await loop.sock_recv(sock, 4096)
            messages.append((time.monotonic(), data.decode()))
            arrived.set()

    async def until(word: str) -> None:
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            while not any(word in m for _, m in messages):
                arrived.clear()
                await arrived.wait()

    task = asyncio.create_task(reader())
    try:
        proc.start()
        await until("READY=1")
        await until("WATCHDOG=1")
        await asyncio.sleep(1.0)
        status = await blocking(proc.stop)
        await until("STOPPING=1")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        proc.stop()
        sock.close()
    assert status == 0, proc.log()
    dogs = [t for t, m in messages if m == "WATCHDOG=1"]
    assert len(dogs) >= 3
    gaps = [b - a for a, b in itertools.pairwise(dogs)]
    assert all(0.1 < g < 0.4 for g in gaps), gaps  # every 0.2 s (half of 0.4 s)
    assert messages[0][1].startswith("READY=1")


async def test_daemon_killed_mid_call_ends_the_call_it_missed(
        running_sandbox: Sandbox, tmp_path: Path, data_dir: Path,
        collect: Callable[..., StreamCollector]) -> None:
    """SIGKILL mid-call; the call ends while the daemon is down; the restart closes it."""
    proc = make_daemon(running_sandbox, tmp_path)
    proc.start()
    call = FixtureCall(running_sandbox, data_dir / "calls", tmp_path / "call")
    try:
        await blocking(proc.wait_ready)
        first = collect(proc.api_url)
        await first.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
        await blocking(call.start)
        connected = await first.wait_for(call_in_state("connected"), EVENT_TIMEOUT_S)
        call_id = connected["data"]["call"]["call_id"]
        assert proc.proc is not None
        proc.proc.kill()  # no flush, no goodbye: only what was committed survives
        await blocking(proc.proc.wait, 10.0)
        await blocking(call.finish)
        proc.start()
        await blocking(proc.wait_ready)
        again = collect(proc.api_url, after=first.last_seq)
        ended = await again.wait_for(
            lambda e: e["type"] == "call.ended" and e["data"]["call"]["call_id"] == call_id,
            EVENT_TIMEOUT_S)
        assert proc.get("/v1/calls")["calls"] == []
    finally:
        await blocking(call.close)
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    assert ended["data"]["call"]["state"] == "ended"
    assert [e["seq"] for e in again.events][:1] == [first.last_seq + 1]


async def test_api_port_in_use_exits_1_with_one_clear_message(
        tmp_path: Path, sandbox: Sandbox) -> None:
    proc = make_daemon(sandbox, tmp_path)
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        busy.bind(("127.0.0.1", sandbox.ports.base + API_PORT_OFFSET))
        busy.listen()
        proc.start()
        status = await blocking(proc.wait_exit, 20.0)
    assert status == 1, proc.log()
    assert proc.log().count(f"cannot listen on 127.0.0.1:{sandbox.ports.base + API_PORT_OFFSET}"
                            ": Address already in use") == 1

"""The daemon serves FastAGI with the routes its services put in ``agi_routes``; a port in use
is logged, not fatal (the dialplan then plays its prompt)."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from edgeqa.agi import AgiSession
from edgeqa.app import EXIT_OK, Daemon
from edgeqa.config import parse_config
from edgeqa.sandbox.agipeer import FakeAsteriskAgi

ENV = {"EDGEQA_AMI_SECRET": "s3cret-ami", "EDGEQA_ARI_PASSWORD": "s3cret-ari"}
TIMEOUT_S = 10.0


def _config(tmp_path: Path, closed: int, agi_port: int) -> str:
    return (f'[store]\npath = "{tmp_path / "edgeqa.db"}"\n[api]\nport = 0\n'
            f'[live]\nenabled = false\n[recording]\nenabled = false\n'
            f'[ami]\nport = {closed}\n[ari]\nurl = "http://127.0.0.1:{closed}/ari"\n'
            f'[agi]\nport = {agi_port}\n')


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _run_until(daemon: Daemon) -> asyncio.Task[int]:
    """Start the daemon; return once it streamed daemon.started (its servers are up)."""
    run = asyncio.create_task(daemon.run())
    async with asyncio.timeout(TIMEOUT_S):
        while not await _started(daemon):  # other events (audit.entry) may come first
            assert not run.done(), run.result()
            await asyncio.sleep(0.01)
    return run


async def _started(daemon: Daemon) -> bool:
    if daemon.store is None or daemon.hub is None or daemon.hub.last_seq < 1:
        return False
    events = await daemon.store.read_after(0, 100)
    return any(e.type == "daemon.started" for e in events)


async def test_a_route_a_service_registers_is_served(tmp_path: Path) -> None:
    daemon = Daemon(parse_config(_config(tmp_path, _closed_port(), 0), env=ENV))
    seen: list[tuple[str, ...]] = []

    async def spy(s: AgiSession) -> None:
        seen.append(s.request.args)

    daemon.agi_routes["spy"] = spy
    run = await _run_until(daemon)
    try:
        assert daemon.agi is not None and daemon.agi.address is not None
        async with FakeAsteriskAgi(daemon.agi.address[1]) as peer:
            await peer.send_env("spy", ["listen", "1"])
            assert await peer.rest() == b""
        async with FakeAsteriskAgi(daemon.agi.address[1]) as peer:
            await peer.send_env("nobody")  # nobody registered it
            assert await peer.rest() == b"FAILURE\n"
        async with FakeAsteriskAgi(daemon.agi.address[1]) as peer:  # the route service's own
            await peer.send_env("route", ["support", "0"])
            assert (await peer.command() or "").startswith('EXEC "MSet" "QUEUE_PRIO=0,')
            await peer.reply("200 result=0")
            assert await peer.rest() == b""
        assert seen == [("listen", "1")]
        assert daemon.health()["agi"]["sessions"] == 3
        assert daemon.health()["route"]["decided"] == 1
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(run, TIMEOUT_S) == EXIT_OK


async def test_agi_port_in_use_is_logged_not_fatal(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        daemon = Daemon(parse_config(_config(tmp_path, _closed_port(), port), env=ENV))
        with caplog.at_level(logging.ERROR):
            run = await _run_until(daemon)
        daemon.request_stop()
        assert await asyncio.wait_for(run, TIMEOUT_S) == EXIT_OK
    assert f"cannot listen for FastAGI on 127.0.0.1:{port}" in caplog.text
    assert daemon.health()["agi"]["listening"] is False


async def test_disabled_means_no_server(tmp_path: Path) -> None:
    cfg = parse_config(_config(tmp_path, _closed_port(), 0) + "enabled = false\n", env=ENV)
    assert Daemon(cfg).agi is None

"""The daemon as a subprocess against the sandbox, and predicates on its stream."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from edgeqa.live.events import METRIC_EVENT_TYPES
from edgeqa.sandbox.demo.daemon_proc import DaemonProcess, write_config
from edgeqa.sandbox.demo.runner import in_thread
from edgeqa.sandbox.demo.stream_client import Envelope, StreamCollector
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall

#: The daemon's API port: inside this sandbox's port block, above the phones' RTP ports.
API_PORT_OFFSET = 950


#: The daemon's live-metrics RTP receiver.
RTP_PORT_OFFSET = 960


EVENT_TIMEOUT_S = 15.0


RESYNC_BUDGET_S = 2.0
#: Every metric event type the daemon streams (one list: the live service's).
METRIC_TYPES = METRIC_EVENT_TYPES


def make_daemon(sandbox: Sandbox, tmp_path: Path, *, name: str = "d",
                ami: tuple[str, int, str, str] | None = None,
                ari: tuple[str, str, str, str] | None = None,
                live: bool = True, record: bool = True,
                recording_policy: str = "",
                recordings: tuple[str, Path] | None = None,
                tap: str = "auto", extra: str = "") -> DaemonProcess:
    """The daemon on this sandbox; live metrics capture the sandbox's RTP range (``tap``).
    ``extra``: more config (whole sections) after the ones written here."""
    port = sandbox.ports.base + API_PORT_OFFSET
    live_options = (f'tap = "{tap}"\ncapture_port_start = {sandbox.ports.rtp_start}\n'
                    f'capture_port_end = {sandbox.ports.rtp_end}\n')
    extra = f"[logging]\nlevel = \"INFO\"\n{extra}"
    conf = write_config(tmp_path / name, ami=ami or sandbox.ami, ari=ari or sandbox.ari,
                        api_port=port, extra=extra, live=live,
                        rtp_port=sandbox.ports.base + RTP_PORT_OFFSET,
                        recordings=(recordings or sandbox.recordings) if record else None,
                        recording_policy=recording_policy, live_options=live_options,
                        agi_port=sandbox.ports.agi)
    proc = DaemonProcess(conf, port, tmp_path / name / "daemon.log")
    DAEMONS[proc.api_url] = proc
    return proc


#: The daemons made here, by API URL: a stream collector given only a URL reads the local
#: admin token of the daemon there.
DAEMONS: dict[str, DaemonProcess] = {}


def admin_token(api_url: str) -> str:
    """The local admin token of the daemon serving ``api_url`` (started by make_daemon)."""
    return DAEMONS[api_url].token()


def add_token(proc: DaemonProcess, name: str, role: str, *scopes: str,
              agent: str | None = None) -> str:
    """Create a token with `edgeqa token add` on the daemon's store; return its secret."""
    argv = [sys.executable, "-m", "edgeqa", "token", "add", "--config", str(proc.config),
            "--role", role, *(f"--scope={s}" for s in scopes),
            *(["--agent", agent] if agent else []), name]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def run_cli(proc: DaemonProcess, *args: str,
            timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    """`edgeqa ARGS --config <the daemon's config>`, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "edgeqa", *args, "--config", str(proc.config)],
                          capture_output=True, text=True, timeout=timeout_s)


def api_request(proc: DaemonProcess, method: str, path: str, body: Any = None,
                token: str | None = None, timeout_s: float = 10.0) -> tuple[int, Any]:
    """One JSON request to the daemon's API with ``token`` (default: its local admin token);
    (status, decoded body), error statuses included."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(proc.api_url + path, data=data, method=method, headers={
        "Authorization": f"Bearer {token or proc.token()}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def is_type(*types: str) -> Callable[[Envelope], bool]:
    return lambda e: e["type"] in types


def call_in_state(state: str) -> Callable[[Envelope], bool]:
    return lambda e: (e["type"] in ("call.started", "call.updated")
                      and e["data"]["call"]["state"] == state)


async def fixture_call(box: Sandbox, proc: DaemonProcess, calls_dir: Path, out: Path,
                       collect: Callable[..., StreamCollector],
                       while_up: Callable[[StreamCollector], Awaitable[None]], *,
                       fixture: str = "clean") -> tuple[StreamCollector, Envelope]:
    """Once the started daemon is ready and resynced, place a fixture call; ``while_up(col)``
    runs once it is connected, then the phones hang up. Returns the stream collector and the
    call's connected event."""
    await in_thread(proc.wait_ready)
    col = collect(proc.api_url)
    await col.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
    phones = FixtureCall(box, calls_dir, out, fixture=fixture)
    try:
        await in_thread(phones.start)
        connected = await col.wait_for(call_in_state("connected"), EVENT_TIMEOUT_S)
        await while_up(col)
        await in_thread(phones.finish)
    finally:
        await in_thread(phones.close)
    return col, connected

"""The daemon's real API socket on loopback: half-open and slowloris connections are closed at
the head deadline and its descriptors go back down while it keeps serving; a WebSocket with a
foreign Origin or Host is refused.

The connections are hand-written sockets (a FAKE PEER: no real HTTP client stops mid-request).
Asterisk is not needed: AMI and ARI point at ports where nothing listens.
Run: EDGEQA_SANDBOX_PORT_BASE=19000 .venv/bin/pytest -q tests/integration/test_api_edge.py
"""

from __future__ import annotations

import os
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeqa.sandbox.demo.daemon_proc import DaemonProcess, write_config
from edgeqa.sandbox.ports import SandboxPorts
from tests.support.daemon import API_PORT_OFFSET, RTP_PORT_OFFSET

pytestmark = pytest.mark.integration

HEAD_S = 2.0
HALF_OPEN = 300
SLOW_BYTE_S = 0.5
STEP_S = 15.0  # upper bound of any single wait
FD_SLACK = 8  # descriptors the daemon may open meanwhile (store, logs, reconnect attempts)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    base = SandboxPorts.from_env().base
    port = base + API_PORT_OFFSET
    conf = write_config(tmp_path / "d", ami=("127.0.0.1", base + 37, "edgeqa", "x"),
                        ari=(f"http://127.0.0.1:{base + 87}/ari", "edgeqa", "x", "edgeqa"),
                        api_port=port, rtp_port=base + RTP_PORT_OFFSET, live=False)
    text = conf.read_text()
    api_head = f'[api]\nhost = "127.0.0.1"\nport = {port}\n'
    assert api_head in text
    conf.write_text(text.replace(api_head, api_head + f"header_timeout_s = {HEAD_S}\n"
                                 "idle_timeout_s = 5.0\nmax_connections = 1024\n"))
    proc = DaemonProcess(conf, port, tmp_path / "d" / "daemon.log")
    proc.start()
    try:
        proc.wait_ready(connected=False)
        yield proc
    finally:
        proc.stop()


def fds(proc: DaemonProcess) -> int:
    assert proc.proc is not None
    return len(os.listdir(f"/proc/{proc.proc.pid}/fd"))


def port_of(proc: DaemonProcess) -> int:
    return int(proc.api_url.rsplit(":", 1)[1])


def wait_closed(socks: list[socket.socket], sent_at: dict[int, float]) -> list[float]:
    """Seconds from each socket's last byte sent to the server closing it."""
    sel = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ)
    waits: list[float] = []
    deadline = time.monotonic() + STEP_S
    try:
        while len(waits) < len(socks) and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if not data:
                    waits.append(time.monotonic() - sent_at[sock.fileno()])
                    sel.unregister(sock)
    finally:
        sel.close()
    return waits


def test_half_open_connections_closed_and_descriptors_recovered(daemon: DaemonProcess) -> None:
    port = port_of(daemon)
    before = fds(daemon)
    socks: list[socket.socket] = []
    sent_at: dict[int, float] = {}
    try:
        t0 = time.monotonic()
        for _ in range(HALF_OPEN):
            sock = socket.create_connection(("127.0.0.1", port), timeout=STEP_S)
            sock.sendall(b"GET /v1/health HT")  # a request line that never ends
            sent_at[sock.fileno()] = time.monotonic()
            socks.append(sock)
        created_s = time.monotonic() - t0
        during = fds(daemon)
        deadline = time.monotonic() + HEAD_S / 2  # the daemon accepts them from its backlog
        while during < before + HALF_OPEN - FD_SLACK and time.monotonic() < deadline:
            time.sleep(0.01)
            during = max(during, fds(daemon))
        health = daemon.get("/v1/health", timeout_s=STEP_S)  # served meanwhile
        assert "status" in health, health
        waits = wait_closed(socks, sent_at)
    finally:
        for sock in socks:
            sock.close()
    after = before + FD_SLACK + 1
    deadline = time.monotonic() + STEP_S
    while time.monotonic() < deadline and after > before + FD_SLACK:
        after = fds(daemon)
        time.sleep(0.05)
    print(f"{HALF_OPEN} half-open opened in {created_s:.2f} s; daemon fds: before {before}, "
          f"with them {during}, after {after}; "
          f"closed after {min(waits):.2f}..{max(waits):.2f} s (header_timeout_s = {HEAD_S})")
    assert during >= before + HALF_OPEN - FD_SLACK  # they really were open in the daemon
    assert len(waits) == HALF_OPEN, f"{HALF_OPEN - len(waits)} still open after {STEP_S} s"
    assert min(waits) >= HEAD_S - 0.2
    assert max(waits) < HEAD_S + 3.0
    assert after <= before + FD_SLACK
    assert daemon.proc is not None and daemon.proc.poll() is None


def test_slowloris_closed_at_the_head_deadline(daemon: DaemonProcess) -> None:
    port = port_of(daemon)
    head = f"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Pad: slow\r\n\r\n".encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=STEP_S)
    started = time.monotonic()
    sent = 0
    try:
        sock.setblocking(False)
        while sent < len(head) and time.monotonic() - started < STEP_S:
            try:
                if sock.recv(65536) == b"":
                    break
            except BlockingIOError:
                pass
            except ConnectionResetError:
                break
            try:
                sock.send(head[sent:sent + 1])
                sent += 1
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(SLOW_BYTE_S)
    finally:
        sock.close()
    elapsed = time.monotonic() - started
    print(f"slowloris: {sent} bytes at one per {SLOW_BYTE_S} s, closed after {elapsed:.2f} s")
    assert sent < len(head)
    assert elapsed < HEAD_S + 2 * SLOW_BYTE_S + 1.0


def upgrade_status(port: int, host: str, origin: str | None, token: str) -> bytes:
    request = (f"GET /v1/stream HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
               f"Authorization: Bearer {token}\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n")
    if origin is not None:
        request += f"Origin: {origin}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=STEP_S) as sock:
        sock.sendall((request + "\r\n").encode())
        return sock.recv(65536).split(b"\r\n", 1)[0]


def test_websocket_with_foreign_origin_or_host_refused(daemon: DaemonProcess) -> None:
    port = port_of(daemon)
    own, token = f"127.0.0.1:{port}", daemon.token()  # a good token does not help
    assert upgrade_status(port, own, "http://evil.example", token) == b"HTTP/1.1 403 Forbidden"
    assert upgrade_status(port, own, "null", token) == b"HTTP/1.1 403 Forbidden"
    assert upgrade_status(port, f"evil.example:{port}", None, token).startswith(
        b"HTTP/1.1 421 ")
    assert upgrade_status(port, own, None, token) == b"HTTP/1.1 101 Switching Protocols"
    assert upgrade_status(port, f"localhost:{port}", f"http://localhost:{port}", token) == \
        b"HTTP/1.1 101 Switching Protocols"
    assert upgrade_status(port, own, None, "eqa_bad").startswith(b"HTTP/1.1 401 ")

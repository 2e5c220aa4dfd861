"""Blocking readiness probes: AMI login until ``Event: FullyBooted``, and ARI ``/asterisk/info``."""

from __future__ import annotations

import base64
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

from edgeqa.ami.login import md5_key
from edgeqa.sandbox.errors import SandboxError

MAX_PROBE_BUFFER_BYTES = 256 * 1024
RETRY_INTERVAL_S = 0.05
SOCKET_TIMEOUT_S = 1.0


def wait_fully_booted(host: str, port: int, username: str, secret: str, timeout_s: float,
                      alive: Callable[[], bool] = lambda: True) -> float:
    """Log in to AMI until Asterisk reports FullyBooted; return the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout_s
    last_error = "no connection attempt"
    while time.monotonic() < deadline:
        if not alive():
            raise SandboxError("Asterisk exited while booting")
        try:
            if _login_sees_fully_booted(host, port, username, secret, deadline):
                return time.monotonic() - started
            last_error = "login succeeded but no FullyBooted event"
        except (TimeoutError, ConnectionRefusedError, ConnectionResetError) as exc:
            last_error = type(exc).__name__
        except OSError as exc:
            last_error = str(exc)
        time.sleep(RETRY_INTERVAL_S)
    raise SandboxError(f"AMI on {host}:{port} not FullyBooted within {timeout_s:.1f} s "
                       f"({last_error})")


def _login_sees_fully_booted(host: str, port: int, username: str, secret: str,
                             deadline: float) -> bool:
    with socket.create_connection((host, port), timeout=SOCKET_TIMEOUT_S) as sock:
        # Challenge/MD5, as the daemon logs in (docs/asterisk.md#ami-login).
        sock.sendall(b"Action: Challenge\r\nAuthType: MD5\r\nActionID: edgeqa-probe-1\r\n\r\n")
        logged_in = False
        for text in _blocks(sock, deadline):
            if "Response: Error" in text:
                reason = _header(text, "Message")
                raise SandboxError(f"AMI login as {username!r} rejected: {reason}")
            if not logged_in and "edgeqa-probe-1" in text:
                key = md5_key(_header(text, "Challenge"), secret)
                sock.sendall(f"Action: Login\r\nAuthType: MD5\r\nUsername: {username}\r\n"
                             f"Key: {key}\r\nActionID: edgeqa-sandbox-probe\r\n\r\n".encode())
                logged_in = True
            elif logged_in and "Event: FullyBooted" in text:
                sock.sendall(b"Action: Logoff\r\n\r\n")
                return True
        return False


def _blocks(sock: socket.socket, deadline: float) -> Iterator[str]:
    """Yield each complete AMI block read from ``sock`` until EOF or ``deadline``."""
    buf = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, min(SOCKET_TIMEOUT_S, deadline - time.monotonic())))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            return
        buf += chunk
        if len(buf) > MAX_PROBE_BUFFER_BYTES:
            raise SandboxError(f"AMI probe read over {MAX_PROBE_BUFFER_BYTES} bytes")
        *complete, buf = buf.split(b"\r\n\r\n")
        for block in complete:
            yield block.decode("utf-8", "replace")


def _header(block: str, name: str) -> str:
    for line in block.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return "?"


def ari_get(base_url: str, username: str, password: str, path: str,
            timeout_s: float = 2.0) -> tuple[int, Any]:
    """GET ``base_url + path`` with basic auth; return (status, decoded JSON or None)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    req = urllib.request.Request(base_url + path, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            body = resp.read()
            return resp.status, json.loads(body) if body else None
    except urllib.error.HTTPError as exc:
        return exc.code, None


def wait_ari_ready(base_url: str, username: str, password: str, timeout_s: float) -> float:
    """Poll ``GET /asterisk/info`` until it answers 200; return the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout_s
    last = "no attempt"
    while time.monotonic() < deadline:
        try:
            status, _ = ari_get(base_url, username, password, "/asterisk/info", timeout_s=1.0)
            if status == 200:
                return time.monotonic() - started
            last = f"HTTP {status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(RETRY_INTERVAL_S)
    raise SandboxError(f"ARI {base_url}/asterisk/info not ready within {timeout_s:.1f} s ({last})")

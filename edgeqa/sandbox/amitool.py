"""A minimal blocking AMI session for sandbox tests and scenarios (not the daemon's client)."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Callable, Sequence

from edgeqa.ami.login import CHALLENGE_HEADERS, challenge_nonce, login_headers
from edgeqa.ami.message import AmiMessage
from edgeqa.sandbox.errors import SandboxError

MAX_BUFFER_BYTES = 4 * 1024 * 1024
MAX_PENDING_EVENTS = 10_000
_ids = itertools.count(1)


class AmiSession:
    """Blocking AMI login + actions + event waits; events beyond the cap are dropped (oldest)."""

    def __init__(self, host: str, port: int, username: str, secret: str,
                 timeout_s: float = 5.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout_s)
        self._buf = b""
        self.events: list[AmiMessage] = []
        self.banner = self._readline(timeout_s)
        nonce = challenge_nonce(self.action("Challenge", CHALLENGE_HEADERS, timeout_s))
        resp = self.action("Login", login_headers(username, secret, nonce), timeout_s)
        if resp.response != "Success":
            self.close()
            raise SandboxError(f"AMI login as {username!r} failed: {resp.get('Message')}")

    def action(self, name: str, headers: Sequence[tuple[str, str]] = (),
               timeout_s: float = 5.0) -> AmiMessage:
        """Send one action and return its response; events read meanwhile are kept."""
        action_id = f"sbx-{next(_ids)}"
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        for key, value in headers:
            if any(c in key + value for c in "\r\n"):
                raise ValueError("CR/LF in an AMI header")
            lines.append(f"{key}: {value}")
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return self._next(lambda m: m.action_id == action_id and m.response is not None,
                          timeout_s, f"response to {name}")

    def wait_event(self, match: Callable[[AmiMessage], bool], timeout_s: float) -> AmiMessage:
        """Return (and consume) the first kept or future event for which ``match`` is true."""
        return self._next(lambda m: m.event is not None and match(m), timeout_s, "event")

    def _next(self, match: Callable[[AmiMessage], bool], timeout_s: float, what: str) -> AmiMessage:
        for i, msg in enumerate(self.events):
            if match(msg):
                return self.events.pop(i)
        deadline = time.monotonic() + timeout_s
        while True:
            msg = self._read_message(deadline, what)
            if match(msg):
                return msg
            if msg.event is not None:
                self.events.append(msg)
                del self.events[:-MAX_PENDING_EVENTS]

    def _read_message(self, deadline: float, what: str) -> AmiMessage:
        while b"\r\n\r\n" not in self._buf:
            self._recv(deadline, what)
        block, self._buf = self._buf.split(b"\r\n\r\n", 1)
        headers = []
        for line in block.decode("utf-8", "replace").split("\r\n"):
            key, sep, value = line.partition(":")
            if sep:
                headers.append((key.strip(), value.strip()))
        return AmiMessage(tuple(headers))

    def _readline(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while b"\r\n" not in self._buf:
            self._recv(deadline, "banner")
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def _recv(self, deadline: float, what: str) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SandboxError(f"AMI: timed out waiting for {what}")
        self._sock.settimeout(remaining)
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError:
            raise SandboxError(f"AMI: timed out waiting for {what}") from None
        if not chunk:
            raise SandboxError(f"AMI: connection closed while waiting for {what}")
        self._buf += chunk
        if len(self._buf) > MAX_BUFFER_BYTES:
            raise SandboxError(f"AMI: over {MAX_BUFFER_BYTES} bytes without a complete message")

    def close(self) -> None:
        """Log off (best effort) and close the socket; idempotent."""
        try:
            self._sock.sendall(b"Action: Logoff\r\n\r\n")
        except OSError:
            pass
        self._sock.close()

    def __enter__(self) -> AmiSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

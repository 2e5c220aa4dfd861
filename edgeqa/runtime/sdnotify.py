"""systemd notification (sd_notify) over $NOTIFY_SOCKET with a plain datagram socket."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SdNotifier:
    """Sends READY=1, WATCHDOG=1, STOPPING=1 ...; does nothing when not run by systemd."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        self._address: str | bytes | None = None
        if address.startswith("@"):  # abstract namespace socket (Linux)
            self._address = b"\0" + address[1:].encode()
        elif address.startswith("/"):
            self._address = address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        interval: float | None = None
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            interval = int(usec) / 1e6 / 2  # sd_watchdog_enabled(3): ping at half the timeout
        self.watchdog_interval_s = interval

    @property
    def enabled(self) -> bool:
        """True when $NOTIFY_SOCKET names a socket."""
        return self._address is not None

    def notify(self, *states: str) -> bool:
        """Send ``states`` (e.g. "READY=1", "STATUS=..."); return False if not sent."""
        if self._address is None:
            return False
        payload = "\n".join(states).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall(payload)
        except OSError as exc:
            log.warning("sd_notify to %r failed: %s", self._address, exc)
            return False
        return True

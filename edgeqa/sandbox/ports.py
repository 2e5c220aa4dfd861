"""Port plan of one sandbox instance, derived from a single base port."""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass

from edgeqa.sandbox.errors import SandboxError

DEFAULT_PORT_BASE = 15000
PORT_BASE_ENV = "EDGEQA_SANDBOX_PORT_BASE"
#: Each instance owns [base, base + BLOCK_SIZE); phones use the part above Asterisk's RTP range.
BLOCK_SIZE = 1000
PHONE_SIP_OFFSET = 400
PHONE_RTP_OFFSET = 500
PHONE_RTP_PORTS_PER_PHONE = 10
MAX_PHONES = 40
LOOPBACK = "127.0.0.1"
#: A load sandbox (bench/bench_switch.py) has no test phones: Asterisk's RTP range takes their
#: part of the block, +100..+599. Asterisk binds one even port per RTP instance (RTCP on the odd
#: one, res_rtp_asterisk.c rtp_allocate_transport), so 500 ports are 250 instances: a call through
#: the queue takes 2 (customer, agent), a tapped call 2 more (the externalMedia channels), and 60
#: tapped calls take 240.
LOAD_RTP_END_OFFSET = 599
#: sipp's ports in a load sandbox: its SIP ports and media ports start here (up to +949).
LOAD_SIPP_OFFSET = 600
#: The daemon's FastAGI server (Asterisk connects to it: the dialplan's EDGEQA_AGI_PORT).
AGI_OFFSET = 980


@dataclass(frozen=True, slots=True)
class SandboxPorts:
    """Loopback ports of one instance: AMI, HTTP/ARI, SIP (UDP) and Asterisk's RTP range."""

    base: int
    ami: int
    http: int
    sip: int
    rtp_start: int
    rtp_end: int

    @classmethod
    def from_base(cls, base: int) -> SandboxPorts:
        """Return the plan for ``base``: ami=+38, http=+88, sip=+60, rtp=+100..+299."""
        if not 1024 <= base <= 65535 - BLOCK_SIZE:
            raise SandboxError(f"sandbox port base {base} out of range 1024..{65535 - BLOCK_SIZE}")
        return cls(base, base + 38, base + 88, base + 60, base + 100, base + 299)

    @classmethod
    def for_load(cls, base: int) -> SandboxPorts:
        """Return the plan of a sandbox driven by sipp instead of phones: rtp=+100..+599."""
        plain = cls.from_base(base)
        return cls(base, plain.ami, plain.http, plain.sip, plain.rtp_start,
                   base + LOAD_RTP_END_OFFSET)

    @property
    def agi(self) -> int:
        """The FastAGI port the sandbox's dialplan (global EDGEQA_AGI_PORT) sends AGI() to."""
        return self.base + AGI_OFFSET

    def load_sipp(self) -> int:
        """Return the first of sipp's ports in a load sandbox (it may use up to base + 949)."""
        return self.base + LOAD_SIPP_OFFSET

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SandboxPorts:
        """Return the plan for $EDGEQA_SANDBOX_PORT_BASE (default 15000)."""
        env = os.environ if environ is None else environ
        raw = env.get(PORT_BASE_ENV, "").strip()
        if not raw:
            return cls.from_base(DEFAULT_PORT_BASE)
        try:
            base = int(raw)
        except ValueError:
            raise SandboxError(f"{PORT_BASE_ENV}={raw!r} is not an integer") from None
        return cls.from_base(base)

    def phone_sip(self, index: int) -> int:
        """Return the SIP (UDP) port of test phone number ``index``."""
        return self.base + PHONE_SIP_OFFSET + _phone_index(index)

    def phone_rtp(self, index: int) -> int:
        """Return the first RTP port of test phone ``index`` (it may use the next 9)."""
        return self.base + PHONE_RTP_OFFSET + PHONE_RTP_PORTS_PER_PHONE * _phone_index(index)

    def listening(self) -> tuple[tuple[str, int], ...]:
        """Return the (protocol, port) pairs that Asterisk binds and that must be free."""
        return (("tcp", self.ami), ("tcp", self.http), ("udp", self.sip))


def _phone_index(index: int) -> int:
    if not 0 <= index < MAX_PHONES:
        raise SandboxError(f"phone index {index} out of range 0..{MAX_PHONES - 1}")
    return index


def check_free(ports: SandboxPorts, host: str = LOOPBACK) -> None:
    """Raise SandboxError naming the first of Asterisk's ports already bound on ``host``."""
    for proto, port in ports.listening():
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as sock:
            if proto == "tcp":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise SandboxError(
                        f"port {port}/{proto} on {host} is in use "
                        f"(sandbox port base {ports.base}; set {PORT_BASE_ENV})"
                    ) from None
                raise SandboxError(f"cannot bind {host}:{port}/{proto}: {exc.strerror}") from None

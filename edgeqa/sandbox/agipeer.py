"""A hand-written FAKE Asterisk for FastAGI tests and benches (not Asterisk).

It connects to a FastAGI server the way res/res_agi.c launch_netscript + setup_env do (the
``agi_network`` lines, then the environment, then a blank line), reads the server's commands one
line at a time and answers what the test tells it to. Faults are the test's to make: raw bytes,
half-closing, stalling, ``HANGUP`` at any moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

#: How long a read from the server may take before the fake gives up (a hung server).
READ_TIMEOUT_S = 5.0


def env_bytes(script: str = "echo", args: Sequence[str] = (), *,
              channel: str = "PJSIP/supervisor1-00000001", uniqueid: str = "1700000000.1",
              extra: Mapping[str, str] | None = None) -> bytes:
    """The environment Asterisk 22 sends for AGI(agi://127.0.0.1:PORT/<script>,<args>)."""
    lines = ["agi_network: yes"]
    if script:
        lines.append(f"agi_network_script: {script}")
    fields = {
        "agi_request": f"agi://127.0.0.1:4573/{script}", "agi_channel": channel,
        "agi_language": "en", "agi_type": "PJSIP", "agi_uniqueid": uniqueid,
        "agi_version": "22.10.1", "agi_callerid": "121", "agi_calleridname": "supervisor1",
        "agi_callingpres": "0", "agi_callingani2": "0", "agi_callington": "0",
        "agi_callingtns": "0", "agi_dnid": "*2221", "agi_rdnis": "unknown",
        "agi_context": "edgeqa-spy", "agi_extension": "*2221", "agi_priority": "1",
        "agi_enhanced": "0.0", "agi_accountcode": "", "agi_threadid": "140000000000",
        **(extra or {}),
    }
    lines += [f"{k}: {v}" for k, v in fields.items()]
    lines += [f"agi_arg_{n}: {a}" for n, a in enumerate(args, 1)]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


class FakeAsteriskAgi:
    """One fake AGI() call: ``async with FakeAsteriskAgi(port) as peer: ...``."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> FakeAsteriskAgi:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def send(self, data: bytes) -> None:
        """Raw bytes to the server."""
        assert self._writer is not None
        self._writer.write(data)
        await self._writer.drain()

    async def send_env(self, script: str = "echo", args: Sequence[str] = (), *,
                       channel: str = "PJSIP/supervisor1-00000001") -> None:
        await self.send(env_bytes(script, args, channel=channel))

    async def command(self, timeout_s: float = READ_TIMEOUT_S) -> str | None:
        """The server's next command line (without the newline); None at end of stream."""
        assert self._reader is not None
        line = await asyncio.wait_for(self._reader.readline(), timeout_s)
        if not line.endswith(b"\n"):
            return None
        return line[:-1].decode("utf-8", "replace")

    async def reply(self, line: str) -> None:
        """One response line (``200 result=1 (x)``, ``HANGUP``, ...)."""
        await self.send(line.encode("utf-8") + b"\n")

    async def rest(self, timeout_s: float = READ_TIMEOUT_S) -> bytes:
        """Everything the server sends until it closes."""
        assert self._reader is not None
        return await asyncio.wait_for(self._reader.read(), timeout_s)

    def half_close(self) -> None:
        """Shut our sending side (the server reads end of stream; we can still read)."""
        assert self._writer is not None
        self._writer.write_eof()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            self._writer = None

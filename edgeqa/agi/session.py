"""One FastAGI session over an asyncio stream: the commands a handler runs on its channel."""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Awaitable, Callable

from edgeqa.agi.codec import (
    AgiArgumentError,
    AgiCommandError,
    AgiError,
    AgiHangup,
    AgiLimits,
    AgiParser,
    AgiProtocolError,
    AgiReply,
    AgiRequest,
    AgiResult,
    HangupNotice,
    encode_command,
    exec_data,
    to_result,
)

#: Bytes read from the socket at a time.
READ_CHUNK_BYTES = 65536
_DIGITS = re.compile(r"[0-9*#]*")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,79}(?:\([^\x00-\x1f\x7f]{0,200}\))?")


class AgiTimeout(AgiError):
    """No response within the command timeout (the session is closed)."""


class AgiSession:
    """The channel's side of one AGI() call. Commands run one at a time; after AgiHangup,
    a timeout or a protocol error every further command raises at once."""

    def __init__(self, request: AgiRequest, parser: AgiParser, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, limits: AgiLimits,
                 early: list[AgiReply | HangupNotice] | None = None) -> None:
        self.request = request
        self.limits = limits
        self._parser = parser
        self._reader = reader
        self._writer = writer
        self._events: deque[AgiReply | HangupNotice] = deque(early or ())
        self._lock = asyncio.Lock()
        self.hung_up = False
        self._broken: AgiError | None = None

    # --- the generic command -----------------------------------------------------------

    async def command(self, *words: str, timeout_s: float | None = -1.0) -> AgiResult:
        """Send one command (each word validated and quoted); return its 200 result.

        ``timeout_s``: -1 (default) is the session's command timeout; None waits until the
        channel answers or hangs up (STREAM FILE, GET DATA, EXEC). Raise AgiHangup,
        AgiCommandError (510, 520), AgiTimeout or AgiProtocolError."""
        return to_result(await self._exchange(words, timeout_s))

    async def _exchange(self, words: tuple[str, ...], timeout_s: float | None) -> AgiReply:
        line = encode_command(*words)  # AgiArgumentError before anything is sent
        async with self._lock:
            self._check_open()
            if timeout_s is not None and timeout_s < 0:
                timeout_s = self.limits.command_timeout_s
            try:
                self._writer.write(line)
                await self._writer.drain()
                async with asyncio.timeout(timeout_s):
                    reply = await self._next_reply()
            except TimeoutError:
                self._broken = AgiTimeout(f"no response to {words[0]} in {timeout_s} s")
                raise self._broken from None
            except (ConnectionError, OSError) as exc:
                self._broken = AgiHangup(f"connection lost during {words[0]}: {exc}")
                raise self._broken from None
            except AgiProtocolError as exc:
                self._broken = exc
                raise
        if reply.code == 511:
            self.hung_up = True
            raise AgiHangup(f"{words[0]}: {reply.message}")
        if reply.code in (510, 520):
            raise AgiCommandError(f"{words[0]}: {reply.code} {reply.message}", reply.code,
                                  reply.usage)
        return reply

    async def _next_reply(self) -> AgiReply:
        while True:
            while self._events:
                event = self._events.popleft()
                if isinstance(event, HangupNotice):
                    self.hung_up = True
                    raise AgiHangup("the channel hung up")
                return event
            data = await self._reader.read(READ_CHUNK_BYTES)
            if not data:
                self.hung_up = True
                raise AgiHangup("Asterisk closed the connection")
            for item in self._parser.feed(data):
                if isinstance(item, AgiRequest):  # pragma: no cover - parser sends it once
                    raise AgiProtocolError("a second environment")
                self._events.append(item)

    def _check_open(self) -> None:
        if self._broken is not None:
            raise self._broken
        if self.hung_up:
            raise AgiHangup("the channel hung up")

    async def _failed(self, what: str) -> AgiCommandError:
        """After a result of -1 (a hang-up or a failure: Asterisk does not say which), a NOOP
        tells them apart: Asterisk sends HANGUP before it reads the NOOP of a dead channel."""
        await self.command("NOOP")
        return AgiCommandError(f"{what} failed (result=-1)", 200)

    # --- the commands handlers use -------------------------------------------------------

    async def get_variable(self, name: str) -> str | None:
        """A channel variable or dialplan function (``CHANNEL(name)``); None if unset."""
        _check_variable(name)
        reply = await self.command("GET VARIABLE", name)
        return reply.data if reply.result == 1 else None

    async def set_variable(self, name: str, value: str) -> None:
        """Set a channel variable (``value`` validated: no control characters)."""
        _check_variable(name)
        await self.command("SET VARIABLE", name, value)

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> str:
        """Play ``prompt`` and collect up to ``max_digits`` DTMF digits (``0-9*#``); "" if
        none before the timeout."""
        if not 0 < timeout_ms <= 600_000 or not 0 < max_digits <= 1024:
            raise AgiArgumentError(f"GET DATA timeout_ms 1..600000 and max_digits 1..1024, "
                                   f"got {timeout_ms}, {max_digits}")
        reply = await self._exchange(("GET DATA", prompt, str(timeout_ms), str(max_digits)),
                                     None)
        if reply.result == "-1":
            raise await self._failed("GET DATA")
        if not _DIGITS.fullmatch(reply.result):
            raise AgiProtocolError(f"GET DATA answered {reply.result[:40]!r}, not digits")
        return reply.result

    async def stream_file(self, name: str, escape_digits: str = "") -> None:
        """Play a sound file (no extension) to the end, or until an escape digit."""
        if not _DIGITS.fullmatch(escape_digits):
            raise AgiArgumentError(f"escape digits must be 0-9*#, got {escape_digits[:20]!r}")
        reply = await self._exchange(("STREAM FILE", name, escape_digits), None)
        if reply.result == "-1":
            raise await self._failed(f"STREAM FILE {name}")

    async def exec(self, app: str, *args: str) -> int:
        """Run a dialplan application on the channel; return its result (-1 typically means
        the channel hung up during it). Raise AgiCommandError if there is no such app."""
        name, data = exec_data(app, args)
        words = ("EXEC", name, data) if args else ("EXEC", name)
        result = (await self.command(*words, timeout_s=None)).result
        if result == -2:
            raise AgiCommandError(f"EXEC: no application {name}", 200)
        return result

    async def hangup(self) -> None:
        """Hang the channel up (nothing if it already has)."""
        if self.hung_up:
            return
        await self.command("HANGUP")
        self.hung_up = True


def _check_variable(name: str) -> None:
    if not _VARIABLE.fullmatch(name):
        raise AgiArgumentError(f"not a variable name: {name[:40]!r}")


AgiHandler = Callable[[AgiSession], Awaitable[None]]

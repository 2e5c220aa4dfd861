"""Sans-I/O AMI framing: bytes in, AmiMessage out; actions out as bytes. No sockets, no clock.

Decisions, checked against Asterisk 22 (main/manager.c):
- The stream starts with one banner line ``Asterisk Call Manager/x.y.z``; anything else is an
  AmiProtocolError. A message is CRLF-separated ``Name: Value`` lines ending with an empty line.
- Values keep their exact text: one space after the colon is the separator, the rest is value;
  empty values are kept. Bytes are decoded as UTF-8 with ``surrogateescape``, so invalid UTF-8 is
  carried losslessly (``value.encode("utf-8", "surrogateescape")`` gives the wire bytes back).
- A line without a colon is tolerated and kept as a header with the name ``""`` (lossless), and
  counted in ``colonless_lines``; Asterisk 22 does not send such lines.
- ``Response: Follows`` (Command output before Asterisk 14) runs to ``--END COMMAND--``; its
  output lines become ``Output`` headers, the form Asterisk 22 itself uses for Command output.
- A message over ``max_buffer_bytes`` or over MAX_MESSAGE_HEADERS lines is not parsed: it
  comes out as an AmiMessageRejected (with its ActionID, read from its first
  ``max_buffer_bytes``, so its action fails at once) and the connection goes on, since the
  framing is intact. Past ``max_buffer_bytes`` the rest of such a message is skipped, not held
  (parsed, 1 MiB of tiny headers was ~21 MB of objects); one that runs past
  MAX_SKIPPED_MESSAGE_BYTES is no AMI message: AmiProtocolError.
- The banner is bounded by MAX_BANNER_BYTES. After an AmiProtocolError the codec stays failed.
- Each byte is searched for a terminator once, however the stream is cut (``_scan``): feeding
  a message or the banner byte by byte costs linear time, not quadratic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from edgeqa.ami.actions import MAX_ACTION_HEADERS, MAX_ACTION_LINE_BYTES, check_name, check_value
from edgeqa.ami.errors import AmiInjectionError, AmiMessageRejected, AmiProtocolError
from edgeqa.ami.message import AmiMessage

__all__ = [
    "MAX_BANNER_BYTES",
    "MAX_BUFFER_BYTES",
    "MAX_MESSAGE_HEADERS",
    "MAX_SKIPPED_MESSAGE_BYTES",
    "AmiCodec",
    "AmiMessageRejected",
    "AmiProtocolError",
    "encode_action",
]

#: Largest banner or message, in bytes, held before it is complete (Asterisk's biggest
#: events, e.g. a long Command output, stay well below this).
MAX_BUFFER_BYTES = 1024 * 1024
#: Longest banner line, CRLF excluded: ``Asterisk Call Manager/x.y.z`` is ~30 bytes.
MAX_BANNER_BYTES = 256
#: Header lines of one message (Command output lines included). Asterisk's events carry tens;
#: a CoreShowChannel item ~30; edgeqa sends no Command whose output could come near this.
MAX_MESSAGE_HEADERS = 1024
#: Longest message skipped to its end after it passed ``max_buffer_bytes``; past this the
#: peer is not speaking AMI and the connection is dropped.
MAX_SKIPPED_MESSAGE_BYTES = 16 * 1024 * 1024
BANNER_PREFIX = b"Asterisk Call Manager/"
_CRLF = b"\r\n"
_END = b"\r\n\r\n"
_FOLLOWS = b"Response: Follows\r\n"
_FOLLOWS_END = b"--END COMMAND--\r\n\r\n"
_ACTION_ID = re.compile(rb"(?:^|\r\n)ActionID: ?([^\r\n]*)", re.IGNORECASE)


class AmiCodec:
    """Incremental decoder of one AMI connection (Asterisk -> client)."""

    def __init__(self, *, max_buffer_bytes: int = MAX_BUFFER_BYTES) -> None:
        if max_buffer_bytes < len(BANNER_PREFIX) + len(_CRLF):
            raise ValueError(f"max_buffer_bytes={max_buffer_bytes} is too small")
        self.banner: str | None = None
        self.colonless_lines = 0
        self._max = max_buffer_bytes
        self._max_banner = min(MAX_BANNER_BYTES, max_buffer_bytes)
        self._buf = bytearray()
        self._scan = 0  # bytes of _buf already searched for a terminator
        # While skipping a message over the cap: its terminator, ActionID and bytes dropped.
        self._skip_term: bytes | None = None
        self._skip_id: str | None = None
        self._skipped = 0
        self._error: AmiProtocolError | None = None

    @property
    def pending_bytes(self) -> bytes:
        """The incomplete tail carried to the next feed()."""
        return bytes(self._buf)

    def feed(self, data: bytes) -> list[AmiMessage | AmiMessageRejected]:
        """Return the messages ``data`` completes (banner excluded), in wire order, with an
        AmiMessageRejected in place of each one over MAX_MESSAGE_HEADERS; raise
        AmiProtocolError when the stream itself is broken."""
        if self._error is not None:
            raise AmiProtocolError(f"codec already failed: {self._error}")
        try:
            return self._feed(data)
        except AmiProtocolError as exc:
            self._error = exc
            self._buf.clear()
            raise

    def _feed(self, data: bytes) -> list[AmiMessage | AmiMessageRejected]:
        self._buf += data
        out: list[AmiMessage | AmiMessageRejected] = []
        if self.banner is None and not self._take_banner():
            return out
        buf = self._buf
        if self._skip_term is not None and not self._skip(out):
            return out
        start = 0
        while True:
            while buf.startswith(_CRLF, start):  # blank lines between messages carry nothing
                start += 2
            follows = buf.startswith(_FOLLOWS, start)
            term = _FOLLOWS_END if follows else _END
            at = buf.find(term, max(start, self._scan - len(term) + 1))
            if at < 0:
                if len(buf) - start <= self._max:
                    break
                # Over the cap with no end yet: drop what is held, skip to the terminator.
                self._skip_term, self._skip_id = term, self._action_id(buf, start)
                self._skipped = 0
                del buf[:start]
                if not self._skip(out):
                    return out
                start = 0
                continue
            end = at + len(term)
            if end - start > self._max:
                out.append(self._too_big(end - start, self._action_id(buf, start)))
            else:
                out.append(self._message(bytes(buf[start:at]), follows))
            start = end
            self._scan = start
        del buf[:start]
        self._scan = max(0, len(buf))
        return out

    def _skip(self, out: list[AmiMessage | AmiMessageRejected]) -> bool:
        """Drop bytes up to the skipped message's end; True once it is found (the rest of the
        buffer is then the next message), False if the buffer is used up."""
        buf, term = self._buf, self._skip_term
        assert term is not None
        at = buf.find(term, max(0, self._scan - len(term) + 1))
        if at < 0:
            keep = len(term) - 1  # the terminator may start in these bytes
            if len(buf) > keep:
                self._skipped += len(buf) - keep
                del buf[: len(buf) - keep]
            self._scan = len(buf)
            if self._skipped > MAX_SKIPPED_MESSAGE_BYTES:
                raise AmiProtocolError(
                    f"AMI message exceeds {MAX_SKIPPED_MESSAGE_BYTES} bytes "
                    "(MAX_SKIPPED_MESSAGE_BYTES) with no end: not AMI"
                )
            return False
        end = at + len(term)
        out.append(self._too_big(self._skipped + end, self._skip_id))
        del buf[:end]
        self._skip_term, self._skip_id, self._skipped, self._scan = None, None, 0, 0
        return True

    def _too_big(self, size: int, action_id: str | None) -> AmiMessageRejected:
        return AmiMessageRejected(
            f"AMI message of {size} bytes exceeds {self._max}: dropped, the connection goes on",
            action_id=action_id,
        )

    def _action_id(self, data: bytes | bytearray, start: int) -> str | None:
        """The ActionID in a message's first ``max_buffer_bytes`` (all a skipped one keeps)."""
        # A view, not a copy; it and the match die on return, before the buffer is resized.
        found = _ACTION_ID.search(memoryview(data)[start : start + self._max])
        return found.group(1).decode("utf-8", "surrogateescape") if found else None

    def _take_banner(self) -> bool:
        buf = self._buf
        head = bytes(buf[: len(BANNER_PREFIX)])
        if not BANNER_PREFIX.startswith(head):
            raise AmiProtocolError(f"not an AMI banner: {head!r}")
        at = buf.find(_CRLF, max(0, self._scan - 1))
        if at < 0:
            self._scan = len(buf)
            if len(buf) > self._max_banner + 1:  # + 1: the CR may be here, its LF not yet
                raise AmiProtocolError(f"AMI banner exceeds {self._max_banner} bytes")
            return False
        if at > self._max_banner:
            raise AmiProtocolError(f"AMI banner exceeds {self._max_banner} bytes")
        if at < len(BANNER_PREFIX):
            raise AmiProtocolError(f"not an AMI banner: {bytes(buf[:at])!r}")
        self.banner = bytes(buf[:at]).decode("utf-8", "surrogateescape")
        del buf[: at + 2]
        self._scan = 0
        return True

    def _message(self, block: bytes, follows: bool) -> AmiMessage | AmiMessageRejected:
        # Counted in C before any object is made; a Follows output may end lines in a bare LF.
        lines = (block.count(b"\n") if follows else block.count(_CRLF)) + 1
        if lines > MAX_MESSAGE_HEADERS:
            return AmiMessageRejected(
                f"AMI message of {lines} header lines exceeds {MAX_MESSAGE_HEADERS} "
                f"(MAX_MESSAGE_HEADERS): dropped, the connection goes on",
                action_id=self._action_id(block, 0),
            )
        return self._parse_follows(block) if follows else self._parse(block)

    def _parse(self, block: bytes) -> AmiMessage:
        return AmiMessage(tuple(self._header(line) for line in block.split(_CRLF)))

    def _header(self, line: bytes) -> tuple[str, str]:
        text = line.decode("utf-8", "surrogateescape")
        name, sep, value = text.partition(":")
        if not sep:
            self.colonless_lines += 1
            return ("", text)
        return (name, value[1:] if value.startswith(" ") else value)

    def _parse_follows(self, block: bytes) -> AmiMessage:
        # Header lines come first; the first line that is not "Name: value" starts the raw
        # output, whose lines may end in a bare LF (old manager.c wrote ast_cli output as is).
        lines = block.replace(_CRLF, b"\n").split(b"\n")
        headers: list[tuple[str, str]] = []
        index = 0
        while index < len(lines) and _looks_like_header(lines[index]):
            headers.append(self._header(lines[index]))
            index += 1
        output = lines[index:]
        if output and output[-1] == b"":
            output.pop()
        headers.extend(("Output", line.decode("utf-8", "surrogateescape")) for line in output)
        return AmiMessage(tuple(headers))


def _looks_like_header(line: bytes) -> bool:
    name, sep, _ = line.partition(b": ")
    return bool(sep) and bool(name) and all(33 <= c <= 126 and c != 58 for c in name)


def encode_action(action: str, headers: Sequence[tuple[str, str]], action_id: str) -> bytes:
    """Return the wire bytes of one action; raise AmiInjectionError on a control character,
    a surrogate or an over-long line."""
    check_name(action)
    check_value("ActionID", action_id)
    pairs = [("Action", action), ("ActionID", action_id)]
    for name, value in headers:
        check_name(name)
        if name.lower() in ("action", "actionid"):
            raise AmiInjectionError(f"AMI header {name} is set by the client, not by the caller")
        pairs.append((name, check_value(name, value)))
    if len(pairs) > MAX_ACTION_HEADERS:
        raise AmiInjectionError(f"{len(pairs)} AMI headers exceed Asterisk's {MAX_ACTION_HEADERS}")
    out = bytearray()
    for name, value in pairs:
        line = f"{name}: {value}\r\n".encode()  # check_value let no surrogate through
        if len(line) > MAX_ACTION_LINE_BYTES:
            raise AmiInjectionError(
                f"AMI header {name} line of {len(line)} bytes exceeds {MAX_ACTION_LINE_BYTES}: "
                "Asterisk would split it"
            )
        out += line
    out += _CRLF
    return bytes(out)

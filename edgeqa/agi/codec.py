"""Sans-I/O FastAGI codec: the request environment, command encoding, and responses.

Asterisk (res/res_agi.c) connects, sends ``agi_network: yes``, ``agi_network_script: PATH``
(when the URL has a path), then ``agi_request`` ... ``agi_arg_N`` lines and a blank line. It then
reads one command per line (``fgets`` into an 8192-byte buffer; ``parse_args`` splits words on
spaces and tabs, ``"`` toggles quoting, ``\\`` makes the next character literal; at most 127
words) and answers each with one of:

- ``200 result=N [(data)] [endpos=N]``
- ``510 Invalid or unknown command``
- ``511 Command Not Permitted on a dead channel or intercept routine``
- ``520 Invalid command syntax.  Proper usage not available.``, or ``520-...`` lines of usage
  ending with ``520 End of proper usage.``

and, when the channel hangs up and AGISIGHUP is not ``no``, a ``HANGUP`` line on its own (between
two responses). A command line starting with ``failure`` makes the AGI() end with
AGISTATUS=FAILURE: that is how the server refuses a session.

Bytes in, events out: no sockets, no clocks. Every limit is named.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

#: Asterisk's AGI_BUF_LEN: a command line (with its newline) longer than this is cut by fgets.
ASTERISK_COMMAND_BYTES = 8191
#: Asterisk's MAX_ARGS - 1: words beyond this are dropped ("Too many arguments, truncating").
ASTERISK_MAX_WORDS = 127
#: What the server sends to end the AGI() with AGISTATUS=FAILURE.
FAILURE_LINE = b"FAILURE\n"
#: The notice Asterisk sends when the channel hangs up.
HANGUP_LINE = "HANGUP"

_ENV_KEY = re.compile(r"agi_[a-z0-9_]{1,64}")
_ARG_KEY = re.compile(r"agi_arg_([1-9][0-9]{0,3})")
#: C0 controls (tab excepted) and DEL: never part of a value we keep or a word we send.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_WORD_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_REPLY = re.compile(r"200 result=(\S*)(?: \((.*)\))?(?: endpos=(-?[0-9]+))?")
_ROUTE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_APP = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
#: Characters an EXEC argument never holds: ``,`` and ``|`` separate arguments, ``"`` and ``\``
#: are removed by ast_app_separate_args, ``$`` ``{`` ``}`` substitute under AGIEXECFULL.
_EXEC_FORBIDDEN = frozenset(',|"\\${}')


class AgiError(Exception):
    """Base of every AGI error (a session ends on any of them)."""


class AgiProtocolError(AgiError):
    """The peer broke the protocol or a named limit (the session is closed)."""


class AgiHangup(AgiError):
    """The channel hung up (a HANGUP notice, or 511 on a dead channel)."""


class AgiCommandError(AgiError):
    """Asterisk rejected a command: 510 (unknown), 520 (usage), or a failed result."""

    def __init__(self, message: str, code: int, usage: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.usage = usage


class AgiArgumentError(AgiError, ValueError):
    """A word or an EXEC argument the codec refuses to send (named, never cleaned)."""


@dataclass(frozen=True, slots=True)
class AgiLimits:
    """Named bounds of one session (codec) and of the server."""

    #: Longest line accepted from Asterisk, newline included (env values, GET VARIABLE data).
    max_line_bytes: int = 8192
    #: Most environment lines before the blank line (about 25 fixed + up to 127 arguments).
    max_env_lines: int = 256
    #: Most ``520-`` usage lines in one response.
    max_usage_lines: int = 64
    #: Most sessions at once; one more is refused with FAILURE.
    max_sessions: int = 256
    #: Time for the whole environment to arrive after the connection.
    env_timeout_s: float = 5.0
    #: Time for the response of a short command (GET/SET VARIABLE, ANSWER, NOOP ...).
    command_timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class AgiRequest:
    """One AGI request: its validated environment and what the server routes on."""

    env: Mapping[str, str]
    #: The path part of agi_network_script, e.g. ``spy-session/abc`` ("" if none).
    script: str
    #: agi_arg_1 .. agi_arg_N.
    args: tuple[str, ...]
    channel: str
    uniqueid: str

    @property
    def route(self) -> str:
        """The first path segment of the script (``spy`` in ``spy/x?y=1``), or "" if none or
        not a plain name."""
        return route_of(self.script)


class AgiResult(NamedTuple):
    """A ``200`` response: ``result`` as an integer, ``data`` the text in parentheses."""

    code: int
    result: int
    data: str


@dataclass(frozen=True, slots=True)
class AgiReply:
    """One response as read: ``result`` is the raw text after ``result=`` (GET DATA digits)."""

    code: int
    result: str = ""
    data: str = ""
    endpos: int | None = None
    usage: tuple[str, ...] = ()
    message: str = ""


@dataclass(frozen=True, slots=True)
class HangupNotice:
    """The ``HANGUP`` line."""


def route_of(script: str) -> str:
    """The route name of ``script``, or "" if it is not a plain name."""
    head = script.split("?", 1)[0].split("/", 1)[0]
    return head if _ROUTE.fullmatch(head) else ""


def quote_word(word: str) -> str:
    """``word`` as one argument of Asterisk's parse_args: in double quotes, ``"`` and ``\\``
    escaped. Raise AgiArgumentError on a control character (CR, LF, NUL, ...)."""
    if not isinstance(word, str):
        raise AgiArgumentError(f"an AGI word must be a str, got {type(word).__name__}")
    bad = _WORD_CONTROL.search(word)
    if bad:
        raise AgiArgumentError(f"an AGI word holds control character {bad.group(0)!r}: "
                               f"{word[:40]!r}")
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_command(*words: str) -> bytes:
    """One command line: the first word bare (a command name), the others quoted."""
    if not words:
        raise AgiArgumentError("an AGI command needs at least one word")
    if len(words) > ASTERISK_MAX_WORDS:
        raise AgiArgumentError(f"an AGI command has at most {ASTERISK_MAX_WORDS} words, "
                               f"got {len(words)}")
    name = words[0]
    if not re.fullmatch(r"[A-Za-z][A-Za-z ]{0,63}", name):
        raise AgiArgumentError(f"not an AGI command name: {name[:40]!r}")
    line = (" ".join([name, *(quote_word(w) for w in words[1:])]) + "\n").encode("utf-8")
    if len(line) > ASTERISK_COMMAND_BYTES:
        raise AgiArgumentError(f"AGI command line of {len(line)} bytes is over Asterisk's "
                               f"{ASTERISK_COMMAND_BYTES}")
    return line


def exec_data(app: str, args: tuple[str, ...]) -> tuple[str, str]:
    """Validate an EXEC application name and its arguments; return (app, joined arguments).

    An argument holds none of ``, | " \\ $ { }`` nor a control character, and its ``()`` and
    ``[]`` balance (else Asterisk's argument splitter would swallow the separators after it).
    """
    if not _APP.fullmatch(app):
        raise AgiArgumentError(f"not a dialplan application name: {app[:40]!r}")
    for arg in args:
        if not isinstance(arg, str):
            raise AgiArgumentError(f"an EXEC argument must be a str, got {type(arg).__name__}")
        bad = _WORD_CONTROL.search(arg) or next(
            (c for c in arg if c in _EXEC_FORBIDDEN), None)
        if bad:
            char = bad if isinstance(bad, str) else bad.group(0)
            raise AgiArgumentError(f"EXEC {app} argument {arg[:40]!r} holds {char!r}")
        if not _balanced(arg):
            raise AgiArgumentError(f"EXEC {app} argument {arg[:40]!r}: unbalanced () or []")
    return app, ",".join(args)


def _balanced(text: str) -> bool:
    stack: list[str] = []
    for c in text:
        if c in "([":
            stack.append(")" if c == "(" else "]")
        elif c in ")]":
            if not stack or stack.pop() != c:
                return False
    return not stack


@dataclass(slots=True)
class AgiParser:
    """Feed bytes from Asterisk; get the AgiRequest once, then AgiReply and HangupNotice events.

    Raise AgiProtocolError on anything outside the protocol or a limit: an over-long line, too
    many environment lines, a malformed environment line, a line that is not a response.
    Values that are not UTF-8 keep their text with U+FFFD (a caller name must not fail a
    call's routing); control characters in values become U+FFFD too.
    """

    limits: AgiLimits = field(default_factory=AgiLimits)
    request: AgiRequest | None = None
    _buf: bytearray = field(default_factory=bytearray)
    _env: dict[str, str] = field(default_factory=dict)
    _env_lines: int = 0
    _usage: list[str] | None = None

    def feed(self, data: bytes) -> list[AgiRequest | AgiReply | HangupNotice]:
        """Consume ``data``; return the complete events it finished, in order."""
        self._buf += data
        out: list[AgiRequest | AgiReply | HangupNotice] = []
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                if len(self._buf) >= self.limits.max_line_bytes:
                    raise AgiProtocolError(f"a line from Asterisk is over "
                                           f"{self.limits.max_line_bytes} bytes")
                return out
            if end + 1 > self.limits.max_line_bytes:
                raise AgiProtocolError(f"a line from Asterisk is over "
                                       f"{self.limits.max_line_bytes} bytes")
            raw = bytes(self._buf[:end])
            del self._buf[:end + 1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            event = self._line(raw)
            if event is not None:
                out.append(event)

    @property
    def pending(self) -> int:
        """Bytes held of a line not yet complete."""
        return len(self._buf)

    def _line(self, raw: bytes) -> AgiRequest | AgiReply | HangupNotice | None:
        if self.request is None:
            return self._env_line(raw)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            line = raw.decode("utf-8", "replace")
        if self._usage is not None:
            return self._usage_line(line)
        if line == HANGUP_LINE:
            return HangupNotice()
        if line.startswith("200 "):
            m = _REPLY.fullmatch(line)
            if m is None:
                raise AgiProtocolError(f"malformed 200 response {_shown(line)}")
            return AgiReply(200, m.group(1), _clean(m.group(2) or ""),
                            int(m.group(3)) if m.group(3) else None)
        if line.startswith(("510 ", "511 ")):
            return AgiReply(int(line[:3]), message=line[4:])
        if line.startswith("520 "):
            return AgiReply(520, message=line[4:])
        if line.startswith("520-"):
            self._usage = [line[4:]]
            return None
        raise AgiProtocolError(f"not an AGI response: {_shown(line)}")

    def _usage_line(self, line: str) -> AgiReply | None:
        assert self._usage is not None
        if line.startswith("520 "):
            usage, self._usage = tuple(self._usage), None
            return AgiReply(520, message=usage[0], usage=usage[1:])
        if len(self._usage) >= self.limits.max_usage_lines:
            raise AgiProtocolError(f"more than {self.limits.max_usage_lines} usage lines")
        self._usage.append(_clean(line))
        return None

    def _env_line(self, raw: bytes) -> AgiRequest | None:
        if not raw:
            return self._finish_env()
        self._env_lines += 1
        if self._env_lines > self.limits.max_env_lines:
            raise AgiProtocolError(f"more than {self.limits.max_env_lines} environment lines")
        key_raw, sep, value_raw = raw.partition(b": ")
        if not sep:
            key_raw, sep, value_raw = raw.partition(b":")
        try:
            key = key_raw.decode("ascii")
        except UnicodeDecodeError:
            key = ""
        if not sep or not _ENV_KEY.fullmatch(key):
            raise AgiProtocolError(f"malformed environment line {_shown(raw)}")
        if key in self._env:
            raise AgiProtocolError(f"environment key {key} sent twice")
        self._env[key] = _clean(value_raw.decode("utf-8", "replace"))
        return None

    def _finish_env(self) -> AgiRequest:
        env = self._env
        if not env:
            raise AgiProtocolError("empty environment (a blank line first)")
        for key in ("agi_channel", "agi_uniqueid"):
            if not env.get(key):
                raise AgiProtocolError(f"environment has no {key}")
        numbers = sorted(int(m.group(1)) for k in env if (m := _ARG_KEY.fullmatch(k)))
        if numbers != list(range(1, len(numbers) + 1)):
            raise AgiProtocolError("agi_arg_N are not numbered 1..N")
        script = env.get("agi_network_script", "")
        self.request = AgiRequest(env=dict(env), script=script,
                                  args=tuple(env[f"agi_arg_{n}"] for n in numbers),
                                  channel=env["agi_channel"], uniqueid=env["agi_uniqueid"])
        return self.request


def to_result(reply: AgiReply) -> AgiResult:
    """A 200 reply as an AgiResult (``result`` must be an integer)."""
    try:
        value = int(reply.result)
    except ValueError:
        raise AgiProtocolError(f"result={reply.result!r} is not an integer") from None
    return AgiResult(reply.code, value, reply.data)


def _clean(text: str) -> str:
    return _CONTROL.sub("\ufffd", text)


def _shown(line: str | bytes) -> str:
    return repr(line[:60]) + ("..." if len(line) > 60 else "")

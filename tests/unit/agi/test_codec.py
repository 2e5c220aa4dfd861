"""The sans-I/O AGI codec: words quoted as Asterisk's parse_args reads them, responses parsed,
the environment validated within named limits."""

from __future__ import annotations

import pytest

from edgeqa.agi.codec import (
    ASTERISK_COMMAND_BYTES,
    AgiArgumentError,
    AgiLimits,
    AgiParser,
    AgiProtocolError,
    AgiReply,
    AgiRequest,
    HangupNotice,
    encode_command,
    exec_data,
    quote_word,
    route_of,
    to_result,
)
from edgeqa.sandbox.agipeer import env_bytes


def parse_args(line: str) -> list[str]:
    """res/res_agi.c parse_args, line for line (the reference the quoting is checked against)."""
    argv: list[str] = []
    cur: list[str] | None = None
    quoted = escaped = False
    whitespace = True
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                cur = []
                argv.append("")
                whitespace = False
            escaped = False
            continue
        if ch in " \t" and not quoted and not escaped:
            whitespace = True
            if cur is not None:
                argv[-1] = "".join(cur)
            cur = None
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            cur = []
            argv.append("")
            whitespace = False
        assert cur is not None
        cur.append(ch)
        argv[-1] = "".join(cur)
        escaped = False
    return argv


@pytest.mark.parametrize("words", [
    ("GET VARIABLE", "CHANNEL(name)"),
    ("SET VARIABLE", "X", 'a "quoted" value'),
    ("SET VARIABLE", "X", "back\\slash\\"),
    ("SET VARIABLE", "X", ""),
    ("SET VARIABLE", "X", "  spaces  and more  "),
    ("EXEC", "MixMonitor", "/var/spool/x.wav,r(/var/spool/x-in.wav)"),
    ("SET VARIABLE", "X", "ünïcödé \\\"mix"),
])
def test_each_word_reaches_asterisk_as_sent(words: tuple[str, ...]) -> None:
    line = encode_command(*words).decode()
    assert line.endswith("\n") and line.count("\n") == 1
    assert parse_args(line[:-1]) == [*words[0].split(" "), *words[1:]]


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b", "\x1b[2J", "del\x7f", "tab\t"])
def test_a_word_with_a_control_character_is_refused(bad: str) -> None:
    with pytest.raises(AgiArgumentError, match="control character"):
        encode_command("SET VARIABLE", "X", bad)


def test_command_names_and_sizes_are_bounded() -> None:
    with pytest.raises(AgiArgumentError, match="command name"):
        encode_command('NOOP"; HANGUP')
    with pytest.raises(AgiArgumentError, match="at least one"):
        encode_command()
    with pytest.raises(AgiArgumentError, match="127 words"):
        encode_command("EXEC", *["x"] * 127)
    with pytest.raises(AgiArgumentError, match="over Asterisk"):
        encode_command("SET VARIABLE", "X", "y" * ASTERISK_COMMAND_BYTES)
    assert quote_word("") == '""'


@pytest.mark.parametrize("arg", ["a,b", "a|b", 'a"b', "a\\b", "${EVIL}", "r(x", "x)(", "[a",
                                 "a\nb"])
def test_exec_arguments_that_asterisk_would_split_or_substitute_are_refused(arg: str) -> None:
    with pytest.raises(AgiArgumentError):
        exec_data("ChanSpy", ("PJSIP/agent1-00000001", arg))


def test_exec_arguments_join_with_commas_and_app_names_are_checked() -> None:
    assert exec_data("ChanSpy", ("PJSIP/agent1-0000000a", "qEdw")) == (
        "ChanSpy", "PJSIP/agent1-0000000a,qEdw")
    assert exec_data("MixMonitor", ("/x/a.wav", "r(/x/b.wav)"))[1] == "/x/a.wav,r(/x/b.wav)"
    with pytest.raises(AgiArgumentError, match="application name"):
        exec_data("System(rm", ())


def _request(parser: AgiParser, data: bytes) -> AgiRequest:
    events = parser.feed(data)
    assert len(events) == 1 and isinstance(events[0], AgiRequest)
    return events[0]


def test_environment_gives_script_route_args_channel() -> None:
    parser = AgiParser()
    req = _request(parser, env_bytes("spy-session/abc?x=1", ["listen", "1"],
                                     channel="PJSIP/super1-0000000b", uniqueid="17.5"))
    assert (req.script, req.route, req.args) == ("spy-session/abc?x=1", "spy-session",
                                                 ("listen", "1"))
    assert (req.channel, req.uniqueid) == ("PJSIP/super1-0000000b", "17.5")
    assert req.env["agi_context"] == "edgeqa-spy"
    assert parser.request is req


def test_environment_split_anywhere_gives_the_same_request() -> None:
    data = env_bytes("spy", ["barge", "10"])
    whole = _request(AgiParser(), data)
    parser = AgiParser()
    got = [e for i in range(len(data)) for e in parser.feed(data[i:i + 1])]
    assert got == [whole]


def test_non_utf8_and_control_characters_in_values_are_replaced_not_fatal() -> None:
    data = env_bytes("route").replace(b"agi_calleridname: supervisor1",
                                      b"agi_calleridname: caf\xe9\x01")
    req = _request(AgiParser(), data)
    assert req.env["agi_calleridname"] == "caf\ufffd\ufffd"


@pytest.mark.parametrize(("data", "match"), [
    (b"\n", "empty environment"),
    (b"not a header\n\n", "malformed environment line"),
    (b"agi_channel: x\nAGI_X: y\n\n", "malformed"),
    (b"agi_channel: x\nagi_channel: y\n\n", "sent twice"),
    (b"agi_uniqueid: 1\n\n", "no agi_channel"),
    (b"agi_channel: x\nagi_uniqueid: 1\nagi_arg_2: b\n\n", "numbered"),
    (b"\xff\xfe: x\n\n", "malformed"),
])
def test_a_bad_environment_is_a_protocol_error(data: bytes, match: str) -> None:
    with pytest.raises(AgiProtocolError, match=match):
        AgiParser().feed(data)


def test_line_and_line_count_limits() -> None:
    limits = AgiLimits(max_line_bytes=1024, max_env_lines=32)
    with pytest.raises(AgiProtocolError, match="over 1024 bytes"):
        AgiParser(limits).feed(b"agi_channel: " + b"x" * 2000)  # no newline yet: still bounded
    with pytest.raises(AgiProtocolError, match="over 1024 bytes"):
        AgiParser(limits).feed(b"agi_channel: " + b"x" * 2000 + b"\n")
    with pytest.raises(AgiProtocolError, match="more than 32 environment lines"):
        AgiParser(limits).feed(b"".join(b"agi_x%d: y\n" % i for i in range(40)))


def _replies(data: bytes) -> list[AgiReply | HangupNotice]:
    parser = AgiParser()
    _request(parser, env_bytes())
    events = parser.feed(data)
    assert not any(isinstance(e, AgiRequest) for e in events)
    return events  # type: ignore[return-value]


def test_responses() -> None:
    got = _replies(b"200 result=1 (some (nested) value)\n200 result=0 endpos=12345\n"
                   b"200 result=-1\n200 result= (timeout)\n200 result=12#\n"
                   b"HANGUP\n200 result=0 (timeout) endpos=8000\n"
                   b"510 Invalid or unknown command\n"
                   b"511 Command Not Permitted on a dead channel or intercept routine\n"
                   b"520 Invalid command syntax.  Proper usage not available.\n"
                   b"520-Invalid command syntax.  Proper usage follows:\n"
                   b" Usage: GET DATA <file to be streamed> [timeout] [maxdigits]\n"
                   b"\n"
                   b"520 End of proper usage.\r\n")
    assert got == [
        AgiReply(200, "1", "some (nested) value"), AgiReply(200, "0", "", 12345),
        AgiReply(200, "-1"), AgiReply(200, "", "timeout"), AgiReply(200, "12#"),
        HangupNotice(), AgiReply(200, "0", "timeout", 8000),
        AgiReply(510, message="Invalid or unknown command"),
        AgiReply(511, message="Command Not Permitted on a dead channel or intercept routine"),
        AgiReply(520, message="Invalid command syntax.  Proper usage not available."),
        AgiReply(520, message="Invalid command syntax.  Proper usage follows:",
                 usage=(" Usage: GET DATA <file to be streamed> [timeout] [maxdigits]", "")),
    ]
    assert to_result(got[0]) == (200, 1, "some (nested) value")
    with pytest.raises(AgiProtocolError, match="not an integer"):
        to_result(got[4])


@pytest.mark.parametrize("line", [b"hello\n", b"200 result\n", b"200 result=1 (x) y\n",
                                  b"HANGUP now\n", b"agi_channel: x\n"])
def test_anything_else_is_a_protocol_error(line: bytes) -> None:
    with pytest.raises(AgiProtocolError):
        _replies(line)


def test_usage_lines_are_bounded() -> None:
    parser = AgiParser(AgiLimits(max_usage_lines=3))
    _request(parser, env_bytes())
    with pytest.raises(AgiProtocolError, match="more than 3 usage lines"):
        parser.feed(b"520-x\n" + b"usage\n" * 5)


def test_route_is_a_plain_first_segment() -> None:
    assert route_of("spy/1/2") == "spy"
    assert route_of("route?queue=support") == "route"
    assert route_of("") == route_of("/x") == route_of("sp y/x") == ""

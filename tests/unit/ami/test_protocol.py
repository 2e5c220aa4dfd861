"""AmiCodec against the recorded Asterisk transcript: whole, byte by byte, split, truncated."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from edgeqa.ami.errors import AmiMessageRejected
from edgeqa.ami.message import AmiMessage
from edgeqa.ami.protocol import MAX_BUFFER_BYTES, AmiCodec, AmiProtocolError

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
#: Counted independently with `grep -c` on tests/data/asterisk/ami_call.txt.
TRANSCRIPT_MESSAGES = 445
TRANSCRIPT_VARSET = 208


@pytest.fixture(scope="module")
def transcript(data_dir: Path) -> bytes:
    return (data_dir / "asterisk" / "ami_call.txt").read_bytes()


def _feed_all(codec: AmiCodec, chunks: list[bytes]) -> list[AmiMessage]:
    out: list[AmiMessage] = []
    for chunk in chunks:
        out.extend(codec.feed(chunk))
    return out


def test_transcript_whole(transcript: bytes) -> None:
    codec = AmiCodec()
    msgs = codec.feed(transcript)
    assert codec.banner == "Asterisk Call Manager/11.0.0"
    assert len(msgs) == TRANSCRIPT_MESSAGES
    assert codec.pending_bytes == b""
    assert msgs[0].headers == (
        ("Response", "Success"),
        ("ActionID", "raw-login"),
        ("Message", "Authentication accepted"),
    )
    assert msgs[1].event == "FullyBooted"
    assert msgs[-1].response == "Goodbye"
    assert msgs[-1]["Message"] == "Thanks for all the fish."
    kinds = collections.Counter(m.event for m in msgs)
    assert kinds["VarSet"] == TRANSCRIPT_VARSET
    assert kinds["AgentConnect"] == 1
    assert kinds[None] == 2  # the login and logoff responses
    assert codec.colonless_lines == 0


def test_transcript_empty_values_kept(transcript: bytes) -> None:
    msgs = AmiCodec().feed(transcript)
    challenge = next(m for m in msgs if m.event == "ChallengeSent")
    assert ("Challenge", "") in challenge.headers
    assert challenge.get("Challenge") == ""


def test_transcript_byte_by_byte(transcript: bytes) -> None:
    whole = AmiCodec().feed(transcript)
    codec = AmiCodec()
    seen = 0
    for i in range(len(transcript)):
        got = codec.feed(transcript[i : i + 1])
        seen += len(got)
        if i == len(BANNER) - 2:
            assert codec.banner is None
        if i == len(BANNER) - 1:
            assert codec.banner == "Asterisk Call Manager/11.0.0"
    assert seen == len(whole)
    codec2 = AmiCodec()
    assert _feed_all(codec2, [transcript[i : i + 1] for i in range(len(transcript))]) == whole


@pytest.mark.parametrize("size", [2, 3, 7, 100, 1460, 4096])
def test_transcript_chunks(transcript: bytes, size: int) -> None:
    whole = AmiCodec().feed(transcript)
    chunks = [transcript[i : i + size] for i in range(0, len(transcript), size)]
    assert _feed_all(AmiCodec(), chunks) == whole


def test_transcript_with_trailing_partial(transcript: bytes) -> None:
    tail = b"Event: Newchannel\r\nChannel: PJSIP/caller-0000\r\nExten: \r"
    codec = AmiCodec()
    msgs = codec.feed(transcript + tail)
    assert len(msgs) == TRANSCRIPT_MESSAGES
    assert codec.pending_bytes == tail
    rest = codec.feed(b"\n\r\n")
    assert rest == [
        AmiMessage((("Event", "Newchannel"), ("Channel", "PJSIP/caller-0000"), ("Exten", "")))
    ]
    assert codec.pending_bytes == b""


def test_truncated_transcript_keeps_last_message_pending(transcript: bytes) -> None:
    codec = AmiCodec()
    msgs = codec.feed(transcript[:-2])
    assert len(msgs) == TRANSCRIPT_MESSAGES - 1
    assert codec.pending_bytes.startswith(b"Response: Goodbye\r\n")
    assert codec.pending_bytes.endswith(b"fish.\r\n")


def test_banner_only_and_partial_banner() -> None:
    codec = AmiCodec()
    assert codec.feed(b"Asterisk Call Man") == []
    assert codec.banner is None
    assert codec.feed(b"ager/9.0.0\r\n") == []
    assert codec.banner == "Asterisk Call Manager/9.0.0"


@pytest.mark.parametrize(
    "data", [b"HTTP/1.1 400 Bad Request\r\n", b"SSH-2.0-OpenSSH\r\n", b"Asterisk Call\r\n"]
)
def test_not_a_banner(data: bytes) -> None:
    with pytest.raises(AmiProtocolError, match="not an AMI banner"):
        AmiCodec().feed(data)


def test_wrong_first_byte_fails_at_once() -> None:
    with pytest.raises(AmiProtocolError):
        AmiCodec().feed(b"X")


def test_invalid_utf8_is_carried_losslessly() -> None:
    raw = b"Event: UserEvent\r\nName: caf\xe9 \xff\xfe\r\n\r\n"
    (msg,) = AmiCodec().feed(BANNER + raw)
    value = msg["Name"]
    assert value.encode("utf-8", "surrogateescape") == b"caf\xe9 \xff\xfe"


def test_valid_utf8_decoded() -> None:
    (msg,) = AmiCodec().feed(BANNER + "Event: X\r\nCallerIDName: Zoë 李\r\n\r\n".encode())
    assert msg["CallerIDName"] == "Zoë 李"


def test_value_whitespace_exact() -> None:
    (msg,) = AmiCodec().feed(BANNER + b"Event: X\r\nA:  two\r\nB:none\r\nC: tail \r\nD:\r\n\r\n")
    assert msg.headers == (("Event", "X"), ("A", " two"), ("B", "none"), ("C", "tail "), ("D", ""))


def test_duplicate_headers_and_colons_in_values() -> None:
    raw = b"Event: X\r\nChanVariable: a=1\r\nChanVariable: b=2\r\nURI: sip:x@127.0.0.1:5060\r\n\r\n"
    (msg,) = AmiCodec().feed(BANNER + raw)
    assert msg.get_all("ChanVariable") == ["a=1", "b=2"]
    assert msg["URI"] == "sip:x@127.0.0.1:5060"


def test_colonless_line_tolerated_and_counted() -> None:
    codec = AmiCodec()
    (msg,) = codec.feed(BANNER + b"Event: X\r\njust text\r\n\r\n")
    assert msg.headers == (("Event", "X"), ("", "just text"))
    assert codec.colonless_lines == 1


def test_blank_lines_between_messages_skipped() -> None:
    msgs = AmiCodec().feed(BANNER + b"\r\n\r\nEvent: A\r\n\r\n\r\n\r\n\r\nEvent: B\r\n\r\n")
    assert [m.event for m in msgs] == ["A", "B"]


def test_command_output_asterisk22_form() -> None:
    raw = (
        b"Response: Success\r\nActionID: c1\r\nMessage: Command output follows\r\n"
        b"Output: Name/username  Host\r\nOutput: \r\nOutput: 2 sip peers\r\n\r\n"
    )
    (msg,) = AmiCodec().feed(BANNER + raw)
    assert msg.get_all("Output") == ["Name/username  Host", "", "2 sip peers"]


def test_response_follows_old_form_byte_by_byte() -> None:
    raw = (
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: c2\r\n"
        b"line one: with colon\nline two\n\nafter blank\n--END COMMAND--\r\n\r\n"
        b"Event: Next\r\n\r\n"
    )
    codec = AmiCodec()
    codec.feed(BANNER)
    msgs = _feed_all(codec, [raw[i : i + 1] for i in range(len(raw))])
    assert [m.response or m.event for m in msgs] == ["Follows", "Next"]
    assert msgs[0].action_id == "c2"
    assert msgs[0].get_all("Output") == ["line one: with colon", "line two", "", "after blank"]


def test_message_over_cap_rejected_before_parsing() -> None:
    codec = AmiCodec(max_buffer_bytes=64)
    big = b"Event: X\r\nData: " + b"a" * 100 + b"\r\n\r\n"
    (rejected,) = codec.feed(BANNER + big)
    assert isinstance(rejected, AmiMessageRejected)
    assert str(rejected) == (f"AMI message of {len(big)} bytes exceeds 64: dropped, "
                             "the connection goes on")
    assert codec.feed(b"Event: Y\r\n\r\n") == [AmiMessage((("Event", "Y"),))]


def test_incomplete_tail_over_cap_is_skipped_not_held() -> None:
    codec = AmiCodec(max_buffer_bytes=64)
    codec.feed(BANNER + b"Event: X\r\nActionID: a7\r\n")
    for _ in range(100):
        assert codec.feed(b"Data: 0123456\r\n") == []
        assert len(codec.pending_bytes) <= 64
    (rejected, after) = codec.feed(b"\r\nEvent: Y\r\n\r\n")
    assert isinstance(rejected, AmiMessageRejected) and rejected.action_id == "a7"
    assert "of 1526 bytes exceeds 64" in str(rejected)  # 10 + 14 + 100 * 15 + 2
    assert after == AmiMessage((("Event", "Y"),))


def test_banner_over_cap_rejected() -> None:
    codec = AmiCodec(max_buffer_bytes=64)
    with pytest.raises(AmiProtocolError, match="banner exceeds"):
        codec.feed(b"Asterisk Call Manager/" + b"9" * 100)


def test_failed_codec_stays_failed() -> None:
    codec = AmiCodec()
    with pytest.raises(AmiProtocolError):
        codec.feed(b"garbage\r\n")
    with pytest.raises(AmiProtocolError, match="already failed"):
        codec.feed(BANNER)
    assert codec.pending_bytes == b""


def test_default_cap_and_small_cap_refused() -> None:
    assert MAX_BUFFER_BYTES == 1024 * 1024
    with pytest.raises(ValueError):
        AmiCodec(max_buffer_bytes=10)


def test_many_small_messages_in_one_feed_are_not_capped() -> None:
    codec = AmiCodec(max_buffer_bytes=64)
    msgs = codec.feed(BANNER + b"Event: Ping\r\n\r\n" * 1000)
    assert len(msgs) == 1000

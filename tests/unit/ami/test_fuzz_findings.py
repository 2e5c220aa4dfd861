"""Issue 10's AMI fuzzing findings, one test each: work and memory are counted, not timed."""

from __future__ import annotations

import sys
import tracemalloc
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeqa.ami.actions import check_name, check_value, normalise_headers, variable_header
from edgeqa.ami.correlator import MAX_LIST_BYTES, AmiCorrelator, Failed
from edgeqa.ami.errors import AmiInjectionError, AmiMessageRejected, AmiOverloadError
from edgeqa.ami.message import AmiMessage
from edgeqa.ami.protocol import (
    MAX_BANNER_BYTES,
    MAX_MESSAGE_HEADERS,
    MAX_SKIPPED_MESSAGE_BYTES,
    AmiCodec,
    AmiProtocolError,
    encode_action,
)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
MiB = 1024 * 1024


class CountingBuffer(bytearray):
    """The codec's buffer, counting the bytes each find() searches."""

    scanned = 0

    def find(self, sub: bytes, start: int = 0, *args: int) -> int:  # type: ignore[override]
        at = super().find(sub, start, *args)
        self.scanned += (len(self) if at < 0 else at + len(sub)) - start
        return at


def _counting_codec() -> tuple[AmiCodec, CountingBuffer]:
    codec = AmiCodec()
    buf = CountingBuffer()
    codec._buf = buf
    return codec, buf


def _bytewise(codec: AmiCodec, data: bytes) -> list[object]:
    out: list[object] = []
    for i in range(len(data)):
        out.extend(codec.feed(data[i : i + 1]))
    return out


# -- banner fed byte by byte: linear work, bounded length -----------------------------------------


def test_banner_fed_bytewise_scans_each_byte_about_once() -> None:
    # The longest banner allowed, one byte per feed: each byte is searched for CRLF once
    # (twice at most, for a CR whose LF comes in the next feed), not once per feed after it.
    banner = b"Asterisk Call Manager/" + b"9" * (MAX_BANNER_BYTES - 22) + b"\r\n"
    codec, buf = _counting_codec()
    assert _bytewise(codec, banner) == []
    assert codec.banner is not None and len(codec.banner) == MAX_BANNER_BYTES
    assert buf.scanned <= 2 * len(banner)  # quadratic was ~len**2 / 2 = 33,000


def test_message_fed_bytewise_scans_linearly_10k_vs_80k() -> None:
    def work(size: int) -> int:
        codec, buf = _counting_codec()
        codec.feed(BANNER)
        msg = b"Event: Big\r\nData: " + b"x" * size + b"\r\n\r\n"
        (got,) = _bytewise(codec, msg)
        assert isinstance(got, AmiMessage) and got["Data"] == "x" * size
        return buf.scanned

    small, large = work(10_000), work(80_000)
    assert large <= 5 * 80_100  # each feed re-reads the last 3 bytes: a terminator may span
    assert large / small < 12  # 8x the input: linear is 8, quadratic 64


def test_banner_of_80k_fed_bytewise_is_refused_after_the_limit() -> None:
    codec = AmiCodec()
    data = b"Asterisk Call Manager/" + b"9" * 80_000
    fed = 0
    with pytest.raises(AmiProtocolError, match=f"banner exceeds {MAX_BANNER_BYTES} bytes"):
        for i in range(len(data)):
            fed += 1
            codec.feed(data[i : i + 1])
    assert fed <= MAX_BANNER_BYTES + 2


def test_banner_exactly_at_the_limit_is_accepted_whole_and_split() -> None:
    banner = b"Asterisk Call Manager/" + b"1" * (MAX_BANNER_BYTES - 22)
    assert AmiCodec().feed(banner + b"\r\nEvent: A\r\n\r\n") == [AmiMessage((("Event", "A"),))]
    codec = AmiCodec()
    assert codec.feed(banner + b"\r") == []
    assert codec.feed(b"\n") == [] and codec.banner == banner.decode()
    with pytest.raises(AmiProtocolError, match="banner exceeds"):
        AmiCodec().feed(banner + b"1\r\n")


# -- 1 MiB of tiny headers: one message dropped unparsed, the stream goes on ----------------------


def _tiny_headers_message(action_id: str, total_bytes: int) -> bytes:
    head = f"Response: Success\r\nActionID: {action_id}\r\n".encode()
    return head + b"a:\r\n" * ((total_bytes - len(head)) // 4) + b"\r\n"


def test_one_mib_of_tiny_headers_costs_one_message_and_little_memory() -> None:
    codec = AmiCodec()
    codec.feed(BANNER)
    flood = _tiny_headers_message("big-1", MiB - 64)
    after = b"Event: After\r\n\r\n"
    tracemalloc.start()
    try:
        got = codec.feed(flood + after)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Parsed, this message was ~21 MB of tuples and strings; rejected, about its own copy.
    assert peak < 4 * MiB, f"peak {peak / MiB:.1f} MiB"
    rejected, next_msg = got
    assert isinstance(rejected, AmiMessageRejected)
    assert rejected.action_id == "big-1"
    assert f"exceeds {MAX_MESSAGE_HEADERS} (MAX_MESSAGE_HEADERS)" in str(rejected)
    assert next_msg == AmiMessage((("Event", "After"),))
    assert codec.feed(b"Event: Later\r\n\r\n") == [AmiMessage((("Event", "Later"),))]


def test_header_limit_is_exact_and_split_invariant() -> None:
    at_limit = b"".join(b"H%d: v\r\n" % i for i in range(MAX_MESSAGE_HEADERS)) + b"\r\n"
    over = b"ActionID: x\r\n" + at_limit
    whole = AmiCodec().feed(BANNER + at_limit + over)
    codec = AmiCodec()
    split = _bytewise(codec, BANNER + at_limit + over)
    assert whole == split
    assert isinstance(whole[0], AmiMessage) and len(whole[0].headers) == MAX_MESSAGE_HEADERS
    assert isinstance(whole[1], AmiMessageRejected) and whole[1].action_id == "x"


def test_follows_output_counts_its_lines_too() -> None:
    body = b"Response: Follows\r\nActionID: f1\r\n" + b"line\n" * MAX_MESSAGE_HEADERS
    (got,) = AmiCodec().feed(BANNER + body + b"--END COMMAND--\r\n\r\n")
    assert isinstance(got, AmiMessageRejected) and got.action_id == "f1"


def test_message_over_the_size_cap_costs_one_message_and_is_not_held() -> None:
    codec = AmiCodec()
    codec.feed(BANNER)
    head = b"Response: Success\r\nActionID: huge-1\r\nData: "
    held = []
    tracemalloc.start()
    try:
        codec.feed(head)
        for _ in range(4 * 16):  # 4 MiB of one value, 64 KiB per read as the Link reads
            assert codec.feed(b"x" * 65536) == []
            held.append(len(codec.pending_bytes))
        got = codec.feed(b"\r\n\r\nEvent: After\r\n\r\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert max(held) <= MiB and held[-1] <= 3  # skipped past the cap, not buffered
    assert peak < 3 * MiB, f"peak {peak / MiB:.1f} MiB"
    rejected, after = got
    assert isinstance(rejected, AmiMessageRejected) and rejected.action_id == "huge-1"
    assert f"of {len(head) + 4 * MiB + 4} bytes exceeds {MiB}" in str(rejected)
    assert after == AmiMessage((("Event", "After"),))


def test_a_message_with_no_end_is_not_ami() -> None:
    codec = AmiCodec(max_buffer_bytes=1024)
    codec.feed(BANNER + b"Event: Flood\r\nData: ")
    with pytest.raises(AmiProtocolError, match="MAX_SKIPPED_MESSAGE_BYTES"):
        for _ in range(MAX_SKIPPED_MESSAGE_BYTES // MiB + 2):
            codec.feed(b"y" * MiB)


_PIECES = st.sampled_from([b"Event: E\r\n", b"ActionID: q\r\n", b"Data: " + b"z" * 40 + b"\r\n",
                           b"\r\n", b"Response: Follows\r\n", b"out\n",
                           b"--END COMMAND--\r\n\r\n", b"\r", b"\n"])


@given(pieces=st.lists(_PIECES, max_size=40), cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_size_cap_rejections_are_split_invariant(pieces: list[bytes], cuts: list[int]) -> None:
    data = BANNER + b"".join(pieces)
    whole = AmiCodec(max_buffer_bytes=128).feed(data)
    codec = AmiCodec(max_buffer_bytes=128)
    split: list[object] = []
    points = sorted({c % (len(data) + 1) for c in cuts})
    for lo, hi in zip([0, *points], [*points, len(data)], strict=True):
        split.extend(codec.feed(data[lo:hi]))
        assert len(codec.pending_bytes) <= 128
    assert split == whole


def test_rejected_answer_fails_its_action_not_the_connection() -> None:
    c = AmiCorrelator()
    c.begin("a1", "QueueStatus", is_list=True)
    c.begin("a2", "Ping", is_list=False)
    out = c.reject("a1", AmiMessageRejected("too many", action_id="a1"))
    assert isinstance(out, Failed) and isinstance(out.error, AmiOverloadError)
    assert "QueueStatus: answer dropped: too many" in str(out.error)
    assert c.reject("a1", AmiMessageRejected("again")) is None
    assert c.in_flight == 1  # a2 still waits for its answer


# -- list actions capped in bytes ------------------------------------------------------------------


def test_list_of_40_items_of_1_mib_is_capped_in_bytes() -> None:
    c = AmiCorrelator()
    c.begin("L", "QueueStatus", is_list=True)
    c.receive(AmiMessage((("Response", "Success"), ("ActionID", "L"), ("EventList", "start"))))
    outcomes = []
    tracemalloc.start()
    try:
        for i in range(40):
            value = str(i % 10) * (MiB // 4 - 64)  # 4 headers of 256 KiB: one 1 MiB item
            item = AmiMessage((("Event", "QueueMember"), ("ActionID", "L"),
                               *((f"Data{k}", value) for k in range(4))))
            del value
            outcomes.append(c.receive(item))
            del item
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The count cap alone held all 40 MiB (426 MB when the items were tiny headers).
    assert peak < MAX_LIST_BYTES + 4 * MiB, f"peak {peak / MiB:.1f} MiB"
    failed = [out for consumed, out in outcomes if isinstance(out, Failed)]
    assert len(failed) == 1 and isinstance(failed[0].error, AmiOverloadError)
    assert "(MAX_LIST_BYTES)" in str(failed[0].error)
    assert c.in_flight == 0
    # The rest of the list is no longer held: it reaches on_message as plain events.
    assert [consumed for consumed, _ in outcomes].count(False) == 40 - 1 - MAX_LIST_BYTES // MiB


def test_list_byte_cap_counts_header_text() -> None:
    c = AmiCorrelator(max_list_bytes=100)
    c.begin("L", "CoreShowChannels", is_list=True)
    c.receive(AmiMessage((("Response", "Success"), ("ActionID", "L"))))
    item = AmiMessage((("ActionID", "L"), ("Data", "x" * 40)))  # 12 + 48 = 60 bytes
    assert c.receive(item) == (True, None)
    consumed, out = c.receive(item)
    assert consumed and isinstance(out, Failed) and "over 100 bytes" in str(out.error)


# -- lone surrogates and control characters: the injection error, never the wire ------------------

_FORBIDDEN = ("Cc", "Cs")  # C0, DEL, C1; surrogates
_ANY_CHAR = st.integers(min_value=0, max_value=sys.maxunicode).map(chr)


def _forbidden(char: str) -> bool:
    return unicodedata.category(char) in _FORBIDDEN


@pytest.mark.parametrize("value", ["\ud800", "a\udfffb", "\udc80", "\udcc2\udc85"])
def test_lone_surrogates_raise_the_injection_error(value: str) -> None:
    with pytest.raises(AmiInjectionError, match="surrogate"):
        encode_action("Ping", [("Data", value)], "id")
    with pytest.raises(AmiInjectionError, match="surrogate"):
        encode_action("Ping", [], value)
    with pytest.raises(AmiInjectionError, match="surrogate"):
        variable_header("X", value)


@given(char=_ANY_CHAR, prefix=st.text(max_size=3), suffix=st.text(max_size=3))
def test_every_code_point_in_a_value_is_sent_as_utf8_or_refused(
    char: str, prefix: str, suffix: str
) -> None:
    value = prefix + char + suffix
    if any(_forbidden(c) for c in value):
        for call in (
            lambda: check_value("Data", value),
            lambda: normalise_headers([("Data", value)]),
            lambda: encode_action("Ping", [("Data", value)], "id"),
            lambda: encode_action("Ping", [], value),  # the ActionID is a value too
            lambda: variable_header("X", value),
        ):
            with pytest.raises(AmiInjectionError, match="rejected"):
                call()
        return
    wire = encode_action("Ping", [("Data", value)], "id")
    line = wire.split(b"\r\n")[2]
    assert line == b"Data: " + value.encode("utf-8")
    assert not any(b < 0x20 or b == 0x7F for b in line)
    assert not any(_forbidden(c) for c in line.decode("utf-8"))


@given(char=_ANY_CHAR, prefix=st.sampled_from(["", "X", "Chan"]))
def test_every_code_point_in_a_name_is_a_token_or_refused(char: str, prefix: str) -> None:
    name = prefix + char
    token = char.isascii() and (char.isalnum() or char in "_().-")
    if not token:
        for call in (
            lambda: check_name(name),
            lambda: encode_action(name, [], "id"),
            lambda: encode_action("Ping", [(name, "v")], "id"),
            lambda: normalise_headers([(name, "v")]),
        ):
            with pytest.raises(AmiInjectionError):
                call()
    else:
        assert check_name(name) == name


def test_c1_and_escape_examples() -> None:
    for bad in ("\x1b[2J", "a\x85b", "\x9b31m", "\x7f", "tab\there", "\x00"):
        with pytest.raises(AmiInjectionError, match="control character"):
            encode_action("Ping", [("Data", bad)], "id")
    assert encode_action("Ping", [("Data", "é ü 漢 \U0001f600")], "id").count(b"\r\n") == 4

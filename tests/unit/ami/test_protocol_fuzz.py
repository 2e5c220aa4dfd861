"""Hypothesis fuzzing of AmiCodec: only AmiProtocolError escapes; memory stays under the cap."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeqa.ami.message import AmiMessage
from edgeqa.ami.protocol import AmiCodec, AmiProtocolError

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
SMALL_CAP = 256
FUZZ = settings(
    max_examples=400,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow],
)

# Bytes that steer the codec: CR, LF, colon, space, and the Follows/END markers.
_TOKENS = st.sampled_from(
    [
        b"\r",
        b"\n",
        b"\r\n",
        b"\r\n\r\n",
        b":",
        b" ",
        b": ",
        b"Event",
        b"Response: Follows\r\n",
        b"--END COMMAND--\r\n\r\n",
        b"\xff",
        b"\xc3",
        b"\x00",
        b"Asterisk Call Manager/",
    ]
)
_NOISE = st.lists(st.one_of(st.binary(max_size=40), _TOKENS), max_size=60).map(b"".join)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks, prev = [], 0
    for p in [*points, len(data)]:
        chunks.append(data[prev:p])
        prev = p
    return chunks


def _run(codec: AmiCodec, chunks: list[bytes]) -> list[AmiMessage]:
    out: list[AmiMessage] = []
    try:
        for chunk in chunks:
            out.extend(codec.feed(chunk))
            assert len(codec.pending_bytes) <= SMALL_CAP
    except AmiProtocolError:
        pass
    return out


@FUZZ
@given(data=_NOISE, cuts=st.lists(st.integers(min_value=0), max_size=10))
def test_random_bytes_without_banner(data: bytes, cuts: list[int]) -> None:
    _run(AmiCodec(max_buffer_bytes=SMALL_CAP), _split(data, cuts))


@FUZZ
@given(data=_NOISE, cuts=st.lists(st.integers(min_value=0), max_size=10))
def test_random_bytes_after_banner(data: bytes, cuts: list[int]) -> None:
    codec = AmiCodec(max_buffer_bytes=SMALL_CAP)
    msgs = _run(codec, _split(BANNER + data, cuts))
    assert len(msgs) <= len(data) // 2 + 1  # each message consumes at least one terminator


@FUZZ
@given(data=_NOISE, cuts=st.lists(st.integers(min_value=0), max_size=10))
def test_split_invariance(data: bytes, cuts: list[int]) -> None:
    whole = _run(AmiCodec(max_buffer_bytes=SMALL_CAP), [BANNER + data])
    parts = _run(AmiCodec(max_buffer_bytes=SMALL_CAP), _split(BANNER + data, cuts))
    # A cap error may strike earlier when split, never later; the common prefix must agree.
    assert parts == whole[: len(parts)] or whole == parts[: len(whole)]


_NAME = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    min_size=1,
    max_size=12,
)
_VALUE_BYTES = st.binary(max_size=30).filter(lambda b: b"\r\n" not in b)
_MESSAGE = st.lists(st.tuples(_NAME, _VALUE_BYTES), min_size=1, max_size=8).filter(
    lambda hs: (hs[0][0], hs[0][1]) != ("Response", b"Follows")
)


def _wire(headers: list[tuple[str, bytes]]) -> bytes:
    return b"".join(n.encode() + b": " + v + b"\r\n" for n, v in headers) + b"\r\n"


def _decode(v: bytes) -> str:
    return v.decode("utf-8", "surrogateescape")


@FUZZ
@given(msgs=st.lists(_MESSAGE, max_size=6), cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_roundtrip_exact_bytes(msgs: list[list[tuple[str, bytes]]], cuts: list[int]) -> None:
    data = BANNER + b"".join(_wire(m) for m in msgs)
    codec = AmiCodec()
    got: list[AmiMessage] = []
    for chunk in _split(data, cuts):
        got.extend(codec.feed(chunk))
    expected = [AmiMessage(tuple((n, _decode(v)) for n, v in m)) for m in msgs]
    assert got == expected
    assert codec.pending_bytes == b""
    for msg, src in zip(got, msgs, strict=True):
        assert [v.encode("utf-8", "surrogateescape") for _, v in msg.headers] == [v for _, v in src]

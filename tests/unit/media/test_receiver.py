"""The UDP receiver's protocol object, driven without a socket: guard, parse, hand on, count."""

from __future__ import annotations

import logging
import socket

import pytest

from edgeqa.media.receiver import Batch, RtpReceiver, open_receiver
from edgeqa.media.rtp import RtpPacket, build_rtp

SRC = ("127.0.0.1", 16140)
GOOD = build_rtp(RtpPacket(118, False, 5, 1600, 42, (), None, bytes(640)))


def _receiver(sink: list[tuple[RtpPacket, tuple[str, int], float]],
              **kwargs: int) -> RtpReceiver:
    return RtpReceiver(lambda b, t: sink.extend((p, a, t) for p, a in b), lambda: 12.5,
                       **kwargs)


def test_good_packet_is_handed_on_with_source_and_time() -> None:
    got: list[tuple[RtpPacket, tuple[str, int], float]] = []
    rx = _receiver(got)
    rx.datagram_received(GOOD, SRC)
    assert len(got) == 1
    packet, source, now = got[0]
    assert (packet.sequence, packet.timestamp, len(packet.payload)) == (5, 1600, 640)
    assert source == SRC and now == 12.5
    assert (rx.stats.datagrams, rx.stats.packets, rx.stats.malformed) == (1, 1, 0)


def test_bad_datagrams_are_counted_and_logged_once_per_n(
        caplog: pytest.LogCaptureFixture) -> None:
    got: list[tuple[RtpPacket, tuple[str, int], float]] = []
    rx = _receiver(got, log_bad_every=3, max_datagram_bytes=700)
    with caplog.at_level(logging.WARNING, "edgeqa.media.receiver"):
        for _ in range(5):
            rx.datagram_received(b"\x00" * 20, SRC)  # version 0
        rx.datagram_received(GOOD + bytes(100), SRC)  # 752 > 700
        rx.datagram_received(b"\x80", SRC)
    assert got == []
    assert (rx.stats.malformed, rx.stats.too_large, rx.stats.packets) == (6, 1, 0)
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 3  # the 1st, 4th and 7th bad datagram
    assert ["bad_version" in dropped[0], "bad_version" in dropped[1],
            "truncated_header" in dropped[2]] == [True, True, True], dropped


def test_a_failing_sink_never_escapes(caplog: pytest.LogCaptureFixture) -> None:
    def sink(batch: Batch, now: float) -> None:
        raise RuntimeError("boom")

    rx = RtpReceiver(sink, lambda: 0.0, log_bad_every=2)
    with caplog.at_level(logging.ERROR, "edgeqa.media.receiver"):
        for _ in range(4):
            rx.datagram_received(GOOD, SRC)
    assert rx.stats.sink_errors == 4 and rx.stats.packets == 4
    assert len([r for r in caplog.records if "sink failed" in r.getMessage()]) == 2


async def test_only_loopback_is_bound() -> None:
    with pytest.raises(ValueError, match="loopback"):
        await open_receiver(lambda b, t: None, 0, host="0.0.0.0")


async def test_each_wake_up_drains_a_bounded_batch_in_one_call() -> None:
    batches: list[list[tuple[int, tuple[str, int]]]] = []
    rx = await open_receiver(lambda b, t: batches.append([(p.sequence, a) for p, a in b]), 0,
                             max_per_wakeup=4)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        tx.bind(("127.0.0.1", 0))
        src = tx.getsockname()
        for seq in range(9):
            tx.sendto(build_rtp(RtpPacket(118, False, seq, 0, 1, (), None, bytes(640))),
                      rx.local_address)
            if seq == 4:
                tx.sendto(b"\x80" + bytes(1600), rx.local_address)  # over the limit
        # No await: the loop does not read; each call is one wake-up (loopback delivers now).
        for _ in range(4):
            rx._on_readable()
        assert batches == [[(0, src), (1, src), (2, src), (3, src)],
                           [(4, src), (5, src), (6, src)], [(7, src), (8, src)]]
        assert (rx.stats.datagrams, rx.stats.packets, rx.stats.too_large) == (10, 9, 1)
        assert (rx.stats.wakeups, rx.stats.full_wakeups) == (3, 2)
    finally:
        tx.close()
        rx.close()
        rx.close()

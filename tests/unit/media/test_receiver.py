"""The UDP receiver: each wake-up has the ingest engine drain the socket, bounded; never raises."""

from __future__ import annotations

import logging
import socket

import pytest

from edgeqa.media import engine
from edgeqa.media.receiver import RtpReceiver, open_receiver
from edgeqa.media.rtp import RtpPacket, build_rtp

SRC = ("127.0.0.1", 16140)
GOOD = build_rtp(RtpPacket(118, False, 5, 1600, 42, (), None, bytes(640)))
OFFSET = 10.0


def test_a_datagram_goes_to_its_slot_with_the_time() -> None:
    ingest = engine.Ingest(2, 5)
    slot = ingest.open_leg(b"\x7f\x00\x00\x01", SRC[1], "slin16", OFFSET)
    rx = RtpReceiver(ingest, lambda: 12.5)
    rx.datagram_received(GOOD, SRC)
    rx.datagram_received(GOOD, ("127.0.0.2", SRC[1]))  # another host: not this leg's
    (placed,) = ingest.take(slot)
    assert placed.t_s == pytest.approx(2.48) and len(placed.pcm) == 640
    assert ingest.leg_stats(slot)["last_arrival_ms"] == 12500
    assert ingest.stats()["unrouted"] == 1 and rx.stats.datagrams == 2


def test_bad_datagrams_are_counted_by_the_engine() -> None:
    ingest = engine.Ingest(2, 5)
    slot = ingest.open_leg(b"", SRC[1], "slin16", OFFSET)
    rx = RtpReceiver(ingest, lambda: 12.5)
    for _ in range(5):
        rx.datagram_received(b"\x00" * 20, SRC)  # version 0
    rx.datagram_received(GOOD + bytes(1000), SRC)  # 1,652 > 1,500
    rx.datagram_received(b"\x80", SRC)
    stats = ingest.stats()
    assert (stats["malformed"], stats["too_large"], stats["packets"]) == (6, 1, 0)
    assert ingest.take(slot) == []


def test_a_failing_engine_never_escapes(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(engine.Ingest):  # type: ignore[misc,valid-type]
        def recv(self, fd: int, now_s: float, max_datagrams: int) -> int:
            raise RuntimeError("boom")

    rx = RtpReceiver(Broken(1, 5), lambda: 0.0, log_bad_every=2)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx._sock = sock
    try:
        with caplog.at_level(logging.ERROR, "edgeqa.media.receiver"):
            for _ in range(4):
                rx._on_readable()
    finally:
        sock.close()
    assert rx.stats.errors == 4
    assert len([r for r in caplog.records if "receive failed" in r.getMessage()]) == 2


async def test_only_loopback_is_bound() -> None:
    with pytest.raises(ValueError, match="loopback"):
        await open_receiver(engine.Ingest(1, 5), 0, host="0.0.0.0")


async def test_each_wake_up_drains_a_bounded_batch() -> None:
    ingest = engine.Ingest(2, 5)
    rx = await open_receiver(ingest, 0, max_per_wakeup=4)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        tx.bind(("127.0.0.1", 0))
        slot = ingest.open_leg(b"\x7f\x00\x00\x01", tx.getsockname()[1], "slin16", OFFSET)
        for seq in range(9):
            tx.sendto(build_rtp(RtpPacket(118, False, seq, 320 * seq, 1, (), None,
                                          bytes(640))), rx.local_address)
            if seq == 4:
                tx.sendto(b"\x80" + bytes(1600), rx.local_address)  # over the limit
        # No await: the loop does not read; each call is one wake-up (loopback delivers now).
        got = []
        for _ in range(4):
            rx._on_readable()
            got.append(ingest.stats()["datagrams"])
        assert got == [4, 8, 10, 10]
        assert ingest.stats()["too_large"] == 1 and ingest.stats()["packets"] == 9
        assert (rx.stats.datagrams, rx.stats.wakeups, rx.stats.full_wakeups) == (10, 3, 2)
        assert sum(len(p.pcm) for p in ingest.take(slot)) == 9 * 640
    finally:
        tx.close()
        rx.close()
        rx.close()

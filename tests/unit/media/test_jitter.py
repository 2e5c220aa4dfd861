"""The reorder buffer: order, loss filled with silence, 16-bit wrap, late, duplicate, resync."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from edgeqa.media.jitter import RESYNC_GAP_PACKETS, JitterBuffer, JitterFrame

FRAME = 4


def _p(seq: int) -> bytes:
    return (seq % 251 + 1).to_bytes(1, "big") * FRAME


def _push(jb: JitterBuffer, *seqs: int) -> list[tuple[int, bool]]:
    out: list[JitterFrame] = []
    for seq in seqs:
        out += jb.push(seq % 65536, seq * 160, _p(seq))
    return [(f.seq, f.lost) for f in out]


def test_in_order_is_released_at_once() -> None:
    jb = JitterBuffer(depth_packets=3)
    assert jb.push(7, 1120, b"abcd") == [JitterFrame(7, 1120, b"abcd", False)]
    assert _push(jb, 8, 9) == [(8, False), (9, False)]
    assert jb.stats.released == 3 and jb.stats.lost == 0


def test_reorder_within_depth() -> None:
    jb = JitterBuffer(depth_packets=3)
    assert _push(jb, 10) == [(10, False)]
    assert _push(jb, 12) == []
    assert _push(jb, 13) == []
    assert _push(jb, 11) == [(11, False), (12, False), (13, False)]
    assert jb.stats.lost == 0


def test_loss_is_silence_once_the_buffer_is_full() -> None:
    jb = JitterBuffer(depth_packets=3)
    _push(jb, 0)
    assert _push(jb, 2, 3, 4) == []
    out = jb.push(5, 800, _p(5))
    assert [(f.seq, f.lost) for f in out] == [(1, True), (2, False), (3, False), (4, False),
                                               (5, False)]
    assert out[0].payload == bytes(FRAME) and out[0].timestamp is None
    assert jb.stats.lost == 1
    assert _push(jb, 1) == [] and jb.stats.late == 1  # too late now


def test_sequence_wraps() -> None:
    jb = JitterBuffer(depth_packets=4)
    assert _push(jb, 65534, 65535, 65536, 65537) == [
        (65534, False), (65535, False), (65536, False), (65537, False)]
    jb = JitterBuffer(depth_packets=4)
    assert _push(jb, 65535, 65537, 65536) == [(65535, False), (65536, False), (65537, False)]
    frames = JitterBuffer(2)
    got = [f.payload for s in (65535, 0, 1) for f in frames.push(s, 0, _p(s))]
    assert got == [_p(65535), _p(0), _p(1)]


def test_duplicate_and_late() -> None:
    jb = JitterBuffer(depth_packets=3)
    _push(jb, 1, 3)
    assert _push(jb, 3) == [] and jb.stats.duplicate == 1
    assert _push(jb, 2) == [(2, False), (3, False)]
    assert _push(jb, 1) == [] and _push(jb, 2) == [] and jb.stats.late == 2


def test_a_big_jump_is_a_new_stream_not_loss() -> None:
    jb = JitterBuffer(depth_packets=3)
    _push(jb, 100, 102)
    jump = 100 + RESYNC_GAP_PACKETS + 5
    assert _push(jb, jump) == [(102, False), (jump, False)]
    assert jb.stats.resyncs == 1 and jb.stats.lost == 0
    assert _push(jb, jump + 1) == [(jump + 1, False)]


def test_flush_fills_the_gaps() -> None:
    jb = JitterBuffer(depth_packets=5)
    _push(jb, 0, 2, 5)
    assert [(f.seq, f.lost) for f in jb.flush()] == [
        (1, True), (2, False), (3, True), (4, True), (5, False)]
    assert jb.flush() == []


def test_limits() -> None:
    with pytest.raises(ValueError, match="depth_packets 0"):
        JitterBuffer(0)
    with pytest.raises(ValueError, match="depth_packets 513"):
        JitterBuffer(513)
    with pytest.raises(ValueError, match="not 16-bit"):
        JitterBuffer().push(65536, 0, b"")


@given(start=st.integers(0, 65535), n=st.integers(1, 300),
       swaps=st.lists(st.integers(0, 299), max_size=50),
       drops=st.sets(st.integers(1, 298), max_size=20), depth=st.integers(2, 8))
@example(start=65535, n=2, swaps=[0], drops=set(), depth=2)  # first packet sent has seq 0
def test_any_local_reorder_and_loss_keeps_a_whole_timeline(
        start: int, n: int, swaps: list[int], drops: set[int], depth: int) -> None:
    order = list(range(n))
    for i in swaps:  # adjacent swaps: at most one packet of displacement each
        if i + 1 < n:
            order[i], order[i + 1] = order[i + 1], order[i]
    sent = [i for i in order if i not in drops or i == n - 1]
    jb = JitterBuffer(depth)
    out: list[JitterFrame] = []
    for i in sent:
        out += jb.push((start + i) % 65536, i, _p(i))
        assert len(jb._held) <= depth
    out += jb.flush()
    # The first packet sets the start; anything before it, or after its slot was given up, is late.
    assert [(f.seq - start) % 65536 for f in out] == list(range(sent[0], n))
    for f in out:
        i = (f.seq - start) % 65536
        assert f.payload == (bytes(FRAME) if f.lost else _p(i))
        if i not in sent:
            assert f.lost
    assert jb.stats.lost == sum(1 for f in out if f.lost)
    assert jb.stats.late + sum(1 for f in out if not f.lost) == len(sent)


def test_a_big_jump_back_is_a_new_stream_not_late() -> None:
    # Issue 9: after a jump back of 5,000 with the same SSRC, the 3,000 packets that followed
    # were all dropped as late.
    jb = JitterBuffer(depth_packets=3)
    assert len(_push(jb, *range(10_000, 10_100))) == 100
    out = _push(jb, *range(5_000, 8_000))
    assert out == [(s, False) for s in range(5_000, 8_000)]
    assert jb.stats.resyncs == 1 and jb.stats.late == 0 and jb.stats.lost == 0


def test_a_jump_just_below_the_limit_is_loss_or_late() -> None:
    jb = JitterBuffer(depth_packets=3)
    _push(jb, 5_000)
    assert _push(jb, 5_002 - RESYNC_GAP_PACKETS) == [] and jb.stats.late == 1
    ahead = 5_001 + RESYNC_GAP_PACKETS - 1
    assert _push(jb, ahead) == [] and jb.stats.resyncs == 0
    assert jb.jumps(ahead + 1) and jb.jumps(5_001 - RESYNC_GAP_PACKETS)
    assert not jb.jumps(5_002 - RESYNC_GAP_PACKETS)
    assert len(jb.flush()) == RESYNC_GAP_PACKETS and jb.stats.lost == RESYNC_GAP_PACKETS - 1


_JUMP = st.one_of(st.integers(RESYNC_GAP_PACKETS, 32_000),
                  st.integers(-32_000, -RESYNC_GAP_PACKETS))


@given(start=st.integers(0, 65535), depth=st.integers(2, 8),
       segments=st.lists(st.tuples(_JUMP, st.integers(2, 120),
                                   st.lists(st.integers(1, 118), max_size=10),
                                   st.lists(st.integers(0, 119), max_size=5)),
                         min_size=1, max_size=6))
@example(start=10_000, depth=5, segments=[(-5_000, 100, [], [])])
@example(start=0, depth=2, segments=[(1000, 2, [], [])] * 4 + [(1000, 58, [54, 55, 56], [])])
def test_restarts_wraps_reorders_and_duplicates_lose_nothing(
        start: int, depth: int, segments: list[tuple[int, int, list[int], list[int]]]) -> None:
    """Runs of packets joined by jumps beyond the limit, either way, across the 16-bit wrap,
    with adjacent swaps (never the run's first packet) and duplicates: every packet comes
    out once, in its run's order, and each jump is one resync."""
    jb = JitterBuffer(depth)
    sent: list[tuple[int, bytes]] = []  # (16-bit seq, payload) in sending order
    expected: list[bytes] = []
    seq = start
    n_dups = 0
    first_run: list[tuple[int, int, list[int], list[int]]] = [(0, 50, [], [])]
    for k, (jump, n, swaps, dups) in enumerate(first_run + segments):
        seq = (seq + jump) % 65536  # the jump is from the sequence expected next
        run = [((seq + i) % 65536, bytes([k, i % 256, i // 256, 1])) for i in range(n)]
        expected += [p for _, p in run]
        order = list(run)
        swapped: set[int] = set()
        for i in sorted(set(swaps)):  # disjoint adjacent swaps: each packet one place late at
            if 1 <= i < n - 1 and i not in swapped:  # most, within any depth (chained swaps
                order[i], order[i + 1] = order[i + 1], order[i]  # would carry one further
                swapped.update((i, i + 1))  # than the depth: loss, rightly)
        for i in sorted(set(dups), reverse=True):
            if i < n:
                order.insert(i + 1, order[i])
                n_dups += 1
        sent += order
        seq = (seq + n) % 65536
    out: list[JitterFrame] = []
    for s, payload in sent:
        out += jb.push(s, 0, payload)
    out += jb.flush()
    assert [f.payload for f in out] == expected
    assert jb.stats.resyncs == len(segments) and jb.stats.lost == 0
    assert jb.stats.late + jb.stats.duplicate == n_dups  # a copy of one released is late

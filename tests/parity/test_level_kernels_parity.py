"""The level and codec kernels (g711_match, frame_prefix): compiled equals the reference."""

from __future__ import annotations

from array import array
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeqa.metrics import reference
from edgeqa.metrics.reference import ALAW_TABLE, G711_ALAW, G711_ULAW, ULAW_TABLE
from tests.parity.test_kernels_parity import IMPLS, C, needs_c

BOTH = G711_ULAW | G711_ALAW


def pcm(samples: list[int] | tuple[int, ...]) -> bytes:
    return array("h", samples).tobytes()


@pytest.mark.parametrize("impl", IMPLS)
def test_g711_match_each_law(impl: ModuleType) -> None:
    ulaw, alaw = pcm(ULAW_TABLE), pcm(ALAW_TABLE)
    nonzero_u = sum(1 for x in ULAW_TABLE if x)
    assert impl.g711_match(ulaw, BOTH) == (G711_ULAW, nonzero_u)
    assert impl.g711_match(alaw, BOTH) == (G711_ALAW, 256)  # A-law has no zero
    assert impl.g711_match(ulaw, G711_ALAW) == (0, 0)  # only the laws asked about
    assert impl.g711_match(ulaw, 0) == (0, 0)
    assert impl.g711_match(pcm([0] * 320), BOTH) == (BOTH, 0)  # zero proves nothing
    assert impl.g711_match(pcm([32124, -32124, 0]), BOTH) == (G711_ULAW, 2)
    assert impl.g711_match(pcm([32256, 8]), BOTH) == (G711_ALAW, 2)
    assert impl.g711_match(pcm([32767]), BOTH)[0] == 0  # linear full scale
    assert impl.g711_match(pcm([1001, 32124, 0]), BOTH) == (0, 0)  # none left: stops there
    assert impl.g711_match(b"", BOTH) == (BOTH, 0)
    assert impl.g711_match(pcm([8]) + b"\x01", BOTH) == (BOTH, 1)  # 8 is in both; odd byte cut


_G711_VALUES = st.sampled_from(sorted(set(ULAW_TABLE) | set(ALAW_TABLE)))


@needs_c
@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_G711_VALUES, _G711_VALUES, st.integers(-32768, 32767)),
                max_size=400), st.integers(0, 3))
def test_g711_match_equal(samples: list[int], mask: int) -> None:
    assert C is not None
    data = pcm(samples)
    assert C.g711_match(data, mask) == reference.g711_match(data, mask)


@pytest.mark.parametrize("impl", IMPLS)
def test_frame_prefix(impl: ModuleType) -> None:
    out = array("q", [0] * 4)
    assert impl.frame_prefix(pcm([1, 2, 3, 4, 5]), 2, 7, out) == 2  # the odd sample is cut
    assert out.tolist() == [7, 12, 37, 0]
    with pytest.raises(ValueError):
        impl.frame_prefix(pcm([1] * 8), 2, 0, array("q", [0] * 4))  # 4 frames need 5 slots
    with pytest.raises(ValueError):
        impl.frame_prefix(pcm([1] * 8), 0, 0, out)


@needs_c
@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-32768, 32767), max_size=800), st.sampled_from([1, 4, 160]),
       st.integers(0, 1 << 50))
def test_frame_prefix_equal(samples: list[int], frame_len: int, base: int) -> None:
    assert C is not None
    data = pcm(samples)
    n = len(samples) // frame_len
    a, b = array("q", [0] * (n + 1)), array("q", [0] * (n + 1))
    assert C.frame_prefix(data, frame_len, base, a) == reference.frame_prefix(
        data, frame_len, base, b) == n
    assert a == b

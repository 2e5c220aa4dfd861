"""Issue 10's ARI fuzzing finding: JSON nested 1,000 levels deep raised RecursionError out of
decode_frame (and so out of the events loop, stopping the daemon). Depth is bounded now."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeqa.ari.client import AriClient
from edgeqa.ari.events import MAX_JSON_DEPTH, AriFrameError, decode_frame, load_json

GOOD = {"type": "StasisStart", "channel": {"id": "c1", "name": "PJSIP/x-1"}}


def _nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 100_000])
def test_deep_frames_are_a_frame_error_not_recursion(depth: int) -> None:
    for frame in (
        '{"type": "X", "a": ' + _nested(depth - 1) + "}",
        '{"type": "X", "a": ' + '{"b": ' * (depth - 1) + "1" + "}" * (depth - 1) + "}",
    ):
        with pytest.raises(AriFrameError, match=f"nests deeper than {MAX_JSON_DEPTH} levels"):
            decode_frame(frame)
        with pytest.raises(AriFrameError, match="MAX_JSON_DEPTH"):
            decode_frame(frame.encode())


def test_depth_limit_is_exact() -> None:
    at_limit = '{"type": "X", "a": ' + _nested(MAX_JSON_DEPTH - 1) + "}"
    assert decode_frame(at_limit).type == "X"
    with pytest.raises(AriFrameError):
        decode_frame('{"type": "X", "a": ' + _nested(MAX_JSON_DEPTH) + "}")


def test_brackets_inside_strings_are_not_nesting() -> None:
    event = decode_frame(json.dumps({"type": "X", "s": "[{" * 5000}))
    assert event.body["s"] == "[{" * 5000


def test_many_shallow_brackets_pass() -> None:
    event = decode_frame(json.dumps({"type": "X", "a": [[1], [2]] * 5000}))
    assert len(event.body["a"]) == 10_000


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=40,
)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@given(value=_JSON, wrap=st.integers(min_value=0, max_value=2 * MAX_JSON_DEPTH))
def test_load_json_agrees_with_the_depth_of_what_it_parses(value: Any, wrap: int) -> None:
    for _ in range(wrap):
        value = [value]
    text = json.dumps(value)
    if _depth(value) > MAX_JSON_DEPTH:
        with pytest.raises(AriFrameError):
            load_json(text)
    else:
        assert load_json(text) == value


async def test_the_reader_drops_a_deep_frame_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    received: list[Any] = []
    client = AriClient("http://127.0.0.1:1", "u", "p", "edgeqa", on_event=received.append)
    with caplog.at_level(logging.ERROR, logger="edgeqa.ari.client"):
        client._on_frame('{"type": "X", "a": ' + _nested(1_000) + "}")
        client._on_frame(json.dumps(GOOD))
    assert received == [GOOD]
    assert client.stats.frames == 2 and client.stats.frames_malformed == 1
    assert "nests deeper than" in caplog.text
    await client.close()

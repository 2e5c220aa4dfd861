"""The hygiene checks themselves: a blocked loop is seen, leaks are seen, pooled threads are not."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from tests.support.hygiene import SLOW_CALLBACK_S, SlowCallbackRecords, _assert_no_leaks


def _block() -> None:
    time.sleep(SLOW_CALLBACK_S * 1.5)  # a blocking call, run by the loop as a callback


async def test_async_tests_run_in_debug_mode_with_the_limit() -> None:
    loop = asyncio.get_running_loop()
    assert loop.get_debug()
    assert loop.slow_callback_duration == SLOW_CALLBACK_S


async def test_a_blocking_callback_is_recorded(loop_hygiene: SlowCallbackRecords) -> None:
    loop = asyncio.get_running_loop()
    loop.call_soon(_block)
    await asyncio.sleep(0.01)
    assert len(loop_hygiene.messages) == 1
    assert "_block" in loop_hygiene.messages[0] and " took " in loop_hygiene.messages[0]
    loop_hygiene.messages.clear()  # seen: this test expects it, so it must not fail


async def test_a_short_callback_is_not_recorded(loop_hygiene: SlowCallbackRecords) -> None:
    asyncio.get_running_loop().call_soon(time.sleep, SLOW_CALLBACK_S / 10)
    await asyncio.sleep(0.01)
    assert loop_hygiene.messages == []


async def test_to_thread_workers_are_pooled_not_leaked() -> None:
    assert await asyncio.to_thread(threading.current_thread) is not threading.current_thread()


async def test_a_leaked_task_is_caught() -> None:
    threads, tasks = set(threading.enumerate()), asyncio.all_tasks()
    stray = asyncio.get_running_loop().create_task(asyncio.sleep(10))
    with pytest.raises(AssertionError, match="leaked asyncio tasks"):
        await _assert_no_leaks(threads, tasks)
    await asyncio.gather(stray, return_exceptions=True)  # cancelled by the check
    assert stray.cancelled()


async def test_a_leaked_thread_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tests.support.hygiene.THREAD_GRACE_S", 0.05)
    threads, tasks = set(threading.enumerate()), asyncio.all_tasks()
    release = threading.Event()
    stray = threading.Thread(target=release.wait, args=(5.0,), name="stray")
    stray.start()
    try:
        with pytest.raises(AssertionError, match="stray"):
            await _assert_no_leaks(threads, tasks)
    finally:
        release.set()
        stray.join(5.0)


async def test_blocking_call_from_edgeqa_code_fails_at_once(tmp_path: Path) -> None:
    """blockbuster: a file read made by edgeqa code on the loop's thread raises at once."""
    from blockbuster import BlockingError

    from edgeqa.config import load_config

    conf = tmp_path / "edgeqa.toml"
    conf.write_text("[logging]\nformat = \"text\"\n")  # the test's own I/O is allowed
    with pytest.raises(BlockingError):
        load_config(conf, env={"EDGEQA_AMI_SECRET": "a", "EDGEQA_ARI_PASSWORD": "b"})

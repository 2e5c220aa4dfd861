"""Hygiene checks for async tests: no blocking call in the loop, no leaked threads or tasks.

``loop_hygiene`` (applied to every async unit test by tests/unit/conftest.py) checks two ways
[STYLE rule 11]:
- deterministically, with blockbuster: a blocking call (time.sleep, blocking socket or file
  I/O, SQLite, ...) made *from edgeqa code* on the loop's thread raises at once;
- by wall time: the loop runs in debug mode with ``slow_callback_duration`` = SLOW_CALLBACK_S
  and each "Executing <handle> took N seconds" record fails the test (a long CPU-bound step).
  The threshold is set well above what scheduler noise on a loaded 2-core machine causes
  (0.12 s was seen), since blockbuster catches the blocking calls themselves.
``no_leaks`` is the leak half alone, for modules that cannot run in debug mode.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator

import pytest_asyncio
from blockbuster import blockbuster_ctx

#: How long a test's threads may take to finish after the test body returns.
THREAD_GRACE_S = 2.0
#: A callback (or a coroutine step) holding the loop longer than this fails the test. The
#: default leaves room for a loaded 2-core CI box; EDGEQA_SLOW_CALLBACK_S overrides it.
SLOW_CALLBACK_S = float(os.environ.get("EDGEQA_SLOW_CALLBACK_S", "0.3"))
#: The package whose blocking calls blockbuster reports (calls from tests or libraries pass).
SCANNED_PACKAGE = "edgeqa"
#: How many slow-callback records are quoted in a failure.
MAX_QUOTED_RECORDS = 5


class SlowCallbackRecords(logging.Handler):
    """Collects asyncio's debug-mode "Executing ... took ..." warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing ") and " took " in message:
            self.messages.append(message)


async def _assert_no_leaks(threads_before: set[threading.Thread],
                           tasks_before: set[asyncio.Task[object]]) -> None:
    """Fail on tasks or threads the test started and left running."""
    await asyncio.sleep(0)
    leaked_tasks = [t for t in asyncio.all_tasks() - tasks_before
                    if t is not asyncio.current_task() and not t.done()]
    deadline = time.monotonic() + THREAD_GRACE_S
    leaked_threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    while leaked_threads and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
        leaked_threads = [t for t in leaked_threads if t.is_alive()]
    for t in leaked_tasks:
        t.cancel()
    assert not leaked_tasks, f"leaked asyncio tasks: {leaked_tasks}"
    assert not leaked_threads, f"leaked threads: {[t.name for t in leaked_threads]}"


async def _shutdown_default_executor() -> None:
    """Stop the loop's idle to_thread() workers: they are pooled, not leaked."""
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.shutdown_default_executor(), THREAD_GRACE_S)


@pytest_asyncio.fixture
async def no_leaks() -> AsyncIterator[None]:
    """Fail the test if it leaves threads or tasks (other than the test's own) running."""
    threads_before = set(threading.enumerate())
    tasks_before = asyncio.all_tasks()
    yield
    await _assert_no_leaks(threads_before, tasks_before)


@pytest_asyncio.fixture
async def loop_hygiene() -> AsyncIterator[SlowCallbackRecords]:
    """Fail the test on a blocked loop (debug mode, SLOW_CALLBACK_S) and on leaks."""
    loop = asyncio.get_running_loop()
    debug, slow_s = loop.get_debug(), loop.slow_callback_duration
    asyncio_log = logging.getLogger("asyncio")
    level = asyncio_log.level
    slow = SlowCallbackRecords()
    threads_before = set(threading.enumerate())
    tasks_before = asyncio.all_tasks()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_CALLBACK_S
    asyncio_log.addHandler(slow)
    if not asyncio_log.isEnabledFor(logging.WARNING):
        asyncio_log.setLevel(logging.WARNING)
    try:
        with blockbuster_ctx(SCANNED_PACKAGE):
            yield slow
        await _shutdown_default_executor()
    finally:
        asyncio_log.removeHandler(slow)
        asyncio_log.setLevel(level)
        loop.slow_callback_duration = slow_s
        loop.set_debug(debug)
    quoted = "\n  ".join(slow.messages[:MAX_QUOTED_RECORDS])
    assert not slow.messages, (
        f"the event loop was blocked over {SLOW_CALLBACK_S} s {len(slow.messages)} time(s):"
        f"\n  {quoted}")
    await _assert_no_leaks(threads_before, tasks_before)

"""Hygiene checks used by the daemon's test modules: no leaked threads or asyncio tasks."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import pytest_asyncio

#: How long a test's threads may take to finish after the test body returns.
THREAD_GRACE_S = 2.0


@pytest_asyncio.fixture
async def no_leaks() -> AsyncIterator[None]:
    """Fail the test if it leaves threads or tasks (other than the test's own) running."""
    threads_before = set(threading.enumerate())
    tasks_before = asyncio.all_tasks()
    yield
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

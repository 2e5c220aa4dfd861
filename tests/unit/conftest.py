"""Unit-test hygiene: every async test fails on a blocked event loop, leaked tasks or threads."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest

from tests.support.hygiene import loop_hygiene, no_leaks

__all__ = ["loop_hygiene", "no_leaks"]


@pytest.fixture(autouse=True)
def _async_hygiene(request: pytest.FixtureRequest) -> Iterator[None]:
    """Apply ``loop_hygiene`` to coroutine tests; sync tests are left alone."""
    if inspect.iscoroutinefunction(getattr(request.node, "obj", None)):
        request.getfixturevalue("loop_hygiene")
    yield

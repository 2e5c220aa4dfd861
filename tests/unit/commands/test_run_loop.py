"""`edgeqa run` picks its event loop: uvloop when installed (the `fast` extra), else asyncio's;
EDGEQA_EVENT_LOOP=asyncio forces asyncio's."""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

import pytest

from edgeqa.commands.run import loop_factory


def test_auto_takes_uvloop_when_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    factory = loop_factory("auto")
    assert factory is uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        assert runner.run(_loop_type()) is uvloop.Loop


def test_asyncio_forces_the_standard_loop() -> None:
    assert loop_factory("asyncio") is None


def test_auto_without_uvloop_is_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_uvloop(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "uvloop":
            raise ImportError("no uvloop")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_uvloop)
    assert loop_factory("auto") is None


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())

"""`edgeqa run` picks its event loop: uvloop when installed (the `fast` extra), else asyncio's;
EDGEQA_EVENT_LOOP=asyncio forces asyncio's."""

from __future__ import annotations

import asyncio
import builtins
import os
import subprocess
import sys
from pathlib import Path
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


@pytest.fixture
def without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import uvloop`` fails, as on a machine without the ``fast`` extra."""
    real_import = builtins.__import__

    def no_uvloop(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "uvloop":
            raise ImportError("no uvloop")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_uvloop)


@pytest.mark.usefixtures("without_uvloop")
def test_auto_without_uvloop_is_asyncio() -> None:
    assert loop_factory("auto") is None


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


@pytest.mark.parametrize("value", ["", "UVLOOP", "trio", "auto "])
def test_an_unknown_value_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="must be one of auto, asyncio, uvloop"):
        loop_factory(value)


@pytest.mark.usefixtures("without_uvloop")
def test_uvloop_asked_for_and_missing_is_an_error() -> None:
    with pytest.raises(ValueError, match="uvloop is not installed"):
        loop_factory("uvloop")


def test_edgeqa_run_says_so_and_exits_2(tmp_path: Path) -> None:
    """The whole process, as an admin meets it: one line, status 2, no traceback."""
    conf = tmp_path / "edgeqa.toml"
    conf.write_text("")
    env = {**os.environ, "EDGEQA_EVENT_LOOP": "trio"}
    done = subprocess.run([sys.executable, "-m", "edgeqa", "run", "--config", str(conf)],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done
    assert "EDGEQA_EVENT_LOOP: must be one of auto, asyncio, uvloop, got 'trio'" in done.stderr
    assert "Traceback" not in done.stderr

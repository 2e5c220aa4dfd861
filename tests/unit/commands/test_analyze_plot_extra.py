"""`edgeqa analyze --plot` without the ``plot`` extra: one line saying how to install it, exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edgeqa.cli import main
from tests.support.paths import CALLS


def test_plot_without_matplotlib_says_how_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # None in sys.modules makes `import matplotlib` raise ImportError, as when it is absent.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "call.png"
    assert main(["analyze", str(CALLS / "clean.wav"), "--plot", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "edgeqa analyze: --plot needs matplotlib: pip install 'edgeqa[plot]'"]
    assert not out.exists()


def test_analyze_without_plot_needs_no_matplotlib(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["analyze", str(CALLS / "clean.wav"), "--json"]) == 0
    assert capsys.readouterr().out.startswith("{")

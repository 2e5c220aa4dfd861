"""systemd/edgeqa.service passes `systemd-analyze verify` (when systemd's tools are installed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

UNIT = REPO / "systemd" / "edgeqa.service"
INSTALLED_PATH = "/usr/local/bin/edgeqa"

systemd_analyze = shutil.which("systemd-analyze")


@pytest.mark.skipif(systemd_analyze is None, reason="systemd-analyze is not installed")
def test_unit_verifies(tmp_path: Path) -> None:
    # verify checks that ExecStart's binary exists: point it at this environment's edgeqa.
    edgeqa = Path(sys.executable).with_name("edgeqa")
    assert edgeqa.is_file(), edgeqa
    text = UNIT.read_text()
    assert INSTALLED_PATH in text
    unit = tmp_path / "edgeqa.service"
    unit.write_text(text.replace(INSTALLED_PATH, str(edgeqa)))
    assert systemd_analyze is not None
    done = subprocess.run([systemd_analyze, "verify", str(unit)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_unit_is_notify_with_watchdog_and_no_futile_restarts() -> None:
    """The unit is Type=notify with a watchdog, and never restarts on bad config or credentials."""
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "RestartPreventExitStatus=2 3",
                 "KillSignal=SIGTERM"):
        assert line in text, line

"""Issue 10: store files were created 0644 outside systemd. The store, its -wal and -shm, and
the directories edgeqa creates for call data are private now, whatever the umask."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeqa.recording.playback import StereoCache
from edgeqa.recording.stereo import ExportError
from edgeqa.store import Event, Store


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual interactive umask (022), under which files came out 0644."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


async def test_new_store_and_its_wal_and_shm_are_0600_in_0700_dirs(
        tmp_path: Path, loose_umask: None) -> None:
    path = tmp_path / "var" / "lib" / "edgeqa" / "edgeqa.db"
    store = Store(path)
    await store.open()
    try:
        await store.append([Event("queue.updated", 1.0, {"i": 1})])
        files = await asyncio.to_thread(lambda: {p.name: _mode(p) for p in path.parent.iterdir()})
    finally:
        await store.close()
    assert files["edgeqa.db"] == 0o600
    assert files["edgeqa.db-wal"] == 0o600 and files["edgeqa.db-shm"] == 0o600
    assert set(files.values()) == {0o600}
    for created in (tmp_path / "var", tmp_path / "var" / "lib", path.parent):
        assert await asyncio.to_thread(_mode, created) == 0o700, created


async def test_existing_store_keeps_its_mode_with_a_warning(
        tmp_path: Path, loose_umask: None, caplog: pytest.LogCaptureFixture) -> None:
    existing = tmp_path / "existing"
    await asyncio.to_thread(existing.mkdir, 0o755)
    path = existing / "edgeqa.db"
    store = Store(path)
    await store.open()
    await store.close()
    await asyncio.to_thread(path.chmod, 0o640)  # an admin's choice: left as it is, but named
    with caplog.at_level(logging.WARNING, logger="edgeqa.runtime.private"):
        store = Store(path)
        await store.open()
        await store.close()
    assert await asyncio.to_thread(_mode, path) == 0o640
    assert f"{path} is open to group or others (mode 0640): chmod 600 {path}" in caplog.text
    assert await asyncio.to_thread(_mode, existing) == 0o755  # an existing directory: unchanged


def test_stereo_cache_directory_is_0700(tmp_path: Path, loose_umask: None) -> None:
    async def rows_of(call_id: str) -> list[dict[str, object]]:
        raise AssertionError("not called")

    cache = StereoCache(rows_of, tmp_path / "cache" / "stereo")
    with pytest.raises(ExportError):
        cache._build("c1", [], tmp_path / "cache" / "stereo" / "c1.wav")
    assert _mode(tmp_path / "cache") == 0o700 and _mode(tmp_path / "cache" / "stereo") == 0o700

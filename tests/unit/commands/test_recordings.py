"""`edgeqa recordings`: lists the store's rows with filters; --verify exits 1 on a mismatch."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from edgeqa.cli import main
from edgeqa.recording.events import Recording, event_for
from edgeqa.store import Store

T0 = 1733012345.0  # 2024-12-01 00:19:05 UTC


def _setup(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    files = {}
    events = []
    for n, (call_id, agent, when) in enumerate((("c1", "Alice", T0), ("c2", "Bob", T0 + 86400))):
        path = tmp_path / f"{call_id}.wav"
        path.write_bytes(bytes([n]) * 100)
        files[call_id] = path
        events.append(event_for(Recording(
            call_id, "customer", str(path), when, "sales", agent, when + 5, "pcm_s16le/8000",
            100, hashlib.sha256(path.read_bytes()).hexdigest(), "complete"), when + 5))
    db = tmp_path / "edgeqa.db"

    async def write() -> None:
        store = Store(db)
        await store.open()
        try:
            await store.append(events)
        finally:
            await store.close()

    asyncio.run(write())
    conf = tmp_path / "edgeqa.toml"
    conf.write_text('[ami]\nsecret_file = "no-such-file"\n[store]\npath = "edgeqa.db"\n')
    return conf, files


def test_list_and_filter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf, _ = _setup(tmp_path)
    assert main(["recordings", "-c", str(conf)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("2024-12-01 00:19:05  c1  customer  complete")
    assert "agent=Alice" in out[0] and "agent=Bob" in out[1]
    for args, want in ((["--agent", "Bob"], ["c2"]), (["--queue", "none"], []),
                       (["--since", "2024-12-02"], ["c2"]), (["--until", "2024-12-02"], ["c1"])):
        assert main(["recordings", "-c", str(conf), *args]) == 0
        got = [line.split()[2] for line in capsys.readouterr().out.splitlines()]
        assert got == want, args


def test_verify_reports_each_mismatch_and_exits_1(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    conf, files = _setup(tmp_path)
    assert main(["recordings", "-c", str(conf), "--verify"]) == 0
    assert "verified 2 files: 2 match, 0 mismatch" in capsys.readouterr().err
    files["c1"].write_bytes(b"tampered")
    files["c2"].unlink()
    assert main(["recordings", "-c", str(conf), "--verify"]) == 1
    out = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("MISMATCH")]
    assert len(out) == 2
    assert out[0].startswith(f"MISMATCH c1 customer: {files['c1']}: sha256 ")
    assert out[1] == f"MISMATCH c2 customer: {files['c2']}: No such file or directory"


def test_a_bad_date_or_store_is_a_clear_error(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["recordings", "--since", "yesterday"])
    assert "not a date: 'yesterday'" in capsys.readouterr().err
    conf = tmp_path / "edgeqa.toml"
    conf.write_text('[store]\npath = "missing.db"\n')
    assert main(["recordings", "-c", str(conf)]) == 1
    assert "cannot read recordings from" in capsys.readouterr().err

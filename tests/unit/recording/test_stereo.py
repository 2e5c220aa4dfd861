"""The stereo builder: interleaving and alignment byte for byte, and every refusal in one line."""

from __future__ import annotations

import asyncio
import hashlib
import io
import struct
import wave
from array import array
from pathlib import Path

import pytest

from edgeqa.analyze.wavfile import read_wav
from edgeqa.metrics.codecs import decode
from edgeqa.recording.playback import CacheLimits, StereoCache
from edgeqa.recording.stereo import ExportError, build_stereo, interleave, offsets, wav_header
from tests.unit.recording.calls import AGENT, CUSTOMER, as_dicts, leg_rows
from tests.unit.recording.wavs import mono_wav


def _pcm(*samples: int) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def test_interleave_is_left_right_frame_by_frame() -> None:
    assert interleave(_pcm(1, -2, 3), _pcm(10, 20, -30), 0, 0) == _pcm(1, 10, -2, 20, 3, -30)


def test_the_later_leg_is_shifted_and_the_shorter_padded_with_silence() -> None:
    assert interleave(_pcm(1, 2, 3), _pcm(10), 0, 1) == _pcm(1, 0, 2, 10, 3, 0)
    assert interleave(_pcm(1), _pcm(10, 20), 2, 0) == _pcm(0, 10, 0, 20, 1, 0)
    assert interleave(b"", _pcm(-32768), 0, 0) == _pcm(0, -32768)
    with pytest.raises(ValueError):
        interleave(b"", b"", -1, 0)


def test_offsets_are_frames_from_the_earliest_start() -> None:
    assert offsets([100.0, 100.01], 8000) == (0, 80)
    assert offsets([100.5, 100.0], 16000) == (8000, 0)


def test_the_header_is_what_the_wave_module_writes() -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(4 * 5))
    assert wav_header(5, 8000) + bytes(20) == buf.getvalue()


def test_build_from_files_aligns_and_decodes(tmp_path: Path) -> None:
    rows = as_dicts(leg_rows(tmp_path))
    # The agent's file in µ-law: it is decoded to PCM16 (both legs at 8 kHz).
    ulaw = bytes(range(256)) * 2
    agent = Path(rows[1]["path"])
    agent.write_bytes(mono_wav(ulaw, codec="ulaw"))

    rows[1]["sha256"] = hashlib.sha256(agent.read_bytes()).hexdigest()
    facts = build_stereo(rows[0]["call_id"], rows, tmp_path / "out.wav")
    out = read_wav(tmp_path / "out.wav")
    assert (out.channels, out.sample_rate, out.codec) == (2, 8000, "pcm16")
    assert (facts.customer_offset_frames, facts.agent_offset_frames) == (0, 80)
    want = interleave(CUSTOMER, decode("ulaw", ulaw), 0, 80)
    assert out.data == want and facts.frames == len(want) // 4 == len(CUSTOMER) // 2 == 800
    assert out.channel(0)[:len(CUSTOMER)] == CUSTOMER
    assert out.channel(1) == bytes(160) + decode("ulaw", ulaw) + bytes(2 * (800 - 592))


def _refusal(tmp_path: Path, rows: list[dict[str, object]], call_id: str = "1733012345.7",
             out: Path | None = None) -> ExportError:
    with pytest.raises(ExportError) as err:
        build_stereo(call_id, rows, out or tmp_path / "out.wav")
    assert "\n" not in str(err.value)
    return err.value


def test_refusals(tmp_path: Path) -> None:
    rows = as_dicts(leg_rows(tmp_path))
    assert _refusal(tmp_path, rows, "9.9").kind == "unknown"
    assert "no agent recording" in str(_refusal(tmp_path, rows[:1]))
    live = as_dicts(leg_rows(tmp_path, states=("complete", "recording")))
    assert _refusal(tmp_path, live).kind == "in_progress"
    bad = [dict(rows[0]), dict(rows[1], state="corrupt", reason="not a RIFF/WAVE file")]
    err = _refusal(tmp_path, bad)
    assert err.kind == "unusable" and "agent recording is corrupt (not a RIFF" in str(err)
    tampered = tmp_path / "1733012345.7-customer.wav"
    data = bytearray(tampered.read_bytes())
    data[-1] ^= 1
    tampered.write_bytes(bytes(data))
    err = _refusal(tmp_path, rows)
    assert err.kind == "unusable" and "the file changed since it was recorded" in str(err)
    tampered.unlink()
    assert "No such file" in str(_refusal(tmp_path, rows))
    assert not (tmp_path / "out.wav").exists()


def test_an_unwritable_output_and_differing_rates_are_refused(tmp_path: Path) -> None:
    rows = as_dicts(leg_rows(tmp_path))
    err = _refusal(tmp_path, rows, out=tmp_path / "no-dir" / "out.wav")
    assert err.kind == "output" and "cannot write" in str(err)
    agent = Path(rows[1]["path"])
    agent.write_bytes(mono_wav(AGENT, rate_hz=16000))

    rows[1]["sha256"] = hashlib.sha256(agent.read_bytes()).hexdigest()
    assert "rates differ (8000 Hz and 16000 Hz)" in str(_refusal(tmp_path, rows))


def test_the_cache_builds_once_and_keeps_within_its_limits(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    calls = {cid: as_dicts(leg_rows(tmp_path, cid)) for cid in ("1.1", "1.2", "1.3")}
    built: list[str] = []
    import edgeqa.recording.playback as playback

    def counting(call_id: str, rows: object, out: Path) -> object:
        built.append(call_id)
        return build_stereo(call_id, rows, out)  # type: ignore[arg-type]

    monkeypatch.setattr(playback, "build_stereo", counting)

    async def rows_of(call_id: str) -> list[dict[str, object]]:
        return calls.get(call_id, [])

    async def go() -> list[Path]:
        cache = StereoCache(rows_of, tmp_path / "cache", CacheLimits(max_files=2))
        first = await cache.stereo("1.1")
        again = await cache.stereo("1.1")
        assert first == again and built == ["1.1"]
        return [first, await cache.stereo("1.2"), await cache.stereo("1.3")]

    paths = asyncio.run(go())
    assert built == ["1.1", "1.2", "1.3"]
    kept = sorted((tmp_path / "cache").glob("*.wav"))
    assert len(kept) == 2 and paths[2] in kept
    assert array("h", read_wav(paths[2]).channel(0))[:3].tolist() == [-1000, -963, -926]

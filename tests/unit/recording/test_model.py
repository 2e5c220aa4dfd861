"""The recording model: the policy, file names, MixMonitor options and the WAV header check."""

from __future__ import annotations

import struct
from pathlib import Path, PurePosixPath

import pytest

from edgeqa.config import parse_config
from edgeqa.recording.config import RecordingConfig
from edgeqa.recording.model import check_wav, leg_files, mixmonitor_options, selected
from tests.unit.recording.wavs import closed_wav, open_wav

ENV = {"EDGEQA_AMI_SECRET": "a", "EDGEQA_ARI_PASSWORD": "b"}


def cfg(section: str = "") -> RecordingConfig:
    return parse_config(f"[recording]\n{section}", env=ENV).recording


def test_every_queue_call_is_recorded_by_default_and_no_other_call() -> None:
    c = cfg()
    assert selected(c, "sales", ("Alice", "PJSIP/agent1"))
    assert not selected(c, None, ("PJSIP/agent1",))  # not a queue call
    assert not selected(c, "", ())
    assert not selected(cfg("enabled = false"), "sales", ())


def test_queue_and_agent_opt_in_and_opt_out() -> None:
    only = cfg('queues = ["sales"]\nagents = ["PJSIP/agent1"]')
    assert selected(only, "sales", ("Alice", "PJSIP/agent1"))
    assert not selected(only, "support", ("PJSIP/agent1",))
    assert not selected(only, "sales", ("PJSIP/agent2",))
    assert not selected(only, "sales", ())  # agent unknown: not opted in
    out = cfg('exclude_queues = ["vip"]\nexclude_agents = ["Bob"]')
    assert selected(out, "sales", ("Alice",))
    assert not selected(out, "vip", ("Alice",))
    assert not selected(out, "sales", ("Bob", "PJSIP/agent2"))  # by member name
    both = cfg('queues = ["sales"]\nexclude_queues = ["sales"]')
    assert not selected(both, "sales", ())  # exclusion wins


def test_leg_files_map_asterisk_paths_to_daemon_paths() -> None:
    c = cfg('asterisk_dir = "/var/spool/rec"\ndaemon_dir = "/srv/ast/var/spool/rec"')
    files = leg_files(c, "1733012345.12", 1733012345.0)  # 2024-12-01 UTC
    assert [f.leg for f in files] == ["customer", "agent"]
    assert files[0].asterisk_path == PurePosixPath(
        "/var/spool/rec/2024/12/01/1733012345.12-customer.wav")
    assert files[1].daemon_path == Path("/srv/ast/var/spool/rec/2024/12/01/1733012345.12-agent.wav")
    assert mixmonitor_options(files) == (
        "r(/var/spool/rec/2024/12/01/1733012345.12-customer.wav)"
        "t(/var/spool/rec/2024/12/01/1733012345.12-agent.wav)")
    assert leg_files(cfg('format = "wav16"'), "1.2", 0.0)[0].asterisk_path.suffix == ".wav16"


@pytest.mark.parametrize("call_id", ["a,b", "x)y", "1/2", "", "a b", "$(x)", "a\r\nb"])
def test_an_unsafe_call_id_is_refused_not_cleaned(call_id: str) -> None:
    with pytest.raises(ValueError, match="not safe"):
        leg_files(cfg(), call_id, 0.0)


def test_a_closed_wav_is_complete_with_its_codec() -> None:
    data = closed_wav()
    assert check_wav(data, len(data)).state == "complete"
    assert check_wav(data, len(data)).codec == "pcm_s16le/8000"
    wide = closed_wav(rate_hz=16000)
    assert check_wav(wide, len(wide)).codec == "pcm_s16le/16000"


def test_broken_files_are_corrupt_with_a_reason() -> None:
    data = closed_wav()
    cases = {
        "empty file": (b"", 0),
        "not a RIFF/WAVE file": (b"OggS" + data[4:], len(data)),
        "RIFF size 8 != file size 1644": (open_wav(), len(data)),  # never closed
        f"RIFF size {len(data)} != file size {len(data) + 10}": (data, len(data) + 10),
        "no data chunk": (data[:36], len(data)),
    }
    for reason, (head, size) in cases.items():
        got = check_wav(head, size)
        assert (got.state, got.reason) == ("corrupt", reason), reason
    not_pcm = bytearray(data)
    struct.pack_into("<H", not_pcm, 20, 7)  # mu-law
    assert check_wav(bytes(not_pcm), len(data)).reason == "WAV format 7 is not PCM"
    beyond = bytearray(data)
    struct.pack_into("<I", beyond, 40, 5000)
    assert check_wav(bytes(beyond), len(data)).reason == "data size 5000 beyond the file end"

"""Two live queue calls and a supervisor, every phone playing its own tone and recording what
it hears (issue 11's acceptance): customer1 -> 6001 -> agent1 and customer2 -> 6010 -> agent10
(agent10's name starts with agent1's), and supervisor1, who spies.

Times are the host's ``time.monotonic()``. A phone's recording starts when its ``recording``
event arrives, so an instant ``t`` is sample ``(t - start) * rate`` of that file; windows are
measured after the recordings are closed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.softphone import RECEIVED_KEY, Softphone
from tests.support import tones

log = logging.getLogger(__name__)

#: Endpoint of each role's phone.
ENDPOINT: Mapping[str, str] = {
    "customer": "customer1", "agent1": "agent1", "customer2": "customer2",
    "agent10": "agent10", "supervisor": "supervisor1",
}
#: What each customer dials: the support queue, pinned to agent1 / agent10.
PINNED_EXTEN: Mapping[str, str] = {"customer": "6001", "customer2": "6010"}
CALL_PHONES = ("customer", "agent1", "customer2", "agent10")
CONNECT_TIMEOUT_S = 15.0
#: After a mode change, the audio path needs this long before a window opens (DTMF or AMI
#: round trip, ChanSpy's next frame, the phones' jitter buffers).
SETTLE_S = 0.8
#: ...and a window closes this long before the next change.
GUARD_S = 0.2
#: How long each mode is held: long enough for several 200 ms blocks after the margins.
MODE_HOLD_S = 3.0


@dataclass
class Recording:
    """One recording of what a phone heard, from ``started`` (host monotonic)."""

    path: Path
    started: float = 0.0


@dataclass
class Window:
    """A span in which every phone should have heard ``expect[role]`` (sets of roles)."""

    label: str
    start: float
    end: float
    session: int  # which supervisor recording covers it
    expect: Mapping[str, frozenset[str]] = field(default_factory=dict)


class SpyScene:
    """The five phones; ``start()`` connects both calls and starts tones and recordings."""

    def __init__(self, sandbox: Sandbox, out_dir: Path,
                 supervisor_endpoint: str = ENDPOINT["supervisor"]) -> None:
        self.out = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.wavs = tones.tone_wavs(out_dir / "tones")
        self.phones: dict[str, Softphone] = {}
        endpoints = {**ENDPOINT, "supervisor": supervisor_endpoint}
        try:
            for role, endpoint in endpoints.items():
                self.phones[role] = Softphone.for_sandbox(
                    sandbox, endpoint, auto_answer=role in ("agent1", "agent10", "supervisor"),
                    log_dir=out_dir)
        except BaseException:
            self.close()
            raise
        self.recordings: dict[str, Recording] = {}
        self.supervisor_recordings: list[Recording] = []
        self.windows: list[Window] = []
        self._armed_at = 0

    def phone(self, role: str) -> Softphone:
        return self.phones[role]

    def start(self, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        """Register every phone, place both calls, then play and record on the four."""
        for phone in self.phones.values():
            phone.register(timeout_s)
        for customer, agent in (("customer", "agent1"), ("customer2", "agent10")):
            self.phones[customer].dial(PINNED_EXTEN[customer])
            self.phones[agent].wait_incoming(timeout_s)
        for role in CALL_PHONES:
            phone = self.phones[role]
            phone.wait_state("CONFIRMED", timeout_s)
            phone.wait_event(lambda e, p=phone: e.get("event") == "media"
                             and e.get("call") == p.call_no, timeout_s, f"{role} media")
        for role in CALL_PHONES:
            self.recordings[role] = self._record(role, self.out / f"{role}-heard.wav")
            self.phones[role].play(self.wavs[role], loop=True)

    def arm_supervisor(self) -> int:
        """Have the supervisor's phone play its tone and record its next call (now, or once
        its media is up); return the session's number (index into supervisor_recordings)."""
        phone = self.phones["supervisor"]
        n = len(self.supervisor_recordings)
        rec = Recording(self.out / f"supervisor-heard-{n}.wav")
        self._armed_at = phone.event_count()
        phone.record(rec.path)
        phone.play(self.wavs["supervisor"], loop=True)
        self.supervisor_recordings.append(rec)
        return n

    def supervisor_media_up(self, timeout_s: float = CONNECT_TIMEOUT_S) -> float:
        """Wait until the supervisor's current call records; return when it started."""
        phone = self.phones["supervisor"]
        event = phone.wait_event(lambda e: e.get("event") == "recording", timeout_s,
                                 "supervisor recording", since=self._armed_at)
        phone.call_no = int(event["call"])  # an answered incoming call, or the one it dialled
        started = float(event[RECEIVED_KEY])
        self.supervisor_recordings[-1].started = started
        return started

    def first_heard(self, session: int) -> float | None:
        """When the supervisor's phone first heard anything in ``session`` (its recording
        closed): the spied call's first audio; None if it heard nothing."""
        rec = self.supervisor_recordings[session]
        samples, rate = tones.read_wav(rec.path)
        onset = tones.onset_s(samples, rate)
        return None if onset is None else rec.started + onset

    def window(self, label: str, start: float, end: float, session: int,
               expect: Mapping[str, frozenset[str]]) -> None:
        """Expect, between two mode changes at ``start`` and ``end``, what each phone hears."""
        self.windows.append(Window(label, start + SETTLE_S, end - GUARD_S, session, expect))

    def finish(self) -> None:
        """Close every recording (the WAV headers are written then)."""
        for role in CALL_PHONES:
            self.phones[role].stop_record()

    def verify(self) -> list[str]:
        """Measure every window on every phone's recording; return the mismatches (and log
        each measurement)."""
        wrong: list[str] = []
        loaded: dict[Path, tuple[tones.Samples, int]] = {}
        for w in self.windows:
            for role, want in w.expect.items():
                rec = (self.supervisor_recordings[w.session] if role == "supervisor"
                       else self.recordings[role])
                if rec.path not in loaded:
                    loaded[rec.path] = tones.read_wav(rec.path)
                samples, rate = loaded[rec.path]
                try:
                    report = tones.tones_in(samples, rate, w.start - rec.started,
                                            w.end - rec.started)
                except ValueError as exc:
                    wrong.append(f"{w.label}: {role}: {exc}")
                    continue
                heard = report.heard()
                clear = all(v != "unclear" for v in report.verdicts.values())
                log.info("%s: %s heard %s", w.label, role, report.describe())
                if heard != want or not clear:
                    wrong.append(f"{w.label}: {role} should hear {sorted(want)}, "
                                 f"measured {report.describe()}")
        return wrong

    def close(self) -> None:
        for phone in self.phones.values():
            phone.request_stop()
        for phone in self.phones.values():
            phone.stop()

    def _record(self, role: str, path: Path) -> Recording:
        phone = self.phones[role]
        mark = phone.event_count()
        phone.record(path)
        event = phone.wait_event(lambda e: e.get("event") == "recording", 5.0,
                                 f"{role} recording", since=mark)
        return Recording(path, float(event[RECEIVED_KEY]))

    def __enter__(self) -> SpyScene:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Who hears whom on the two calls with no spy: each party hears the other.
BASE: Mapping[str, frozenset[str]] = {
    "customer": frozenset({"agent1"}), "agent1": frozenset({"customer"}),
    "customer2": frozenset({"agent10"}), "agent10": frozenset({"customer2"}),
}


def expected(mode: str, target: str) -> dict[str, frozenset[str]]:
    """What every phone hears while the supervisor spies on ``target`` (agent1 or agent10) in
    ``mode``: ChanSpy's documented semantics (listen: nobody hears the supervisor; whisper:
    only the agent; barge: both parties)."""
    customer = "customer" if target == "agent1" else "customer2"
    out = {role: set(heard) for role, heard in BASE.items()}
    out["supervisor"] = {customer, target}
    if mode in ("whisper", "barge"):
        out[target].add("supervisor")
    if mode == "barge":
        out[customer].add("supervisor")
    return {role: frozenset(heard) for role, heard in out.items()}


_CHANNEL = re.compile(r"^(PJSIP/[A-Za-z0-9_.]+-[0-9a-f]{8})!", re.MULTILINE)


def agent_channel(sandbox: Sandbox, endpoint: str) -> str:
    """The exact live channel of ``endpoint`` (e.g. PJSIP/agent1-0000000a), from the switch."""
    found = [c for c in _CHANNEL.findall(sandbox.cli("core show channels concise"))
             if c.rsplit("-", 1)[0] == f"PJSIP/{endpoint}"]
    if len(found) != 1:
        raise AssertionError(f"expected one live channel of {endpoint}, got {found}")
    return found[0]

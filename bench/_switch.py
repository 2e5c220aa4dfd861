"""Switch-side load for the benches: a sipp-driven sandbox, queue agents that are sipp, CPU
counters from /proc.

The load: sipp UAC as customer1 (digest auth) dials 600, the sandbox's queue ``support``; the
queue rings members added at run time, ``PJSIP/agent1/sip:agentK@127.0.0.1:<UAS port>`` (the
sandbox's agent1 endpoint, ulaw, media through Asterisk), answered by a sipp UAS. The UAC plays
8 kHz G.711 µ-law speech (``rtp_stream``, one RTP socket per call); the UAS echoes every packet
back (``-rtp_echo``): G.711 both ways through the queue's bridge, 50 packets/s per direction per
leg. Members have a Custom: device state set to NOT_INUSE, so the queue rings them while busy
(one sipp answers them all).

Two audio plans (``Load.audio``):
- ``conversation`` (the default): the UAC plays the customer channel of the two-leg fixture
  ``clean.wav`` and the UAS plays its agent channel (``rtp_stream`` too, each call its own RTP
  socket: [rtpstream_audio_port] in its SDP), so each call carries a conversation: turns, a few
  overlaps, no dead air;
- ``echo``: the UAS echoes the customer's packets (``-rtp_echo``): the agent leg is the
  customer's audio again, at the same level, a few ms later. Every utterance is then talk-over
  and every pause of the customer's is mutual silence (dead air at 5 s, then its alerts): a
  worst case for the number of events, not a call.
"""

from __future__ import annotations

import audioop
import os
import struct
import subprocess
import time
import wave
from dataclasses import dataclass
from pathlib import Path

from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.ports import LOOPBACK, SandboxPorts

CALLS_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "calls"
SIPP = "/usr/bin/sipp"
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: sipp's ports in the load sandbox, as offsets from SandboxPorts.load_sipp().
UAC_SIP, UAS_SIP, UAS_ECHO, UAC_MEDIA = 0, 1, 2, 10
#: sipp's [auto_media_port] steps by 4 per call (call.cpp): this many calls fit below +949.
MAX_CALLS = (949 - 600 - UAC_MEDIA) // 4
QUEUE = "support"
SERVICE = "600"

UAC_XML = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="edgeqa customer through the queue">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Customer 1" <sip:customer1@[remote_ip]:[remote_port]>;tag=[pid]T[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:customer1@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [auto_media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=sendrecv
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="401" auth="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: "Customer 1" <sip:customer1@[remote_ip]:[remote_port]>;tag=[pid]T[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Customer 1" <sip:customer1@[remote_ip]:[remote_port]>;tag=[pid]T[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:customer1@[local_ip]:[local_port]>
      [authentication username=customer1 password=customer1-sandbox]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [auto_media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=sendrecv
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Customer 1" <sip:customer1@[remote_ip]:[remote_port]>;tag=[pid]T[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Contact: <sip:customer1@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <nop><action><exec rtp_stream="@@AUDIO@@,-1,0"/></action></nop>
  <pause milliseconds="@@HOLD_MS@@"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Customer 1" <sip:customer1@[remote_ip]:[remote_port]>;tag=[pid]T[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 3 BYE
      Contact: <sip:customer1@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
"""

#: The agent's sipp (UAS): the echo plan echoes RTP on the one -mp socket ([media_port]); the
#: conversation plan plays the agent channel from a socket of each call's own
#: ([rtpstream_audio_port]), started once the call is answered.
UAS_XML = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="edgeqa agent (answers; @@ROLE@@)">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]A[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio @@MEDIA_PORT@@ RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=sendrecv
    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
@@AFTER_ACK@@  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
</scenario>
"""
UAS_ECHO_XML = (UAS_XML.replace("@@ROLE@@", "echoes RTP")
                .replace("@@MEDIA_PORT@@", "[media_port]").replace("@@AFTER_ACK@@", ""))
UAS_TALK_XML = (UAS_XML.replace("@@ROLE@@", "plays the agent channel")
                .replace("@@MEDIA_PORT@@", "[rtpstream_audio_port]")
                .replace("@@AFTER_ACK@@",
                         '  <nop><action><exec rtp_stream="@@AUDIO@@,-1,0"/></action></nop>\n'))


def write_ulaw_wav(path: Path, source: Path = CALLS_DIR / "clean.wav",
                   channel: int = 0) -> Path:
    """Write ``channel`` of ``source`` (8 kHz 16-bit; 0 the customer, 1 the agent) as a µ-law
    WAV (format tag 7)."""
    with wave.open(str(source)) as w:
        if w.getframerate() != 8000 or w.getsampwidth() != 2:
            raise ValueError(f"{source}: want 8 kHz 16-bit")
        pcm = w.readframes(w.getnframes())
        if w.getnchannels() == 2:
            pcm = audioop.tomono(pcm, 2, 1.0 - channel, float(channel))
    ulaw = audioop.lin2ulaw(pcm, 2)
    fmt = struct.pack("<HHIIHHH", 7, 1, 8000, 8000, 1, 8, 0)
    data = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", len(ulaw)) + ulaw)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(data)) + data)
    return path


def proc_cpu_s(pid: int, stat: str = "") -> float:
    """Return the user + system CPU seconds of process ``pid`` (all its threads) so far
    (``stat``: another /proc stat file, e.g. a thread's)."""
    with open(stat or f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class CpuWindow:
    """CPU of several processes over one wall-clock window, in % of one core."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.t0 = time.monotonic()
        self.cpu0 = {name: proc_cpu_s(pid) for name, pid in pids.items()}

    def pct(self) -> dict[str, float]:
        """Return {name: % of one core} since the window opened."""
        dt = time.monotonic() - self.t0
        return {name: 100.0 * (proc_cpu_s(pid) - self.cpu0[name]) / dt
                for name, pid in self.pids.items()}


@dataclass
class Load:
    """A sipp UAC + UAS pair driving ``calls`` concurrent calls of ``hold_s`` through the queue."""

    box: Sandbox
    workdir: Path
    calls: int
    hold_s: float
    #: The audio plan (module docstring): "conversation" or "echo".
    audio: str = "conversation"
    uac: subprocess.Popen[bytes] | None = None
    uas: subprocess.Popen[bytes] | None = None

    @property
    def ports(self) -> SandboxPorts:
        return self.box.ports

    def add_agents(self) -> None:
        """Queue members, one per call, all answered by the sipp UAS."""
        sipp = self.ports.load_sipp()
        for k in range(self.calls):
            iface = f"PJSIP/agent1/sip:agent{k}@{LOOPBACK}:{sipp + UAS_SIP}"
            state = f"Custom:edgeqabench{k}"
            self.box.cli(f"devstate change {state} NOT_INUSE")
            self.box.cli(f"queue add member {iface} to {QUEUE} penalty 0 as bench{k} "
                         f"state_interface {state}")

    def start(self) -> None:
        """Start the UAS, then the UAC placing ``calls`` calls at 10 per second."""
        if self.calls > MAX_CALLS:
            raise ValueError(f"at most {MAX_CALLS} calls fit sipp's media ports")
        self.workdir.mkdir(parents=True, exist_ok=True)
        audio = write_ulaw_wav(self.workdir / "customer.wav")
        uac_xml = self.workdir / "uac.xml"
        uac_xml.write_text(UAC_XML.replace("@@AUDIO@@", str(audio))
                           .replace("@@HOLD_MS@@", str(int(self.hold_s * 1000))))
        uas_xml = self.workdir / "uas.xml"
        sipp = self.ports.load_sipp()
        if self.audio == "echo":
            uas_xml.write_text(UAS_ECHO_XML)
            media = ["-mp", str(sipp + UAS_ECHO), "-rtp_echo"]
        elif self.audio == "conversation":
            agent = write_ulaw_wav(self.workdir / "agent.wav", channel=1)
            uas_xml.write_text(UAS_TALK_XML.replace("@@AUDIO@@", str(agent)))
            media = ["-mp", str(sipp + UAS_ECHO)]
        else:
            raise ValueError(f"audio plan {self.audio!r}: conversation or echo")
        self.uas = self._spawn("uas", [SIPP, "-sf", str(uas_xml), "-p", str(sipp + UAS_SIP),
                                       *media, "-i", LOOPBACK, "-mi", LOOPBACK, "-nostdin",
                                       "-trace_err"])
        self.uac = self._spawn("uac", [
            SIPP, f"{LOOPBACK}:{self.ports.sip}", "-sf", str(uac_xml), "-s", SERVICE,
            "-p", str(sipp + UAC_SIP), "-mp", str(sipp + UAC_MEDIA),
            "-i", LOOPBACK, "-mi", LOOPBACK, "-nostdin", "-trace_err", "-trace_stat",
            "-m", str(self.calls), "-l", str(self.calls), "-r", "10",
            "-timeout", f"{int(self.hold_s + 60)}s", "-timeout_error"])

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.out", "wb")
        return subprocess.Popen(argv, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)

    def wait(self, timeout_s: float) -> int | None:
        """Wait for the UAC to finish its calls; return its exit status (None: still running)."""
        assert self.uac is not None
        try:
            return self.uac.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """Stop both sipp processes (SIGTERM, then SIGKILL)."""
        for proc in (self.uac, self.uas):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def wait_bridged(box: Sandbox, calls: int, timeout_s: float) -> None:
    """Wait until ``calls`` queue calls are up (2 PJSIP channels each)."""
    deadline = time.monotonic() + timeout_s
    while True:
        up = sum(1 for line in box.cli("core show channels concise").splitlines()
                 if line.startswith("PJSIP/") and "!Up!" in line)
        if up >= 2 * calls:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {up} of {2 * calls} call legs up after {timeout_s} s")
        time.sleep(0.5)


def count_objects(box: Sandbox) -> tuple[int, int, dict[str, int]]:
    """(bridges, channels, {bridge technology: count}) from Asterisk's CLI."""
    techs: dict[str, int] = {}
    for line in box.cli("bridge show all").splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5:
            techs[parts[-2]] = techs.get(parts[-2], 0) + 1
    channels = sum(1 for line in box.cli("core show channels concise").splitlines()
                   if "!" in line)
    return sum(techs.values()), channels, techs


def sipp_result(workdir: Path) -> tuple[int, int]:
    """(successful, failed) calls from the UAC's -trace_stat CSV in ``workdir``."""
    for csv in sorted(workdir.glob("uac_*.csv")):
        lines = csv.read_text().splitlines()
        head, last = lines[0].split(";"), lines[-1].split(";")
        row = dict(zip(head, last, strict=False))
        return int(row.get("SuccessfulCall(C)", 0)), int(row.get("FailedCall(C)", 0))
    return 0, 0


def thread_cpu_s(pid: int) -> dict[str, float]:
    """Return {"thread name/id": user + system CPU seconds so far} of process ``pid``'s
    threads."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            out[f"{name}/{task.name}"] = proc_cpu_s(pid, str(task / "stat"))
        except (OSError, ValueError):  # the thread ended meanwhile
            continue
    return out


#: Profile categories: the first rule whose marker is in a sampled stack takes the sample
#: (markers are py-spy frame texts: "function (module path)").
PROFILE_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("checkpoint (summary_so_far + store)", ("summary_so_far", "put_checkpoint", "_keep (")),
    ("tick: analyzer", ("feed (edgeqa/metrics/call.py", "tick (edgeqa/metrics/call.py")),
    ("tick: events -> stream events", ("_emit (edgeqa/live/call.py",)),
    ("tick: take from the engine", ("take (edgeqa/live/call.py",)),
    ("capture ring + engine", ("capture.py", "ingest")),  # (the ticks' timer reads the ring)
    ("tick: the rest", ("_tick_calls",)),
    ("store writer thread", ("_run (edgeqa/store/writer.py", "_commit (edgeqa/store/writer.py")),
    ("store append (encode)", ("append (edgeqa/store/writer.py", "encode (edgeqa/store/db.py")),
    ("stream hub + pipeline", ("edgeqa/stream/",)),
    ("AMI", ("edgeqa/ami/",)),
    ("tracker", ("edgeqa/calls/",)),
    ("ARI", ("edgeqa/ari/",)),
    ("recording", ("edgeqa/recording/",)),
    ("API", ("edgeqa/api/",)),
    ("asyncio loop", ("asyncio/",)),
)


def profile_breakdown(raw: Path) -> tuple[int, dict[str, int], dict[str, int]]:
    """From a py-spy ``--format raw`` file: (samples, {category: samples}, {leaf frame:
    samples}); categories from PROFILE_RULES, the rest "other"."""
    total = 0
    cats: dict[str, int] = {}
    leaves: dict[str, int] = {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        cat = next((name for name, marks in PROFILE_RULES if any(m in stack for m in marks)),
                   "other")
        cats[cat] = cats.get(cat, 0) + n
        leaf = stack.rsplit(";", 1)[-1]
        leaves[leaf] = leaves.get(leaf, 0) + n
    return total, cats, leaves

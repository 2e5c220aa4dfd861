"""What each way of tapping a leg costs the switch: tap topologies created through ARI directly,
measured in turn on one sipp queue load (bench/_switch.py), recording on.

One sandbox, the daemon with recording on and live metrics off (so every call has its per-leg
MixMonitor, as in production), N calls held long enough for every topology. For each topology in
--topologies, every leg of every call gets a tap (spy=in), the audio goes to a separate sink
process that only counts and discards it, and after --settle-s Asterisk's, the daemon's and the
sink's CPU are measured over --window-s; then the taps are torn down. ``none`` (no tap) is
measured first and last, so a drift of the shared machine shows. Topologies (per leg):

  a16    snoop -> mixing bridge -> externalMedia RTP slin16 (today's edgeqa/live/taps.py)
  a8     the same, externalMedia format slin (8 kHz: the snoop's own format for a G.711 leg)
  aulaw  the same, format ulaw
  a8px   a8 in a "mixing,proxy_media" bridge (no native capability)
  as8    snoop -> mixing bridge -> externalMedia AudioSocket over TCP, slin
  ws8    snoop -> mixing bridge -> externalMedia WebSocket (chan_websocket, we connect), slin
  ring   as sniff, but through a TPACKET_V3 ring (PACKET_RX_RING): the kernel wakes the reader
         once per filled or 20 ms-old block, not once per packet
  sniff  no ARI object at all: the sink reads the phones' RTP to Asterisk's RTP ports with an
         AF_PACKET socket on lo and a BPF filter (UDP, dst port in Asterisk's RTP range, packets
         received by the host only). Needs CAP_NET_RAW, and plain RTP (not SRTP).

It also measures (b): during the first ``none`` window it polls the size of every MixMonitor file
being written and prints how often and by how much they grow.

    EDGEQA_SANDBOX_PORT_BASE=20000 python bench/tap_prototypes.py --calls 30
One line per window: ``tap calls=N topology=T asterisk_cpu_pct=.. daemon_cpu_pct=..
sink_cpu_pct=.. ...`` and ratios to ``none``; the last line is machine-readable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _switch import MAX_CALLS, CpuWindow, Load, count_objects, wait_bridged

from edgeqa.sandbox.demo.daemon_proc import DaemonProcess, write_config
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.ports import LOOPBACK, SandboxPorts

APP = "edgeqabench"
API_PORT_OFFSET = 950
RTP_PORT_OFFSET = 960  # the daemon's (live off: unused)
SINK_UDP_OFFSET = 970
SINK_TCP_OFFSET = 971
#: externalMedia parameters per topology (bridge type, params).
TOPOLOGIES: dict[str, tuple[str, dict[str, str]]] = {
    "a16": ("mixing", {"format": "slin16"}),
    "a8": ("mixing", {"format": "slin"}),
    "aulaw": ("mixing", {"format": "ulaw"}),
    "a8px": ("mixing,proxy_media", {"format": "slin"}),
    "as8": ("mixing", {"format": "slin", "encapsulation": "audiosocket", "transport": "tcp"}),
    "ws8": ("mixing", {"format": "slin", "encapsulation": "none", "transport": "websocket",
                       "connection_type": "server"}),
}
PARALLEL_SETUPS = 6
AUDIO_COUNTS = ("udp_bytes", "tcp_bytes", "ws_bytes", "sniff_bytes")
SOL_SOCKET, SO_ATTACH_FILTER = 1, 26
#: Linux >= 4.20: the kernel does not even clone the host's outgoing packets for this socket
#: (dev_queue_xmit_nit skips a tap with ignore_outgoing), so Asterisk's sends cost nothing more.
SOL_PACKET, PACKET_IGNORE_OUTGOING = 263, 23
ETH_P_IP = 0x0800


def rtp_filter(port_start: int, port_end: int) -> list[tuple[int, int, int, int]]:
    """Classic BPF for an AF_PACKET SOCK_DGRAM socket (data starts at the IP header): accept
    packets the host receives (not its own outgoing copies on lo) that are unfragmented UDP to a
    destination port in [port_start, port_end]."""
    reject = 0
    prog = [
        (0x20, 0, 0, 0xFFFFF004),      # A = skb->pkt_type (SKF_AD_OFF + SKF_AD_PKTTYPE)
        (0x15, 0, 9, 0),               # PACKET_HOST?
        (0x30, 0, 0, 9),               # A = ip protocol
        (0x15, 0, 7, 17),              # UDP?
        (0x28, 0, 0, 6),               # A = flags + fragment offset
        (0x45, 5, 0, 0x1FFF),          # a fragment: reject
        (0xB1, 0, 0, 0),               # X = IP header length
        (0x48, 0, 0, 2),               # A = UDP destination port
        (0x35, 0, 2, port_start),      # >= start?
        (0x25, 1, 0, port_end),        # > end: reject
        (0x06, 0, 0, 0xFFFF),          # accept
        (0x06, 0, 0, reject),
    ]
    return prog


PACKET_VERSION, PACKET_RX_RING, TPACKET_V3 = 10, 5, 2
RING_BLOCK_BYTES, RING_BLOCKS, RING_FRAME_BYTES, RING_BLOCK_TIMEOUT_MS = 1 << 16, 64, 2048, 20


class Ring:
    """A TPACKET_V3 receive ring on an AF_PACKET socket: whole blocks of packets per wake-up."""

    def __init__(self, sock: Any) -> None:
        import mmap
        import struct as st
        self.sock = sock
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        req = st.pack("7I", RING_BLOCK_BYTES, RING_BLOCKS, RING_FRAME_BYTES,
                      RING_BLOCK_BYTES * RING_BLOCKS // RING_FRAME_BYTES,
                      RING_BLOCK_TIMEOUT_MS, 0, 0)
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
        self.map = mmap.mmap(sock.fileno(), RING_BLOCK_BYTES * RING_BLOCKS)
        self.view = memoryview(self.map)
        self.next = 0

    def drain(self) -> tuple[int, int]:
        """Return (packets, RTP bytes) of every block the kernel handed over; give them back."""
        import struct as st
        packets = nbytes = 0
        while True:
            base = self.next * RING_BLOCK_BYTES
            # tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1: block_status,
            # num_pkts, offset_to_first_pkt, ...
            status, num, first = st.unpack_from("3I", self.map, base + 8)
            if not status & 1:  # TP_STATUS_USER
                return packets, nbytes
            off = base + first
            for _ in range(num):
                next_off, _sec, _nsec, snaplen = st.unpack_from("4I", self.map, off)
                packets += 1
                nbytes += snaplen - 28
                off += next_off
            st.pack_into("I", self.map, base + 8, 0)  # TP_STATUS_KERNEL
            self.next = (self.next + 1) % RING_BLOCKS


def open_sniffer(port_start: int, port_end: int) -> Any:
    import ctypes
    import socket
    import struct as st
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    code = b"".join(st.pack("HBBI", *ins) for ins in rtp_filter(port_start, port_end))
    buf = ctypes.create_string_buffer(code)
    fprog = st.pack("HL", len(code) // 8, ctypes.addressof(buf))
    sock.setsockopt(SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    sock.setsockopt(SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    if os.environ.get("TAP_SNIFF_OUTGOING") != "1":
        sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    sock.bind(("lo", ETH_P_IP))  # Python converts the protocol to network order here
    sock.setblocking(False)
    return sock


# ---------------------------------------------------------------------------------------------
# The sink: a separate process that receives and discards (so its CPU is the transport's floor).

async def sink_main(udp_port: int, tcp_port: int) -> None:
    counts = {"udp_packets": 0, "udp_bytes": 0, "tcp_bytes": 0, "ws_bytes": 0, "ws_open": 0,
              "sniff_packets": 0, "sniff_bytes": 0}
    sniffer: Any = None
    ring: Ring | None = None

    def on_ring() -> None:
        assert ring is not None
        packets, nbytes = ring.drain()
        counts["sniff_packets"] += packets
        counts["sniff_bytes"] += nbytes

    def on_sniff() -> None:
        buf = bytearray(2048)
        while True:
            try:
                n = sniffer.recv_into(buf)
            except BlockingIOError:
                return
            counts["sniff_packets"] += 1
            counts["sniff_bytes"] += n - 28  # the RTP packet, without IP and UDP headers

    loop = asyncio.get_running_loop()

    class Udp(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            counts["udp_packets"] += 1
            counts["udp_bytes"] += len(data)

    await loop.create_datagram_endpoint(Udp, local_addr=(LOOPBACK, udp_port))

    async def on_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            counts["tcp_bytes"] += len(data)
        writer.close()

    server = await asyncio.start_server(on_tcp, LOOPBACK, tcp_port)
    session = aiohttp.ClientSession()

    async def ws(url: str) -> None:
        try:
            async with session.ws_connect(url, protocols=("media",)) as sock:
                counts["ws_open"] += 1
                async for msg in sock:
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        counts["ws_bytes"] += len(msg.data)
        except aiohttp.ClientError as exc:
            print(json.dumps({"ws_error": str(exc)}), flush=True)
        finally:
            counts["ws_open"] -= 1

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks = set()
    while line := (await reader.readline()).decode().strip():
        if line.startswith("ws "):
            task = asyncio.create_task(ws(line[3:]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        elif line.startswith(("sniff ", "ring ")):
            lo, hi = map(int, line.split()[1:])
            sniffer = open_sniffer(lo, hi)
            if line.startswith("ring "):
                ring = Ring(sniffer)
                loop.add_reader(sniffer.fileno(), on_ring)
            else:
                loop.add_reader(sniffer.fileno(), on_sniff)
        elif line == "unsniff" and sniffer is not None:
            loop.remove_reader(sniffer.fileno())
            if ring is not None:
                ring.view.release()
                ring.map.close()
                ring = None
            sniffer.close()
            sniffer = None
        elif line == "report":
            print(json.dumps(counts), flush=True)
    server.close()
    await session.close()


class Sink:
    """The sink process, driven over its stdin."""

    def __init__(self, udp_port: int, tcp_port: int) -> None:
        self.udp_port, self.tcp_port = udp_port, tcp_port
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--sink", str(udp_port), str(tcp_port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def report(self) -> dict[str, int]:
        self.send("report")
        assert self.proc.stdout is not None
        while True:
            got = json.loads(self.proc.stdout.readline())
            if "udp_bytes" in got:
                return got
            print(f"sink: {got}", flush=True)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------------------------------------
# ARI

@dataclass
class Tap:
    leg: str
    bridge: str | None = None
    snoop: str | None = None
    media: str | None = None
    failed: bool = False


@dataclass
class Ari:
    url: str
    headers: dict[str, str]
    session: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse | None = None
    calls: int = 0
    errors: list[str] = field(default_factory=list)

    async def req(self, method: str, path: str, **params: str) -> Any:
        self.calls += 1
        async with self.session.request(method, self.url + path, params=params,
                                        headers=self.headers) as resp:
            body = await resp.read()
            if resp.status >= 300:
                raise RuntimeError(f"{method} {path} {params}: {resp.status} {body[:200]!r}")
            return json.loads(body) if body else None

    async def add(self, bridge: str, channel: str) -> None:
        """addChannel, retried while the channel is not in Stasis yet (the 422 race)."""
        for _ in range(400):
            try:
                await self.req("POST", f"/bridges/{bridge}/addChannel", channel=channel)
                return
            except RuntimeError as exc:
                if " 422 " not in str(exc):
                    raise
                await asyncio.sleep(0.05)
        raise RuntimeError(f"channel {channel} never entered Stasis")


async def tap_leg(ari: Ari, leg: str, topology: str, sink: Sink, http_port: int) -> Tap:
    """Tap one leg; a failure is counted in ``ari.errors`` and what exists is returned."""
    tap = Tap(leg)
    try:
        await _tap_leg(ari, tap, topology, sink, http_port)
    except RuntimeError as exc:
        ari.errors.append(f"tap {leg}: {exc}")
        tap.failed = True
    return tap


async def _tap_leg(ari: Ari, tap: Tap, topology: str, sink: Sink, http_port: int) -> None:
    bridge_type, params = TOPOLOGIES[topology]
    leg = tap.leg
    tap.bridge = (await ari.req("POST", "/bridges", type=bridge_type,
                                name=f"bench-{uuid.uuid4().hex[:8]}"))["id"]
    tap.snoop = (await ari.req("POST", f"/channels/{leg}/snoop", spy="in", app=APP))["id"]
    await ari.add(tap.bridge, tap.snoop)
    extra = dict(params)
    if extra.get("transport") == "websocket":
        pass
    elif extra.get("encapsulation") == "audiosocket":
        extra["external_host"] = f"{LOOPBACK}:{sink.tcp_port}"
        extra["data"] = str(uuid.uuid4())
    else:
        extra["external_host"] = f"{LOOPBACK}:{sink.udp_port}"
    media = await ari.req("POST", "/channels/externalMedia", app=APP, **extra)
    tap.media = media["id"]
    if extra.get("transport") == "websocket":
        conn = media.get("channelvars", {}).get("MEDIA_WEBSOCKET_CONNECTION_ID")
        if not conn:
            raise RuntimeError(f"no MEDIA_WEBSOCKET_CONNECTION_ID in {media}")
        sink.send(f"ws ws://{LOOPBACK}:{http_port}/media/{conn}")
    await ari.add(tap.bridge, tap.media)


async def untap(ari: Ari, tap: Tap) -> None:
    for channel in (tap.media, tap.snoop):
        if channel:
            try:
                await ari.req("DELETE", f"/channels/{channel}")
            except RuntimeError as exc:
                ari.errors.append(str(exc))
    if tap.bridge:
        try:
            await ari.req("DELETE", f"/bridges/{tap.bridge}")
        except RuntimeError as exc:
            ari.errors.append(str(exc))


async def legs(ari: Ari) -> list[str]:
    return [c["id"] for c in await ari.req("GET", "/channels")
            if c["name"].startswith("PJSIP/") and c["state"] == "Up"]


async def bounded(n: int, coros: list[Any]) -> list[Any]:
    sem = asyncio.Semaphore(n)

    async def one(c: Any) -> Any:
        async with sem:
            return await c
    return await asyncio.gather(*(one(c) for c in coros))


# ---------------------------------------------------------------------------------------------
# (b): how MixMonitor files grow

def watch_growth(directory: Path, seconds: float, interval_s: float = 0.02) -> dict[str, float]:
    """Poll every *.wav under ``directory`` for ``seconds``; return growth statistics."""
    sizes: dict[Path, tuple[int, float]] = {}
    steps: list[int] = []
    gaps: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = time.monotonic()
        for path in directory.rglob("*.wav"):
            try:
                size = path.stat().st_size
            except OSError:
                continue
            old = sizes.get(path)
            if old is None:
                sizes[path] = (size, -1.0)
            elif size != old[0]:
                if old[1] >= 0:
                    gaps.append(now - old[1])
                    steps.append(size - old[0])
                sizes[path] = (size, now)
        time.sleep(interval_s)
    if not gaps:
        return {"files": len(sizes), "growths": 0}
    return {"files": len(sizes), "growths": len(gaps),
            "step_bytes_median": statistics.median(steps), "step_bytes_max": max(steps),
            "gap_s_median": statistics.median(gaps), "gap_s_max": max(gaps)}


# ---------------------------------------------------------------------------------------------

async def measure(box: Sandbox, daemon: DaemonProcess, sink: Sink, calls: int,
                  topologies: list[str], args: argparse.Namespace,
                  recordings: Path) -> list[dict[str, Any]]:
    url, user, password, _ = box.ari
    out: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        ari = Ari(url, {"Authorization": aiohttp.encode_basic_auth(user, password)}, session)
        ws_url = (url.replace("http://", "ws://") + f"/events?app={APP}"
                  f"&api_key={user}:{password}")
        ari.ws = await session.ws_connect(ws_url)
        drain = asyncio.create_task(_drain(ari.ws))
        try:
            for topology in topologies:
                taps: list[Tap] = []
                t_setup = time.monotonic()
                if topology in ("sniff", "ring"):
                    sink.send(f"{topology} {box.ports.rtp_start} {box.ports.rtp_end}")
                elif topology != "none":
                    leg_ids = await legs(ari)
                    taps = await bounded(PARALLEL_SETUPS, [
                        tap_leg(ari, leg, topology, sink, box.ports.http) for leg in leg_ids])
                setup_s = time.monotonic() - t_setup
                await asyncio.sleep(args.settle_s)
                pids = {"asterisk": box.pid() or 0, "sink": sink.proc.pid}
                if daemon.proc is not None:
                    pids["daemon"] = daemon.proc.pid
                before = sink.report()
                load1 = os.getloadavg()[0]
                window = CpuWindow(pids)
                growth: dict[str, float] = {}
                if topology == "none" and not out and args.growth:
                    growth = await asyncio.to_thread(watch_growth, recordings, args.window_s)
                else:
                    await asyncio.sleep(args.window_s)
                cpu = window.pct()
                after = sink.report()
                dt = args.window_s
                bridges, channels, techs = await asyncio.to_thread(count_objects, box)
                sniffing = topology in ("sniff", "ring")
                tapped = 2 * calls if sniffing else sum(not t.failed for t in taps)
                if len(taps) > tapped:
                    print(f"{topology}: {len(taps) - tapped} of {len(taps)} legs failed: "
                          f"{ari.errors[-1]}", flush=True)
                row = {"topology": topology, "calls": calls, "legs": tapped,
                       "setup_s": setup_s, **cpu, "bridges": bridges, "channels": channels,
                       "techs": techs, "load1": load1, "growth": growth,
                       "kB_per_s_per_leg": sum(after[k] - before[k] for k in AUDIO_COUNTS)
                       / dt / 1000 / max(1, tapped)}
                out.append(row)
                print_row(row)
                await bounded(PARALLEL_SETUPS, [untap(ari, tap) for tap in taps])
                if topology in ("sniff", "ring"):
                    sink.send("unsniff")
                await asyncio.sleep(1.0)
        finally:
            await ari.ws.close()
            drain.cancel()
        if ari.errors:
            print(f"ARI teardown errors: {len(ari.errors)}, first: {ari.errors[0]}")
    return out


async def _drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    async for _ in ws:
        pass


def print_row(r: dict[str, Any]) -> None:
    techs = ",".join(f"{k}:{v}" for k, v in sorted(r["techs"].items()))
    print(f"tap calls={r['calls']} topology={r['topology']} asterisk_cpu_pct={r['asterisk']:.1f} "
          f"daemon_cpu_pct={r.get('daemon', 0.0):.1f} sink_cpu_pct={r['sink']:.1f} "
          f"legs={r['legs']} bridges={r['bridges']} channels={r['channels']} "
          f"bridge_tech={techs} audio_kB_s_per_leg={r['kB_per_s_per_leg']:.1f} "
          f"setup_s={r['setup_s']:.1f} load1={r['load1']:.2f}", flush=True)
    if r["growth"]:
        g = r["growth"]
        print("mixmonitor_growth " + " ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in g.items()),
            flush=True)


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--sink":
        asyncio.run(sink_main(int(sys.argv[2]), int(sys.argv[3])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--topologies", default="none,a16,a8,aulaw,a8px,as8,ws8,sniff,ring,none")
    parser.add_argument("--settle-s", type=float, default=4.0)
    parser.add_argument("--window-s", type=float, default=15.0)
    parser.add_argument("--no-growth", dest="growth", action="store_false")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    topologies = args.topologies.split(",")
    unknown = set(topologies) - set(TOPOLOGIES) - {"none", "sniff", "ring"}
    if unknown or args.calls > MAX_CALLS:
        parser.error(f"unknown topology {unknown} or more than {MAX_CALLS} calls")
    # Per topology: setup (about 0.1 s per leg on this machine), settle, window, teardown.
    per_topology_s = args.settle_s + args.window_s + 0.1 * 2 * args.calls + 3.0
    hold_s = args.calls / 10 + 15 + per_topology_s * len(topologies) + 10
    work = Path(tempfile.mkdtemp(prefix="tap_prototypes."))
    base = SandboxPorts.from_env().base
    box = Sandbox(ports=SandboxPorts.for_load(base), instance="btaps")
    box.start()
    load = Load(box, work / "sipp", args.calls, hold_s)
    sink = Sink(base + SINK_UDP_OFFSET, base + SINK_TCP_OFFSET)
    inner = box.paths.chroot / "spool" / "edgeqa-recordings"
    recordings = box.paths.host_path(inner)
    port = base + API_PORT_OFFSET
    conf = write_config(work / "daemon", ami=box.ami, ari=box.ari, api_port=port, live=False,
                        rtp_port=base + RTP_PORT_OFFSET, recordings=(str(inner), recordings),
                        extra='[logging]\nlevel = "WARNING"\n')
    daemon = DaemonProcess(conf, port, work / "daemon" / "daemon.log")
    rows: list[dict[str, Any]] = []
    try:
        load.add_agents()
        daemon.start()
        daemon.wait_ready()
        print(f"sandbox {box.name}: {args.calls} calls held {hold_s:.0f} s, recording on, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
        load.start()
        wait_bridged(box, args.calls, 30.0)
        time.sleep(5.0)
        rows = asyncio.run(measure(box, daemon, sink, args.calls, topologies, args, recordings))
    finally:
        load.stop()
        sink.close()
        daemon.stop()
        box.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    base_rows = [r for r in rows if r["topology"] == "none"]
    if not base_rows:
        return 0
    base_cpu = statistics.mean(r["asterisk"] for r in base_rows)
    spread = (max(r["asterisk"] for r in base_rows) - min(r["asterisk"] for r in base_rows))
    print(f"none: asterisk {base_cpu:.1f} % (first/last spread {spread:.1f} points)")
    summary = []
    for r in rows:
        if r["topology"] != "none":
            adds = 100.0 * (r["asterisk"] / base_cpu - 1.0)
            per_leg = (r["asterisk"] - base_cpu) / max(1, r["legs"])
            print(f"ratio calls={args.calls} topology={r['topology']} "
                  f"asterisk/none={r['asterisk'] / base_cpu:.2f}x (adds {adds:.0f} %, "
                  f"{per_leg:.3f} % of a core per tapped leg) sink/asterisk="
                  f"{100 * r['sink'] / r['asterisk']:.0f} %")
            summary.append(f"{r['topology']}={adds:.0f}")
    print(f"tap_summary calls={args.calls} none_cpu_pct={base_cpu:.1f} adds_pct "
          + " ".join(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

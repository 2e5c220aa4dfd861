"""What live metrics cost the switch: Asterisk's and the daemon's CPU under a sipp queue load.

Starts its own sandbox (port base from $EDGEQA_SANDBOX_PORT_BASE, the load plan of
edgeqa/sandbox/ports.py: no phones, Asterisk's RTP range +100..+599), adds one queue member per
call answered by a sipp UAS, and for each N in --calls and each mode in --modes drives N
concurrent calls of --hold-s through the queue (G.711 both ways, see bench/_switch.py). Modes:
``none`` no daemon; ``off`` the daemon with recording on and live metrics off; ``on`` recording
and live metrics on with the snoop tap (``[live] tap = "snoop"``); ``capture`` recording and live
metrics on with the capture tap (``tap = "capture"`` on the sandbox's RTP range; needs root).
CPU is measured from /proc/<pid>/stat over --window-s once every call is bridged and --settle-s
have passed (the daemon's taps are up by then).

The audio (--audio, bench/_switch.py): ``conversation`` (the default) each side plays its own
channel of the two-leg fixture clean.wav, so a call has turns, a few overlaps and no dead air;
``echo`` the agent's sipp echoes the customer's packets (the load before), so every utterance is
talk-over and every pause of the customer's is dead air with its alerts: a worst case for the
daemon's events (some 25 alerts and metric events a second at 60 calls, against about 2),
not a call.

CI-sized default: --calls 10 --hold-s 40 --window-s 15 (about 2 minutes). The issue-9 run:
    EDGEQA_SANDBOX_PORT_BASE=20000 python bench/bench_switch.py --calls 10,30,60 --hold-s 65 \\
        --window-s 35 --runs 2
The issue-9 acceptance run (capture): --calls 60 --modes off,capture --hold-s 65 --window-s 35
--runs 2. One line per run, then one ratio line per N; the last line is machine-readable:
    switch_summary calls=N live_adds_pct=.. daemon_of_asterisk_pct=..   (the largest N; the
    capture mode's figures when it ran, else the snoop tap's)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _switch import (
    MAX_CALLS,
    CpuWindow,
    Load,
    count_objects,
    profile_breakdown,
    sipp_result,
    thread_cpu_s,
    wait_bridged,
)

from edgeqa.sandbox.demo.daemon_proc import DaemonProcess, write_config
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.ports import SandboxPorts

#: The daemon's ports in the sandbox block, as in tests/support/daemon.py.
API_PORT_OFFSET = 950
RTP_PORT_OFFSET = 960
#: Calls are placed at 10 per second; all must be bridged within this.
RAMP_TIMEOUT_S = 30.0


#: Live modes: the [live] tap each one configures.
LIVE_TAPS = {"on": "snoop", "capture": "capture"}


def daemon_for(box: Sandbox, directory: Path, live: bool, max_calls: int,
               tap: str = "snoop") -> DaemonProcess:
    """The daemon as make_daemon (tests/support/daemon.py) configures it, recording on."""
    port = box.ports.base + API_PORT_OFFSET
    inner = box.paths.chroot / "spool" / "edgeqa-recordings"
    conf = write_config(directory, ami=box.ami, ari=box.ari, api_port=port, live=live,
                        rtp_port=box.ports.base + RTP_PORT_OFFSET,
                        recordings=(str(inner), box.paths.host_path(inner)),
                        extra='[logging]\nlevel = "WARNING"\n')
    text = conf.read_text()
    conf.write_text(text.replace("[live]\n", f"[live]\nmax_calls = {max_calls}\ntap = \"{tap}\"\n"
                                 f"capture_port_start = {box.ports.rtp_start}\n"
                                 f"capture_port_end = {box.ports.rtp_end}\n", 1))
    return DaemonProcess(conf, port, directory / "daemon.log")


def one_run(box: Sandbox, work: Path, calls: int, mode: str, args: argparse.Namespace) -> dict:
    """Drive ``calls`` calls with the daemon in ``mode``; return the run's figures."""
    work.mkdir(parents=True, exist_ok=True)
    daemon = None
    if mode != "none":
        daemon = daemon_for(box, work / "daemon", live=mode in LIVE_TAPS,
                            max_calls=max(calls, 50), tap=LIVE_TAPS.get(mode, "snoop"))
        daemon.start()
        daemon.wait_ready()
    load = Load(box, work / "sipp", calls, args.hold_s, args.audio)
    try:
        load.start()
        wait_bridged(box, calls, RAMP_TIMEOUT_S)
        time.sleep(args.settle_s)
        pids = {"asterisk": box.pid() or 0}
        if daemon is not None and daemon.proc is not None:
            pids["daemon"] = daemon.proc.pid
        load1 = os.getloadavg()[0]
        window = CpuWindow(pids)
        threads0 = thread_cpu_s(pids["daemon"]) if "daemon" in pids else {}
        spy = start_profile(pids.get("daemon"), work, args)
        time.sleep(args.window_s)
        cpu = window.pct()
        threads = {name: 100.0 * (s - threads0.get(name, 0.0)) / args.window_s
                   for name, s in thread_cpu_s(pids["daemon"]).items()} \
            if "daemon" in pids else {}
        if spy is not None:
            spy.wait(30)
        bridges, channels, techs = count_objects(box)
        if load.wait(args.hold_s + 60) is None:
            raise RuntimeError("sipp did not finish its calls")
        ok, failed = sipp_result(load.workdir)
    finally:
        load.stop()
        if daemon is not None:
            daemon.stop()
    return {"calls": calls, "mode": mode, "asterisk": cpu["asterisk"],
            "daemon": cpu.get("daemon", 0.0), "bridges": bridges, "channels": channels,
            "techs": techs, "ok": ok, "failed": failed, "load1": load1, "threads": threads,
            "profile": work / "profile.txt" if spy is not None else None}


def start_profile(pid: int | None, work: Path, args: argparse.Namespace) \
        -> subprocess.Popen[bytes] | None:
    """With --profile: sample the daemon ``pid`` over the window with py-spy (--profile-hz, no
    pause of the daemon; only threads holding the GIL: samples follow the CPU of Python
    code, not waits)."""
    if pid is None or not args.profile:
        return None
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy on PATH (pip install py-spy)")
    return subprocess.Popen([spy, "record", "-p", str(pid), "-d", str(int(args.window_s)),
                             "-r", str(args.profile_hz), "-f", "raw", "--gil",
                             "--nonblocking", "-o", str(work / "profile.txt")],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def print_profile(r: dict, top: int = 12) -> None:
    """The daemon's CPU by thread, then by part (py-spy samples scaled to the CPU of its
    main thread and the store writer's, % of one core)."""
    threads = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["threads"].items(),
                                                            key=lambda kv: -kv[1]) if v > 0)
    print(f"  daemon threads (% of a core): {threads}")
    path = r.get("profile")
    if path is None or not path.exists():
        return
    total, cats, leaves = profile_breakdown(path)
    if not total:
        return
    scale = r["daemon"] / total
    for name, n in sorted(cats.items(), key=lambda kv: -kv[1]):
        print(f"  part {name}: {n * scale:.2f} % ({100 * n / total:.0f} % of samples)")
    for name, n in sorted(leaves.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  leaf {name}: {100 * n / total:.1f} % of samples")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="10", help="comma-separated N (default 10)")
    parser.add_argument("--modes", default="off,on", help="none,off,on (default off,on)")
    parser.add_argument("--hold-s", type=float, default=40.0)
    parser.add_argument("--settle-s", type=float, default=8.0)
    parser.add_argument("--window-s", type=float, default=15.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--audio", choices=("conversation", "echo"), default="conversation",
                        help="conversation: each side plays its channel of a two-leg call; "
                             "echo: the agent echoes the customer (every utterance talk-over, "
                             "every pause dead air: the most events); bench/_switch.py")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--profile", action="store_true",
                        help="sample the daemon over each window with py-spy; print its CPU "
                        "by thread and by part (keeps the work directory)")
    parser.add_argument("--profile-hz", type=int, default=100,
                        help="py-spy's sampling rate (default 100)")
    args = parser.parse_args()
    counts = [int(n) for n in args.calls.split(",")]
    modes = args.modes.split(",")
    if max(counts) > MAX_CALLS or set(modes) - {"none", "off", *LIVE_TAPS}:
        parser.error(f"calls <= {MAX_CALLS}; modes from none,off,on,capture")
    if args.settle_s + args.window_s + max(counts) / 10 + 5 > args.hold_s:
        parser.error("--hold-s must outlast the ramp, --settle-s and --window-s")
    work = Path(tempfile.mkdtemp(prefix="bench_switch."))
    box = Sandbox(ports=SandboxPorts.for_load(SandboxPorts.from_env().base), instance="bswitch")
    box.start()
    results: list[dict] = []
    try:
        Load(box, work, max(counts), args.hold_s).add_agents()
        if args.profile:
            print(f"profiles under {work}", flush=True)
        print(f"sandbox {box.name} audio={args.audio} ports {box.ports.base}: RTP "
              f"{box.ports.rtp_start}-{box.ports.rtp_end}; {os.cpu_count()} cores; load average "
              f"{os.getloadavg()[0]:.2f}", flush=True)
        for run in range(args.runs):
            for calls in counts:
                for mode in modes:
                    r = one_run(box, work / f"r{run}-{calls}-{mode}", calls, mode, args)
                    results.append(r)
                    techs = ",".join(f"{k}:{v}" for k, v in sorted(r["techs"].items()))
                    print(f"switch calls={calls} live={mode} asterisk_cpu_pct={r['asterisk']:.1f} "
                          f"daemon_cpu_pct={r['daemon']:.1f} bridges={r['bridges']} "
                          f"channels={r['channels']} bridge_tech={techs} sipp_ok={r['ok']} "
                          f"sipp_failed={r['failed']} load1={r['load1']:.2f}", flush=True)
                    if r["threads"]:
                        print_profile(r)
    finally:
        box.stop()
        if not args.keep and not args.profile:
            shutil.rmtree(work, ignore_errors=True)
    summary = ""
    for calls in counts:
        by = {m: statistics.mean(r["asterisk"] for r in results
                                 if r["calls"] == calls and r["mode"] == m) for m in modes}
        dm = {m: statistics.mean(r["daemon"] for r in results
                                 if r["calls"] == calls and r["mode"] == m) for m in modes}
        parts = [f"calls={calls}"]
        for mode in ("on", "capture"):
            if "off" in by and mode in by:
                adds = 100.0 * (by[mode] / by["off"] - 1.0)
                share = 100.0 * dm[mode] / by[mode]
                parts += [f"asterisk_{mode}/off={by[mode] / by['off']:.2f}x "
                          f"(live adds {adds:.0f} %)", f"daemon/asterisk {mode}={share:.0f} %"]
                summary = (f"switch_summary calls={calls} tap={LIVE_TAPS[mode]} "
                           f"live_adds_pct={adds:.0f} daemon_of_asterisk_pct={share:.0f}")
        if "none" in by and "off" in by:
            parts.append(f"asterisk off/none={by['off'] / by['none']:.2f}x")
        print("ratio " + " ".join(parts))
    if summary:
        print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

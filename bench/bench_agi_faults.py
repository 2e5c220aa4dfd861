"""FastAGI servers under faults: edgeqa.agi.AgiServer vs panoramisk 1.4 fast_agi.Application.

Each server runs as its own child process (panoramisk from its own venv: --panoramisk-python,
default /tmp/pkvenv/bin/python) with one route, ``echo``, whose handler sends
``GET VARIABLE "CHANNEL(name)"`` and prints what it got (or the exception it raised). A
hand-written FAKE Asterisk peer (edgeqa/sandbox/agipeer.py; not Asterisk) then drives faults:

  malformed env, oversized line (8 MiB without a newline), socket half-closed mid-env and
  mid-command, HANGUP mid-command, non-UTF-8 bytes in the env and in a response, slowloris env
  (100 peers sending a byte every 0.5 s), and a flood of 1,000 concurrent sessions,

and prints per case, for each server: whether the handler saw the fault (surfaced), whether the
peer's socket was closed (and in how long, "HUNG" if not within the wait), the CPU the server
burned during the case (a spin shows as ~1 s per s), its RSS growth, its open sockets and live
tasks after the case (leaks; "stale" when its loop is blocked), unhandled-exception/traceback
lines in its log, and whether it still serves a well-behaved session within 2 s (one bad
session must cost that session only). First, the per-session latency (connect -> env -> one
command -> close) over loopback, sequentially.

    PYTHONPATH=. /work/main/.venv/bin/python bench/bench_agi_faults.py \
        [--panoramisk-python PATH] [--edgeqa-max-sessions N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from edgeqa.sandbox.agipeer import FakeAsteriskAgi, env_bytes

#: How long a peer waits for the server to close its socket before calling it hung.
CLOSE_WAIT_S = 8.0
FLOOD_SESSIONS = 1000
SLOWLORIS_PEERS = 100
LATENCY_SESSIONS = 300
REPO = Path(__file__).resolve().parents[1]
#: edgeqa's [agi] max_sessions for this run (--edgeqa-max-sessions; default the config's).
MAX_SESSIONS = [256]

OURS = textwrap.dedent('''
    import asyncio, sys
    from edgeqa.agi import AgiServer, AgiLimits
    async def echo(s):
        try:
            v = await s.get_variable("CHANNEL(name)")
            print("handled", repr(v), flush=True)
        except Exception as exc:
            print("handler-error", type(exc).__name__, str(exc)[:60], flush=True)
            raise
    async def tasks(path):
        while True:
            open(path, "w").write(str(len(asyncio.all_tasks()) - 2))
            await asyncio.sleep(0.1)
    async def main():
        srv = AgiServer({"echo": echo}, limits=AgiLimits(max_sessions=int(sys.argv[2])))
        await srv.start("127.0.0.1", int(sys.argv[1]))
        t = asyncio.create_task(tasks(sys.argv[3]))
        print("ready", flush=True)
        await asyncio.Event().wait()
    asyncio.run(main())
''')
PANORAMISK = textwrap.dedent('''
    import asyncio, sys, logging
    logging.basicConfig(level=logging.ERROR)
    from panoramisk.fast_agi import Application
    async def echo(request):
        try:
            r = await request.send_command('GET VARIABLE "CHANNEL(name)"')
            if "error" in r:  # how panoramisk reports a hang-up or a failed command
                print("handler-error", r["error"], r.get("msg", "")[:60], flush=True)
            else:
                print("handled", repr(r.get("result"))[:80], flush=True)
        except Exception as exc:
            print("handler-error", type(exc).__name__, str(exc)[:60], flush=True)
            raise
    async def tasks(path):
        while True:
            open(path, "w").write(str(len(asyncio.all_tasks()) - 2))
            await asyncio.sleep(0.1)
    async def main():
        app = Application(loop=asyncio.get_running_loop())
        app.add_route("echo", echo)
        await asyncio.start_server(app.handler, "127.0.0.1", int(sys.argv[1]))
        t = asyncio.create_task(tasks(sys.argv[3]))
        print("ready", flush=True)
        await asyncio.Event().wait()
    asyncio.run(main())
''')


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    out: Path
    python: str
    script: str
    base_sockets: int = 0

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def sockets(self) -> int:
        fd_dir = Path(f"/proc/{self.proc.pid}/fd")
        n = 0
        for fd in fd_dir.iterdir():
            try:
                n += os.readlink(fd).startswith("socket:")
            except OSError:
                pass
        return n - 1  # the listening socket

    def log(self) -> str:
        return self.out.read_text(errors="replace")

    def tasks(self) -> str:
        """Session tasks alive in the server (its own count, refreshed every 0.1 s; "?" if
        its loop is blocked and the count is stale)."""
        path = self.out.with_suffix(".tasks")
        try:
            age = time.time() - path.stat().st_mtime
            return path.read_text() + ("" if age < 1.0 else " (stale: loop blocked)")
        except (OSError, ValueError):
            return "?"


def start(name: str, python: str, script: str, port: int, work: Path) -> Server:
    path = work / f"server_{name}.py"
    path.write_text(script)
    out = work / f"{name}.log"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([python, str(path), str(port), str(MAX_SESSIONS[0]),
                             str(work / f"{name}.tasks")],
                            stdout=out.open("wb"),
                            stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 20
    while "ready" not in out.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{name} server did not start:\n{out.read_text()}")
        time.sleep(0.05)
    server = Server(name, proc, port, out, python, script)
    server.base_sockets = server.sockets()  # the loop's self-pipe
    return server


async def _closed_within(peer: FakeAsteriskAgi, wait_s: float) -> tuple[float | None, bytes]:
    """Seconds until the server closed the peer's socket (None: still open), and what it
    sent."""
    t0 = time.perf_counter()
    try:
        data = await peer.rest(wait_s)
    except (TimeoutError, ConnectionError):
        return None, b""
    return time.perf_counter() - t0, data


# --- the cases: each returns a one-line note of what the peer saw ---------------------------


async def case_malformed_env(port: int) -> str:
    async with FakeAsteriskAgi(port) as peer:
        await peer.send(b"this is not an agi environment\n\n")
        t, data = await _closed_within(peer, CLOSE_WAIT_S)
    return _closed(t, data)


async def case_oversized_line(port: int) -> str:
    async with FakeAsteriskAgi(port) as peer:
        try:
            for _ in range(8 * 16):  # 8 MiB, no newline
                await asyncio.wait_for(peer.send(b"agi_x: " + b"x" * 65536), 2.0)
        except (ConnectionError, TimeoutError) as exc:
            return f"server stopped reading/closed ({type(exc).__name__})"
        t, data = await _closed_within(peer, CLOSE_WAIT_S)
    return _closed(t, data)


async def case_half_close_mid_env(port: int) -> str:
    async with FakeAsteriskAgi(port) as peer:
        await peer.send(b"agi_network: yes\nagi_network_script: echo\n")
        peer.half_close()
        t, data = await _closed_within(peer, CLOSE_WAIT_S)
    return _closed(t, data)


async def case_half_close_mid_command(port: int) -> str:
    async with FakeAsteriskAgi(port) as peer:
        await peer.send_env("echo")
        await peer.command()
        peer.half_close()
        t, data = await _closed_within(peer, CLOSE_WAIT_S)
    return _closed(t, data)


async def case_hangup_mid_command(port: int) -> str:
    async with FakeAsteriskAgi(port) as peer:
        await peer.send_env("echo")
        await peer.command()
        await peer.reply("HANGUP")
        t, data = await _closed_within(peer, CLOSE_WAIT_S)
    return _closed(t, data)


async def case_non_utf8_env(port: int) -> str:
    async with FakeAsteriskAgi(port) as peer:
        await peer.send(env_bytes("echo").replace(b"supervisor1\n", b"sup\xe9rvisor\xff\n"))
        cmd = await _command_or_none(peer)
        if cmd is None:
            t, data = await _closed_within(peer, CLOSE_WAIT_S)
            return "no command; " + _closed(t, data)
        await peer.reply("200 result=1 (PJSIP/x-1)")
        t, data = await _closed_within(peer, CLOSE_WAIT_S)
    return "served; " + _closed(t, data)


async def case_non_utf8_response(port: int) -> str:
    async with FakeAsteriskAgi(port) as peer:
        await peer.send_env("echo")
        await peer.command()
        await peer.send(b"200 result=1 (caf\xe9\xff)\n")
        t, data = await _closed_within(peer, CLOSE_WAIT_S)
    return _closed(t, data)


async def case_slowloris(port: int) -> str:
    peers = [FakeAsteriskAgi(port) for _ in range(SLOWLORIS_PEERS)]
    for peer in peers:
        await peer.connect()
    env = env_bytes("echo")

    async def drip(peer: FakeAsteriskAgi) -> float | None:
        t0 = time.perf_counter()
        for i in range(len(env)):
            if time.perf_counter() - t0 > CLOSE_WAIT_S:
                break
            try:
                await peer.send(env[i:i + 1])
                data = await asyncio.wait_for(peer.rest(), 0.5)
            except TimeoutError:
                continue
            except ConnectionError:
                return time.perf_counter() - t0
            if data is not None:
                return time.perf_counter() - t0
        return None

    times = await asyncio.gather(*(drip(p) for p in peers))
    for peer in peers:
        await peer.close()
    closed = [t for t in times if t is not None]
    if not closed:
        return f"0/{len(peers)} dripping peers cut off in {CLOSE_WAIT_S:g} s (all HELD)"
    return (f"{len(closed)}/{len(peers)} dripping peers cut off, after "
            f"{statistics.median(closed):.1f} s (median)")


async def case_flood(port: int) -> str:
    async def one() -> str:
        try:
            async with FakeAsteriskAgi(port) as peer:
                await peer.send_env("echo")
                cmd = await _command_or_none(peer)
                if cmd is None:
                    return "refused (FAILURE)" if b"FAILURE" in await peer.rest() else "closed"
                if cmd == "FAILURE":
                    return "refused (FAILURE)"
                await peer.reply("200 result=1 (PJSIP/x-1)")
                await peer.rest(CLOSE_WAIT_S)
                return "served"
        except ConnectionResetError:
            return "reset"
        except (ConnectionError, TimeoutError, OSError):
            return "error"

    t0 = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(FLOOD_SESSIONS)))
    elapsed = time.perf_counter() - t0
    counts = {k: results.count(k) for k in sorted(set(results))}
    return f"{counts} in {elapsed:.2f} s"


async def _command_or_none(peer: FakeAsteriskAgi) -> str | None:
    try:
        return await peer.command(CLOSE_WAIT_S)
    except (TimeoutError, ConnectionError):
        return None


def _closed(t: float | None, data: bytes) -> str:
    if t is None:
        return f"HUNG (socket still open after {CLOSE_WAIT_S:g} s)"
    told = f", sent {data[:20]!r}" if data else ""
    return f"closed in {t * 1e3:.0f} ms{told}"


CASES: list[tuple[str, Callable[[int], Awaitable[str]]]] = [
    ("malformed env", case_malformed_env),
    ("oversized line (8 MiB)", case_oversized_line),
    ("half-closed mid-env", case_half_close_mid_env),
    ("half-closed mid-command", case_half_close_mid_command),
    ("HANGUP mid-command", case_hangup_mid_command),
    ("non-UTF-8 env value", case_non_utf8_env),
    ("non-UTF-8 response", case_non_utf8_response),
    (f"slowloris env x{SLOWLORIS_PEERS}", case_slowloris),
    (f"flood of {FLOOD_SESSIONS} sessions", case_flood),
]
_BAD_LOG = ("Traceback", "Unhandled exception", "Task exception was never retrieved",
            "never awaited")


async def run_case(server: Server, name: str, case: Callable[[int], Awaitable[str]]) -> None:
    log_before = len(server.log())
    cpu0, rss0 = server.cpu_s(), server.rss_mib()
    t0 = time.perf_counter()
    try:
        note = await case(server.port)
    except (TimeoutError, ConnectionError) as exc:
        note = f"the peer got nothing back ({type(exc).__name__}): the server is stuck"
    await asyncio.sleep(0.5)  # let the server settle
    wall = time.perf_counter() - t0
    cpu = server.cpu_s() - cpu0
    log = server.log()[log_before:]
    serves = await _still_serves(server.port)
    bad = sum(log.count(w) for w in _BAD_LOG)
    errors = log.count("handler-error")
    said = [line for line in log.splitlines() if line.startswith(("handled", "handler-error"))]
    print(f"  {server.name:10s} {note}")
    if said:
        print(f"  {'':10s} handler printed: {said[-1][:90]}")
    print(f"  {'':10s} surfaced-to-handler={errors} traceback/unhandled-lines={bad} "
          f"cpu={cpu:.2f}s/{wall:.1f}s rss+={server.rss_mib() - rss0:.1f}MiB "
          f"sockets-left={server.sockets() - server.base_sockets} tasks-left={server.tasks()} "
          f"serves-a-new-session={serves}")


async def _still_serves(port: int) -> str:
    """Does a well-behaved session, right after the case, get served within 2 s?"""
    try:
        async with asyncio.timeout(2.0):
            async with FakeAsteriskAgi(port) as peer:
                await peer.send_env("echo")
                if await peer.command() is None:
                    return "no"
                await peer.reply("200 result=1 (PJSIP/x-1)")
                await peer.rest()
        return "yes"
    except (TimeoutError, ConnectionError, OSError):
        return "NO"


async def latency(port: int) -> tuple[float, float]:
    times = []
    for _ in range(LATENCY_SESSIONS):
        t0 = time.perf_counter()
        async with FakeAsteriskAgi(port) as peer:
            await peer.send_env("echo")
            await peer.command()
            await peer.reply("200 result=1 (PJSIP/x-1)")
            await peer.rest()
        times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times) * 1e3, times[int(len(times) * 0.99)] * 1e3


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--panoramisk-python", default="/tmp/pkvenv/bin/python")
    parser.add_argument("--port", type=int, default=22990)
    parser.add_argument("--edgeqa-max-sessions", type=int, default=MAX_SESSIONS[0])
    args = parser.parse_args()
    MAX_SESSIONS[0] = args.edgeqa_max_sessions
    print(f"edgeqa [agi] max_sessions = {MAX_SESSIONS[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        servers = [start("edgeqa", sys.executable, OURS, args.port, work)]
        if os.access(args.panoramisk_python, os.X_OK):
            servers.append(start("panoramisk", args.panoramisk_python, PANORAMISK,
                                 args.port + 1, work))
        else:
            print(f"(no panoramisk at {args.panoramisk_python}: edgeqa only)")
        try:
            for server in servers:
                med, p99 = await latency(server.port)
                print(f"latency {server.name}: {LATENCY_SESSIONS} sequential sessions over "
                      f"loopback, median {med:.2f} ms, p99 {p99:.2f} ms")
            for name, case in CASES:
                print(f"{name}:")
                for i, server in enumerate(servers):
                    # A fresh process per case: a server left spinning by one case must not
                    # colour the next.
                    server.proc.kill()
                    server.proc.wait()
                    server = servers[i] = start(server.name, server.python, server.script,
                                                server.port, work)
                    await run_case(server, name, case)
        finally:
            for server in servers:
                server.proc.kill()
                server.proc.wait()


if __name__ == "__main__":
    asyncio.run(main())

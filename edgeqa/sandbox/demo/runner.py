"""The demo: sandbox PBX + `edgeqa run` + fixture calls between softphones, shown live."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO, TypeVar

from edgeqa.sandbox.demo.daemon_proc import DaemonProcess, write_config
from edgeqa.sandbox.demo.live_metrics import compare_line
from edgeqa.sandbox.demo.stream_client import Envelope, StreamCollector
from edgeqa.sandbox.demo.view import LiveView, summarize
from edgeqa.sandbox.scenario import FixtureCallResult

log = logging.getLogger(__name__)

#: The daemon's API port, inside the sandbox's port block (above the phones' RTP ports).
API_PORT_OFFSET = 950
#: Screen refreshes at most this often on a terminal.
REFRESH_INTERVAL_S = 0.25
#: The whole demo, sandbox start to stop, must end within this.
DEMO_BUDGET_S = 90.0
FINAL_EVENTS_WAIT_S = 3.0
#: After the calls: how long to wait for Asterisk to close each leg's file and the daemon to
#: hash it (recording.completed).
RECORDINGS_WAIT_S = 15.0
#: The demo's [recording] lines beyond the directories.
DEMO_RECORDING_POLICY = "min_free_mb = 100\n"
T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking ``fn`` (phones, sandbox) in a thread of its own and await it."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)

    def work() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    thread = threading.Thread(target=work, name="edgeqa-demo-work", daemon=True)
    thread.start()
    return await fut


def default_calls_dir() -> Path:
    """The fixture legs bundled with the repository (tests/data/calls)."""
    return Path(__file__).resolve().parents[3] / "tests" / "data" / "calls"


#: The demo's calls: (fixture, customer, agent, hang up this many seconds after connecting).
#: Each runs long enough to show its fixture's events: talk_over interrupts at 15 s and 25 s,
#: dead_air falls silent at 26 s.
DEMO_CALLS: tuple[tuple[str, str, str, float], ...] = (
    ("clean", "customer1", "agent1", 14.0),
    ("talk_over", "customer2", "agent2", 27.0),
    ("dead_air", "customer3", "agent3", 33.0),
)


def _scenario(box: Any, calls_dir: Path, work: Path, talk_scale: float,
              say: Callable[[str], None]) -> list[FixtureCallResult]:
    """Three overlapping queue calls; each phone plays its fixture leg, then hangs up in turn."""
    from edgeqa.sandbox.scenario import FixtureCall

    results: list[FixtureCallResult] = []
    live: list[tuple[FixtureCall, float]] = []
    try:
        for n, (fixture, customer, agent, hangup_s) in enumerate(DEMO_CALLS, 1):
            call = FixtureCall(box, calls_dir, work / f"call{n}", fixture=fixture,
                               customer=customer, agent=agent)
            live.append((call, 0.0))
            say(f"placing call {n}: {customer} -> 600 (queue support) -> {agent} "
                f"(fixture {fixture})")
            call.start()
            live[-1] = (call, time.monotonic() + hangup_s * talk_scale)
        for n, (call, hangup_at) in enumerate(live, 1):
            time.sleep(max(0.0, hangup_at - time.monotonic()))
            say(f"call {n}: {call.fixture} customer hangs up")
            results.append(call.finish())
    finally:
        for call, _ in live:
            call.close()
    return results


def qa_lines(results: list[FixtureCallResult],
             live: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
    """Per-leg QA of each call, computed from what each phone heard (the other side's leg).

    With ``live`` (fixture -> the daemon's live call.summary), each call gets a second line
    comparing the two.
    """
    from edgeqa.analyze.offline import load_pair, run_call
    from edgeqa.analyze.wavfile import WavError

    lines = []
    for result in results:
        try:
            # The agent's phone heard the customer's leg, and the customer's phone the agent's.
            summary = run_call(load_pair(result.agent_heard, result.customer_heard))
        except (OSError, WavError) as exc:
            lines.append(f"{result.fixture}: cannot analyse the recordings: {exc}")
            continue
        legs = summary["legs"]
        over = summary["talk_over_summary"]
        lines.append(
            f"{result.fixture:>9}: {summary['duration_s']:5.1f} s  talk ratio (agent) "
            f"{summary['talk_ratio']:.2f}  level customer "
            f"{_level(legs['customer'])} agent {_level(legs['agent'])}  "
            f"dead air {len(summary['dead_air'])} ({summary['silence_pct']:.0f} %)  "
            f"talk-over {over['count']} ({over['total_s']:.1f} s)  "
            f"alerts {len(summary['alerts'])}")
        if live is not None:
            got = live.get(result.fixture)
            lines.append(compare_line(f"{'live':>9}", got, summary) if got is not None
                         else f"{'live':>9}: no live call.summary from the daemon")
    return lines


def _closed_files(events: list[Envelope]) -> int:
    return sum(e["type"] in ("recording.completed", "recording.failed") for e in events)


def verify_recordings(conf: Path) -> tuple[list[str], bool]:
    """`edgeqa recordings --verify` on the demo's store: (its lines, whether every leg of
    every demo call is complete and matches its sha256)."""
    import subprocess

    done = subprocess.run([sys.executable, "-m", "edgeqa", "recordings", "--verify",
                           "--config", str(conf)], capture_output=True, text=True, timeout=60)
    lines = (done.stdout + done.stderr).splitlines()
    complete = sum("  complete  " in line for line in lines)
    return lines, done.returncode == 0 and complete == 2 * len(DEMO_CALLS)


def live_summaries(events: list[Envelope]) -> dict[str, dict[str, Any]]:
    """Fixture name -> the daemon's live call.summary, matched by the call's customer phone."""
    by_customer = {f"PJSIP/{customer}": fixture for fixture, customer, _, _ in DEMO_CALLS}
    fixture_of: dict[str, str] = {}
    summaries: dict[str, dict[str, Any]] = {}
    for e in events:  # either may come first: the live taps see the hang-up on their own
        data = e["data"]
        if e["type"] == "call.ended":
            for channel in data["call"].get("channels", []):
                if channel.get("role") == "customer" and channel.get("endpoint") in by_customer:
                    fixture_of[data["call"]["call_id"]] = by_customer[channel["endpoint"]]
        elif e["type"] == "call.summary" and isinstance(data.get("call_id"), str):
            summaries[data["call_id"]] = data["summary"]
    return {fixture_of[call_id]: summary for call_id, summary in summaries.items()
            if call_id in fixture_of}


def _level(leg: dict[str, Any]) -> str:
    level = leg["active_level_dbov"]
    return "  n/a" if level is None else f"{level:5.1f} dBov"


class Screen:
    """Redraws the view on a terminal, or prints one plain line per event otherwise."""

    def __init__(self, view: LiveView, out: TextIO, tty: bool) -> None:
        self.view, self.out, self.tty = view, out, tty
        self.notes: list[str] = []
        self.dirty = asyncio.Event()

    def on_event(self, envelope: Envelope) -> None:
        self.view.apply(envelope)
        if self.tty:
            self.dirty.set()
        else:
            print(summarize(envelope), file=self.out, flush=True)

    def say(self, text: str) -> None:
        line = f"demo: {text}"
        if self.tty:
            self.notes = [*self.notes[-3:], line]
            self.dirty.set()
        else:
            print(line, file=self.out, flush=True)

    def draw(self) -> None:
        if self.tty:
            width = shutil.get_terminal_size((100, 40)).columns
            self.out.write("\x1b[H\x1b[2J" + self.view.render(width) + "\n\n"
                           + "\n".join(self.notes) + "\n")
            self.out.flush()

    async def refresh_loop(self) -> None:
        while True:
            await self.dirty.wait()
            self.dirty.clear()
            self.draw()
            await asyncio.sleep(REFRESH_INTERVAL_S)


async def run_demo(*, calls_dir: Path, out: TextIO, tty: bool, talk_scale: float = 1.0,
                   keep_dir: Path | None = None) -> int:
    """Run the whole demo; return 0 when every step worked."""
    from edgeqa.sandbox.pbx import Sandbox

    work = keep_dir or Path(tempfile.mkdtemp(prefix="edgeqa-demo-"))
    view = LiveView()
    screen = Screen(view, out, tty)
    box = Sandbox()
    screen.say(f"starting the sandbox PBX (port base {box.ports.base})")
    await in_thread(box.build)
    await in_thread(box.start)
    proc: DaemonProcess | None = None
    tasks: list[asyncio.Task[None]] = []
    try:
        port = box.ports.base + API_PORT_OFFSET
        # Every call is recorded per leg by Asterisk (MixMonitor r()/t()); the demo's calls
        # need a few MB, so the disk guard's threshold is lowered from its 1 GiB default.
        conf = write_config(work / "daemon", ami=box.ami, ari=box.ari, api_port=port,
                            recordings=box.recordings, recording_policy=DEMO_RECORDING_POLICY)
        proc = DaemonProcess(conf, port, work / "daemon" / "daemon.log")
        screen.say(f"starting `edgeqa run --config {conf}`")
        proc.start()
        await in_thread(proc.wait_ready)
        collector = StreamCollector(proc.api_url, after=0, on_event=screen.on_event,
                                    token=proc.token())
        tasks = [asyncio.create_task(collector.run()), asyncio.create_task(screen.refresh_loop())]
        await collector.wait_for(lambda e: e["type"] == "resync.completed", 10.0)
        results = await in_thread(_scenario, box, calls_dir, work, talk_scale, screen.say)
        with contextlib.suppress(TimeoutError):
            await collector.wait_for(lambda e: e["type"] == "call.summary" and not view.calls
                                     and len(view.summaries) >= len(DEMO_CALLS),
                                     FINAL_EVENTS_WAIT_S)
        with contextlib.suppress(TimeoutError):  # each leg's file closed and hashed
            await collector.wait_for(lambda e: _closed_files(collector.events)
                                     >= 2 * len(DEMO_CALLS), RECORDINGS_WAIT_S)
        screen.say("stopping the daemon (SIGTERM)")
        status = await in_thread(proc.stop)
        await asyncio.wait_for(collector.closed.wait(), 10.0)
        screen.draw()
        ended = len([e for e in collector.events if e["type"] == "call.ended"])
        print(f"\ndemo: {len(collector.events)} events (seq 1..{collector.last_seq}), "
              f"{ended} calls ended; daemon exit status {status}; stream closed "
              f"{collector.close_code} {collector.close_reason!r}; files in {work}",
              file=out, flush=True)
        live = live_summaries(collector.events)
        print("demo: per-leg QA of each call, from what each phone recorded "
              "(`edgeqa analyze --customer ... --agent ...`), and the daemon's live "
              "call.summary against it:", file=out)
        for line in await in_thread(qa_lines, results, live):
            print(f"  {line}", file=out, flush=True)
        listed, verified = await in_thread(verify_recordings, conf)
        print("demo: the recorded legs (`edgeqa recordings --verify`: each file's sha256 "
              "recomputed against the store):", file=out)
        for line in listed:
            print(f"  {line}", file=out, flush=True)
        if status != 0 or ended < 3 or len(live) < len(DEMO_CALLS) or not verified:
            print(f"demo: FAILED; daemon log:\n{proc.log()[-3000:]}", file=sys.stderr)
            return 1
        return 0
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if proc is not None:
            await in_thread(proc.stop)
        screen.say("stopping the sandbox")
        await in_thread(box.stop)

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
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar

from edgeqa.demo.daemon_proc import DaemonProcess, write_config
from edgeqa.demo.stream_client import Envelope, StreamCollector
from edgeqa.demo.view import LiveView, summarize

log = logging.getLogger(__name__)

#: The daemon's API port, inside the sandbox's port block (above the phones' RTP ports).
API_PORT_OFFSET = 950
#: Screen refreshes at most this often on a terminal.
REFRESH_INTERVAL_S = 0.25
#: The whole demo, sandbox start to stop, must end within this.
DEMO_BUDGET_S = 90.0
FINAL_EVENTS_WAIT_S = 3.0
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
    return Path(__file__).resolve().parents[2] / "tests" / "data" / "calls"


def _scenario(box: Any, calls_dir: Path, work: Path, talk_s: float,
              say: Callable[[str], None]) -> None:
    """Two overlapping queue calls, then a third: each phone plays its fixture leg."""
    from edgeqa.sandbox.scenario import FixtureCall

    first = FixtureCall(box, calls_dir, work / "call1", fixture="clean",
                        customer="customer1", agent="agent1")
    second = FixtureCall(box, calls_dir, work / "call2", fixture="talk_over",
                         customer="customer2", agent="agent2")
    try:
        say("placing call 1: customer1 -> 600 (queue support) -> agent1 (fixture clean)")
        first.start()
        say("placing call 2: customer2 -> 600 -> agent2 (fixture talk_over)")
        second.start()
        time.sleep(talk_s)
        say("customer1 hangs up")
        first.finish()
        time.sleep(1.0)
        say("customer2 hangs up")
        second.finish()
    finally:
        first.close()
        second.close()
    third = FixtureCall(box, calls_dir, work / "call3", fixture="dead_air",
                        customer="customer3", agent="agent3")
    try:
        say("placing call 3: customer3 -> 600 -> agent3 (fixture dead_air)")
        third.start()
        time.sleep(talk_s / 2)
        say("customer3 hangs up")
        third.finish()
    finally:
        third.close()


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


async def run_demo(*, calls_dir: Path, out: TextIO, tty: bool, talk_s: float = 6.0,
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
        conf = write_config(work / "daemon", ami=box.ami, ari=box.ari, api_port=port)
        proc = DaemonProcess(conf, port, work / "daemon" / "daemon.log")
        screen.say(f"starting `edgeqa run --config {conf}`")
        proc.start()
        await in_thread(proc.wait_ready)
        collector = StreamCollector(proc.api_url, after=0, on_event=screen.on_event)
        tasks = [asyncio.create_task(collector.run()), asyncio.create_task(screen.refresh_loop())]
        await collector.wait_for(lambda e: e["type"] == "resync.completed", 10.0)
        await in_thread(_scenario, box, calls_dir, work, talk_s, screen.say)
        with contextlib.suppress(TimeoutError):
            await collector.wait_for(lambda e: e["type"] == "call.ended" and
                                     view.count > 0 and not view.calls, FINAL_EVENTS_WAIT_S)
        screen.say("stopping the daemon (SIGTERM)")
        status = await in_thread(proc.stop)
        await asyncio.wait_for(collector.closed.wait(), 10.0)
        screen.draw()
        ended = len([e for e in collector.events if e["type"] == "call.ended"])
        print(f"\ndemo: {len(collector.events)} events (seq 1..{collector.last_seq}), "
              f"{ended} calls ended; daemon exit status {status}; stream closed "
              f"{collector.close_code} {collector.close_reason!r}; files in {work}",
              file=out, flush=True)
        if status != 0 or ended < 3:
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

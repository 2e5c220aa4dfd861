"""FastAGI ``route`` decision latency with 10 and 10^6 past calls in the store (issue 13:
p99 <= 20 ms), over real loopback AGI sessions.

A store is built with executemany (caller_history rows: the calls of 100,000 callers, plus the
callers looked up, each with 20 past calls), then edgeqa's AgiServer serves the RouteService
(its HistoryReader on that store) and a hand-written FAKE Asterisk (edgeqa/sandbox/agipeer.py;
not Asterisk) runs sessions one after another: connect, the environment with a known caller
number, read the one ``EXEC MSet`` the route sends, answer ``200 result=0``, read the close.
The decision latency is from the environment's last byte sent to the MSet line read (what a
call waits for); the session time adds the connect and the close.

A third run repeats the 10^6 case while the store's writer thread commits a burst of event
batches (call.ended + call.summary, the caller history's own projection included): the route
reads through its own connections, so the burst should not show in the figures.

    PYTHONPATH=. /work/main/.venv/bin/python bench/bench_route.py [--sessions N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from edgeqa.agi import AgiLimits, AgiServer
from edgeqa.route import history
from edgeqa.route.config import RouteConfig
from edgeqa.route.history import HistoryReader
from edgeqa.route.model import MemberView
from edgeqa.route.service import RouteService
from edgeqa.sandbox.agipeer import FakeAsteriskAgi, env_bytes
from edgeqa.store import Event, Store
from edgeqa.store.db import open_db

NOW = time.time()
LOOKED_UP = 200  # callers the sessions ask about, each with PER_CALLER past calls
PER_CALLER = 20
OTHERS = 100_000  # other callers sharing the rest of the rows
AGENTS = [f"PJSIP/agent{i}" for i in range(1, 11)]


def build(path: Path, past_calls: int) -> float:
    """A store holding ``past_calls`` caller_history rows; return the seconds it took."""
    t0 = time.perf_counter()
    conn = open_db(path, "normal")
    rng = random.Random(13)
    looked = min(past_calls, LOOKED_UP * PER_CALLER)

    def rows() -> Any:
        for i in range(past_calls):
            if i < looked:
                caller = f"555{i % LOOKED_UP:07d}"
            else:
                caller = f"777{rng.randrange(OTHERS):07d}"
            dead = rng.choice((0.0, 0.0, 0.0, 12.0))
            yield (f"c{i}", caller, NOW - rng.uniform(0, 30 * 86400), rng.choice(AGENTS),
                   "Agent", "support", dead, rng.choice((0.0, 0.0, 6.0)), 0,
                   1 if dead == 0.0 else 0)

    conn.execute("BEGIN")
    conn.executemany("INSERT INTO caller_history (call_id, caller, ended_at, agent, agent_name,"
                     " queue, dead_air_s, talk_over_s, partial, good)"
                     " VALUES (?,?,?,?,?,?,?,?,?,?)", rows())
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - t0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def sessions(port: int, n: int, callers: int) -> tuple[list[float], list[float]]:
    decide_ms: list[float] = []
    session_ms: list[float] = []
    rng = random.Random(7)
    for i in range(n):
        caller = f"555{rng.randrange(callers):07d}"
        env = env_bytes("route", ("support", "0"), channel=f"PJSIP/customer1-{i:08x}",
                        uniqueid=f"1.{i}", extra={"agi_callerid": caller})
        t0 = time.perf_counter()
        async with FakeAsteriskAgi(port) as peer:
            await peer.send(env)
            t1 = time.perf_counter()
            line = await peer.command()
            t2 = time.perf_counter()
            assert line is not None and line.startswith('EXEC "MSet"'), line
            await peer.reply("200 result=0")
            await peer.rest()
        t3 = time.perf_counter()
        decide_ms.append((t2 - t1) * 1e3)
        session_ms.append((t3 - t0) * 1e3)
    return decide_ms, session_ms


async def burst(store: Store, stop: asyncio.Event) -> int:
    """Commit batches of 200 call.ended + call.summary events until ``stop``; return events."""
    n = 0
    while not stop.is_set():
        batch = []
        for _ in range(100):
            n += 1
            call = {"call_id": f"b{n}", "queue": "support", "agent_interface": "PJSIP/agent1",
                    "agent_name": "Agent One", "ended_at": NOW,
                    "channels": [{"role": "customer", "caller_id_num": f"888{n:07d}"}]}
            batch += [Event("call.ended", NOW, {"call": call}),
                      Event("call.summary", NOW, {"call_id": f"b{n}", "summary": {
                          "partial": False, "dead_air": [], "talk_over": [], "alerts": []}})]
        await store.append(batch)
    return n * 2


async def compare_paths(store: Store, reader: HistoryReader, n: int = 300) -> None:
    """The same lookup through the route's own connection and through the store's writer
    queue (behind the burst), one after another."""
    own: list[float] = []
    queued: list[float] = []
    for i in range(n):
        caller = f"555{i % LOOKED_UP:07d}"
        t0 = time.perf_counter()
        await reader.lookup(caller, 0.0, 50)
        t1 = time.perf_counter()
        await store.run(lambda c, who=caller: history.lookup(c, who, 0.0, 50))
        t2 = time.perf_counter()
        own.append((t1 - t0) * 1e3)
        queued.append((t2 - t1) * 1e3)
    print(f"  lookup during the burst: own connection p50 {pct(own, 0.5):6.2f} ms  p99 "
          f"{pct(own, 0.99):6.2f} ms | via the writer queue p50 {pct(queued, 0.5):6.2f} ms  "
          f"p99 {pct(queued, 0.99):6.2f} ms")


async def run_case(path: Path, label: str, n: int, *, with_burst: bool) -> None:
    store = Store(path, synchronous="normal", projections=(history.project,))
    await store.open()
    reader = HistoryReader(path)
    decisions: list[Any] = []
    route = RouteService(RouteConfig(), reader, decisions.extend,
                         lambda q, a: MemberView(2, True))
    server = AgiServer(route.routes(), limits=AgiLimits())  # type: ignore[arg-type]
    await server.start("127.0.0.1", 0)
    assert server.address is not None
    stop = asyncio.Event()
    writer = asyncio.create_task(burst(store, stop)) if with_burst else None
    try:
        await sessions(server.address[1], 50, LOOKED_UP)  # warm-up: threads, page cache
        t0 = time.perf_counter()
        decide_ms, session_ms = await sessions(server.address[1], n, LOOKED_UP)
        wall = time.perf_counter() - t0
        if with_burst:
            await compare_paths(store, reader)
    finally:
        stop.set()
        written = await writer if writer is not None else 0
        await server.stop()
        await asyncio.to_thread(reader.close)
        await store.close()
    late = route.stats.history.get("late", 0)
    print(f"{label:<34} decision p50 {pct(decide_ms, 0.5):6.2f} ms  p99 "
          f"{pct(decide_ms, 0.99):6.2f} ms  max {max(decide_ms):6.2f} ms | session p50 "
          f"{statistics.median(session_ms):6.2f} ms  p99 {pct(session_ms, 0.99):6.2f} ms | "
          f"{n / wall:6.0f} sessions/s | history late {late}"
          + (f" | {written} events written meanwhile" if with_burst else ""))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000)
    args = parser.parse_args()
    print(f"route bench: {args.sessions} sequential loopback AGI sessions per case, deadline "
          f"{RouteConfig().deadline_ms} ms, target p99 <= 20 ms")
    with tempfile.TemporaryDirectory() as tmp:
        for past in (10, 1_000_000):
            path = Path(tmp) / f"s{past}" / "edgeqa.db"
            took = build(path, past)
            print(f"store with {past:>9,} past calls built in {took:5.1f} s")
            await run_case(path, f"{past:,} past calls", args.sessions, with_burst=False)
            if past == 1_000_000:
                await run_case(path, f"{past:,} past calls + write burst", args.sessions,
                               with_burst=True)


if __name__ == "__main__":
    asyncio.run(main())

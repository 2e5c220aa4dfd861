"""The AMI TCP link is cut 20 times during actions; no action ever runs twice.

A loopback TCP proxy sits between AmiClient and the real Asterisk sandbox and aborts both sides
of the connection at random moments while workers send synchronous Originates of
``Local/tally@sandbox-test``, each with a unique TALLY_ID. Asterisk itself counts how often each
ran (AstDB ``tally/<id>``), and the test reads those counters back with ``database show tally``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import re
import time

import pytest

from edgeqa.ami.actions import variable_header
from edgeqa.ami.client import AmiClient
from edgeqa.ami.errors import (
    AmiActionError,
    AmiDisconnectedError,
    AmiNotConnectedError,
    AmiTimeoutError,
)
from edgeqa.sandbox.pbx import Sandbox
from tests.support.ami import LoopbackServer, ami_hygiene, until

__all__ = ["ami_hygiene"]  # autouse fixture, applied to this module

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

CUTS = 20
WORKERS = 4
BUDGET_S = 60.0
ORIGINATE_TIMEOUT_S = 5.0
MAX_ACTIONS = 20_000
_TALLY_RE = re.compile(r"^/tally/(\S+)\s*:\s*(\d+)\s*$", re.MULTILINE)


class CuttingProxy(LoopbackServer):
    """Loopback TCP relay to Asterisk's AMI port that can cut every live connection at once."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        super().__init__()
        self.upstream = upstream
        self.accepted = 0
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        await super().__aexit__(*exc)

    def cut(self) -> int:
        """Abort both sides of every live connection; return how many were cut."""
        writers, self._writers = self._writers, set()
        for writer in writers:
            writer.transport.abort()
        return len(writers) // 2

    async def handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            u_reader, u_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            c_writer.transport.abort()
            return
        self._writers |= {c_writer, u_writer}
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._pump(c_reader, u_writer))
                tg.create_task(self._pump(u_reader, c_writer))
        except* (ConnectionError, OSError):
            pass
        finally:
            for writer in (c_writer, u_writer):
                self._writers.discard(writer)
                writer.transport.abort()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.transport.abort()  # one side ended: end both, as a cut does


def read_tallies(sandbox: Sandbox) -> dict[str, int]:
    """Every tally counter, as counted by Asterisk."""
    return {k: int(v) for k, v in _TALLY_RE.findall(sandbox.cli("database show tally"))}


async def test_link_cut_20_times_no_action_runs_twice(running_sandbox: Sandbox) -> None:
    sandbox = running_sandbox
    await asyncio.to_thread(sandbox.cli, "database deltree tally")
    host, port, user, secret = sandbox.ami
    run_tag = f"r{random.randrange(16**6):06x}"
    outcomes: dict[str, str] = {}
    rng = random.Random()
    stop = asyncio.Event()

    async with CuttingProxy((host, port)) as proxy:
        client = AmiClient(
            "127.0.0.1",
            proxy.port,
            user,
            secret,
            on_message=lambda m: None,
            backoff_initial_s=0.02,
            backoff_max_s=0.2,
            connect_timeout_s=5.0,
        )
        counter = iter(range(MAX_ACTIONS))

        def fresh_session(cuts: int) -> bool:
            return client.connected and client.sessions_started > cuts

        async def worker(n: int) -> None:
            while not stop.is_set():
                seq = next(counter, None)
                if seq is None:
                    kinds = collections.Counter(outcomes.values())
                    raise AssertionError(f"over {MAX_ACTIONS} actions (a spin?): {kinds}")
                tally_id = f"{run_tag}-{n}-{seq}"
                try:
                    await client.send_action(
                        "Originate",
                        [
                            ("Channel", "Local/tally@sandbox-test"),
                            ("Application", "NoOp"),
                            ("Timeout", str(int(ORIGINATE_TIMEOUT_S * 1000))),
                            variable_header("TALLY_ID", tally_id),
                        ],
                        timeout_s=ORIGINATE_TIMEOUT_S + 2,
                    )
                    outcomes[tally_id] = "ok"
                except AmiNotConnectedError:
                    outcomes[tally_id] = "not_sent"
                    await asyncio.sleep(0.01)
                except AmiDisconnectedError:
                    outcomes[tally_id] = "lost"  # may or may not have run; never replayed
                except AmiTimeoutError:
                    outcomes[tally_id] = "timeout"
                except AmiActionError:
                    outcomes[tally_id] = "error"

        cut_log: list[int] = []
        started = time.monotonic()
        async with asyncio.timeout(BUDGET_S):
            run_task = asyncio.create_task(client.run())
            try:
                await client.wait_connected(10.0)
                async with asyncio.TaskGroup() as tg:
                    for n in range(WORKERS):
                        tg.create_task(worker(n))
                    for _ in range(CUTS):
                        # A fresh session, not the one just cut that has not noticed it yet.
                        await until(lambda: fresh_session(len(cut_log)), 10.0)
                        await asyncio.sleep(rng.uniform(0.02, 0.3))
                        cut_log.append(proxy.cut())
                    await until(lambda: fresh_session(len(cut_log)), 10.0)
                    await asyncio.sleep(0.3)  # a few clean actions after the last cut
                    stop.set()
            finally:
                stop.set()
                await client.close()
                await asyncio.wait({run_task})
            elapsed_s = time.monotonic() - started
            await asyncio.sleep(1.0)  # let the last Local channels finish their dialplan
            tallies = await asyncio.to_thread(read_tallies, sandbox)

    kinds = collections.Counter(outcomes.values())
    log.warning(
        "AMI cuts: %d cuts (%d live) in %.1f s, %d sessions, outcomes %s, %d tallies",
        len(cut_log),
        sum(cut_log),
        elapsed_s,
        client.sessions_started,
        dict(kinds),
        len(tallies),
    )
    print(
        f"cuts={len(cut_log)} live={sum(cut_log)} elapsed_s={elapsed_s:.1f} "
        f"sessions={client.sessions_started} outcomes={dict(kinds)} tallies={len(tallies)}"
    )
    assert len(cut_log) == CUTS and sum(cut_log) == CUTS  # every cut hit a live session
    assert client.sessions_started == CUTS + 1
    ours = {k: v for k, v in tallies.items() if k.startswith(run_tag)}
    assert set(ours) <= set(outcomes)  # Asterisk only ran what we sent
    assert all(count <= 1 for count in ours.values()), {k: v for k, v in ours.items() if v > 1}
    for tally_id, outcome in outcomes.items():
        if outcome == "ok":
            assert ours.get(tally_id) == 1, tally_id
        elif outcome == "not_sent":
            assert tally_id not in ours, tally_id
    assert kinds["ok"] >= 50
    assert kinds["lost"] >= CUTS // 2  # cuts really struck actions in flight
    assert kinds["lost"] <= CUTS * WORKERS  # only the actions in flight at a cut are lost

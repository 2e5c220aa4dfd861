"""A fixture call through the sandbox: customer -> 600 (queue support) -> agent, both talking."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from edgeqa.sandbox.softphone import SandboxLike, Softphone

log = logging.getLogger(__name__)

QUEUE_EXTEN = "600"
CONNECT_TIMEOUT_S = 20.0
HANGUP_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class FixtureCallResult:
    """Recordings of what each phone heard, and how long the two-way audio ran."""

    fixture: str
    customer_heard: Path
    agent_heard: Path
    talk_s: float
    connect_s: float


class FixtureCall:
    """Customer and agent phones playing one fixture's legs at each other, recording both.

    The customer dials ``exten``: 600 reaches the free registered agent with the lowest
    number (queue penalties 1..3); 6001..6003 enter the same queue but only agentN may answer.
    ``start()`` returns once both legs are up and the audio started at the same instant on both
    phones, so that each recording's timeline matches ``<fixture>.truth.json`` (give or take the
    media path latency). Tests may act on the live call (supervisor, AMI) before ``finish()``.
    """

    def __init__(self, sandbox: SandboxLike, calls_dir: Path, out_dir: Path, *,
                 fixture: str = "clean", customer: str = "customer1",
                 agent: str = "agent1", exten: str = QUEUE_EXTEN) -> None:
        self.fixture = fixture
        self.exten = exten
        self.customer_wav = calls_dir / f"{fixture}.customer.wav"
        self.agent_wav = calls_dir / f"{fixture}.agent.wav"
        for wav in (self.customer_wav, self.agent_wav):
            if not wav.is_file():
                raise FileNotFoundError(wav)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.customer_heard = out_dir / f"{fixture}.customer_heard.wav"
        self.agent_heard = out_dir / f"{fixture}.agent_heard.wav"
        self.agent = Softphone.for_sandbox(sandbox, agent, auto_answer=True, log_dir=out_dir)
        try:
            self.customer = Softphone.for_sandbox(sandbox, customer, log_dir=out_dir)
        except BaseException:
            self.agent.stop()
            raise
        self._talk_started = 0.0
        self.connect_s = 0.0

    def start(self, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        """Register, dial the queue, wait for the agent to answer, then start audio both ways."""
        started = time.monotonic()
        self.agent.register(timeout_s)
        self.customer.register(timeout_s)
        self.customer.dial(self.exten)
        self.agent.wait_incoming(timeout_s)
        self.agent.wait_state("CONFIRMED", timeout_s)
        self.customer.wait_state("CONFIRMED", timeout_s)
        self.agent.wait_event(lambda e: e.get("event") == "media" and
                              e.get("call") == self.agent.call_no, timeout_s, "agent media")
        self.customer.wait_event(lambda e: e.get("event") == "media" and
                                 e.get("call") == self.customer.call_no, timeout_s,
                                 "customer media")
        self.connect_s = time.monotonic() - started
        for phone, heard in ((self.customer, self.customer_heard), (self.agent, self.agent_heard)):
            phone.record(heard)
        self.customer.play(self.customer_wav)
        self.agent.play(self.agent_wav)
        self._talk_started = time.monotonic()
        log.info("fixture call %s connected in %.2f s", self.fixture, self.connect_s)

    def finish(self) -> FixtureCallResult:
        """Hang up from the customer side, wait for both legs to end, stop both phones."""
        talk_s = time.monotonic() - self._talk_started
        try:
            self.customer.hangup()
            self.customer.wait_state("DISCONNECTED", HANGUP_TIMEOUT_S)
            self.agent.wait_state("DISCONNECTED", HANGUP_TIMEOUT_S)
        finally:
            self.close()
        return FixtureCallResult(self.fixture, self.customer_heard, self.agent_heard, talk_s,
                                 self.connect_s)

    def close(self) -> None:
        """Stop both phone processes (idempotent)."""
        self.customer.request_stop()
        self.agent.request_stop()
        self.customer.stop()
        self.agent.stop()

    def __enter__(self) -> FixtureCall:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def place_fixture_call(sandbox: SandboxLike, calls_dir: Path, out_dir: Path, *,
                       fixture: str = "clean", talk_s: float = 14.0) -> FixtureCallResult:
    """Place a whole fixture call of ``talk_s`` seconds of two-way audio and return it."""
    with FixtureCall(sandbox, calls_dir, out_dir, fixture=fixture) as call:
        call.start()
        time.sleep(talk_s)
        return call.finish()

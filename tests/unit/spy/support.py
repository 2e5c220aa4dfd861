"""Spy test data: calls as the tracker's snapshot has them, the [spy] config, and a test
double of edgeqa.agi's AgiSession (it records what the handler asks of Asterisk)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgeqa.agi import AgiHangup
from edgeqa.calls.model import Call, Channel
from edgeqa.config.fields import Secret
from edgeqa.spy.config import SpyConfig, SupervisorPhone

T0 = 1733012345.0
TEAMS = {"north": frozenset({"PJSIP/agent1", "Agent Two"}),
         "south": frozenset({"PJSIP/agent10"})}


def agent_call(call_id: str, agent: str, seq: int, *, name: str | None = None,
               queue: str | None = "support", answered: bool = True) -> dict[str, Any]:
    """A call of customer<seq> and endpoint ``agent`` (``PJSIP/agent1``), connected."""
    call = Call(call_id, T0 + seq, announced=True, state="connected" if answered else "queued",
                answered_at=T0 + seq if answered else None, queue=queue,
                agent_interface=agent if queue else None, agent_name=name)
    call.channels["c"] = Channel(f"c{seq}", f"PJSIP/customer{seq}-{seq:08x}", call_id, T0,
                                 role="customer", state="up", queue=queue)
    call.channels["a"] = Channel(f"a{seq}", f"{agent}-{seq + 0x100:08x}", call_id, T0,
                                 role="agent", state="up" if answered else "ringing",
                                 agent_interface=agent if queue else None,
                                 answered_at=T0 + seq if answered else None)
    return call.to_dict()


def snapshot(*calls: Mapping[str, Any], agents: tuple[tuple[str, str], ...] = ()
             ) -> dict[str, Any]:
    """The tracker's snapshot with ``calls`` and queue members (interface, name)."""
    return {"calls": list(calls), "queues": [],
            "agents": [{"interface": i, "name": n, "queues": []} for i, n in agents]}


def spy_config(pin: str | None = None, **caps: int) -> SpyConfig:
    """super1 on team north (PIN ``pin``), super2 on south."""
    return SpyConfig(supervisors={
        "PJSIP/super1": SupervisorPhone("PJSIP/super1", frozenset({"north"}),
                                        Secret(pin) if pin else None),
        "PJSIP/super2": SupervisorPhone("PJSIP/super2", frozenset({"south"}))}, **caps)


@dataclass
class Request:
    """What AgiRequest carries that the handlers read."""

    channel: str
    script: str
    args: tuple[str, ...] = ()
    uniqueid: str = "1733012399.9"


@dataclass
class AgiSessionDouble:
    """Test double of edgeqa.agi.AgiSession: answers get_data with ``digits``, EXEC with
    ``exec_result`` (ChanSpy returns only once ``release`` is set, if given)."""

    request: Request
    digits: str = ""
    exec_result: int = 0
    commands: list[tuple[str, ...]] = field(default_factory=list)
    release: Any = None
    hangup_on: str | None = None
    spying: asyncio.Event = field(default_factory=asyncio.Event)

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> str:
        self.commands.append(("GET DATA", prompt))
        return self.digits

    async def stream_file(self, name: str, escape_digits: str = "") -> None:
        self.commands.append(("STREAM FILE", name))

    async def exec(self, app: str, *args: str) -> int:
        self.commands.append(("EXEC", app, *args))
        if app == self.hangup_on:
            raise AgiHangup("the channel hung up")
        if app == "ChanSpy" and self.release is not None:
            self.spying.set()
            await self.release.wait()
        return self.exec_result

    async def hangup(self) -> None:
        self.commands.append(("HANGUP",))

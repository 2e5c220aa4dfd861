"""Hints test doubles: a switch (queues of members, answering QueueStatus, QueuePenalty and
QueuePause as app_queue does) and the rules and config the tests use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from edgeqa.ami.message import AmiMessage
from edgeqa.hints.config import HintRule, HintsConfig
from edgeqa.hints.model import MemberView

T0 = 1_733_012_345.0
DEAD_AIR = HintRule("dead_air", "dead_air_longest_s", 10.0, "penalty", 60.0, penalty_step=5)
COACHING = HintRule("coaching", "dead_air_longest_s", 10.0, "pause", 60.0,
                    reason="edgeqa coaching")


def config(*rules: HintRule, **kw: Any) -> HintsConfig:
    """Hints on (not dry-run unless asked), with ``rules`` (default: DEAD_AIR)."""
    kw.setdefault("dry_run", False)
    kw.setdefault("cooldown_s", 30.0)
    return HintsConfig(rules={r.name: r for r in rules or (DEAD_AIR,)}, **kw)


def summary(dead_air_s: float) -> dict[str, Any]:
    """The parts of an edgeqa.call_summary/3 the rules read."""
    return {"dead_air": [{"start": 5.0, "end": 5.0 + dead_air_s, "duration_s": dead_air_s,
                          "truncated": False}] if dead_air_s else [],
            "talk_over_summary": {"count": 0, "total_s": 0.0}, "alerts": []}


class FakeSwitch:
    """Queues of members; every action sent is kept in ``sent``; ``down`` refuses all."""

    def __init__(self, queues: Mapping[str, list[MemberView]]) -> None:
        self.queues = {q: {m.interface: m for m in ms} for q, ms in queues.items()}
        self.sent: list[tuple[str, dict[str, str]]] = []
        self.down = False

    def member(self, queue: str, interface: str) -> MemberView:
        return self.queues[queue][interface]

    def person_sets(self, queue: str, interface: str, **change: Any) -> None:
        """A supervisor changes the member on the switch (not through edgeqa)."""
        self.queues[queue][interface] = replace(self.queues[queue][interface], **change)

    async def send_action(self, action: str, headers: Mapping[str, str] = {}, *,
                          timeout_s: float = 10.0) -> AmiMessage:
        if self.down:
            raise ConnectionError("AMI is down")
        h = dict(headers)
        self.sent.append((action, h))
        members = self.queues[h["Queue"]]
        m = members[h["Interface"]]
        if action == "QueuePenalty":
            members[m.interface] = replace(m, penalty=int(h["Penalty"]))
        elif action == "QueuePause":
            paused = h["Paused"] == "true"
            members[m.interface] = replace(m, paused=paused,
                                           paused_reason=h.get("Reason", "") if paused else "")
        return AmiMessage((("Response", "Success"),))

    async def send_list_action(self, action: str, headers: Mapping[str, str] = {}, *,
                               timeout_s: float = 10.0) -> tuple[AmiMessage, list[AmiMessage]]:
        if self.down:
            raise ConnectionError("AMI is down")
        assert action == "QueueStatus"
        queue = dict(headers)["Queue"]
        items = [AmiMessage((("Event", "QueueParams"), ("Queue", queue)))]
        for m in self.queues.get(queue, {}).values():
            items.append(event("QueueMember", queue, m))
        return AmiMessage((("Response", "Success"),)), items


def event(name: str, queue: str, m: MemberView) -> AmiMessage:
    """A QueueMember (QueueStatus) or QueueMemberPenalty/Pause event of ``m``."""
    return AmiMessage((("Event", name), ("Queue", queue), ("Name", m.name),
                       ("Location" if name == "QueueMember" else "Interface", m.interface),
                       ("Penalty", str(m.penalty)), ("Paused", "1" if m.paused else "0"),
                       ("PausedReason", m.paused_reason), ("Status", str(m.status))))


def two_agents(penalty: int = 0) -> dict[str, list[MemberView]]:
    """Queue "hints": agent1 and agent2 at equal penalty, both free."""
    return {"hints": [MemberView("PJSIP/agent1", "Agent One", penalty),
                      MemberView("PJSIP/agent2", "Agent Two", penalty)]}

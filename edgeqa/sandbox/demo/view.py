"""A compact live view of calls, queues and agents, built from stream envelopes (pure)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from edgeqa.sandbox.demo.live_metrics import METRIC_TYPES, CallMetrics, metric_gist

#: Recent events shown under the tables.
RECENT_EVENTS = 8
#: Ended calls kept on screen.
ENDED_CALLS = 3
#: Calls whose live metrics are kept (oldest dropped first).
MAX_METRIC_CALLS = 50


def _clock(ts: float | None) -> str:
    return "--:--:--" if ts is None else time.strftime("%H:%M:%S", time.localtime(ts))


def _dur(start: float | None, end: float | None) -> str:
    if start is None or end is None:
        return ""
    return f"{end - start:5.1f}s"


def summarize(envelope: Mapping[str, Any]) -> str:
    """One plain line for an envelope: seq, time, type and the gist of its payload."""
    data = envelope.get("data", {})
    kind = envelope.get("type", "?")
    gist = ""
    if kind in METRIC_TYPES:
        gist = metric_gist(kind, data)
    elif "call" in data and isinstance(data["call"], Mapping):
        c = data["call"]
        gist = (f"call {c.get('call_id')} {c.get('state')} queue={c.get('queue')} "
                f"agent={c.get('agent_interface')}")
    elif "channel" in data and isinstance(data["channel"], Mapping):
        channel = data["channel"]
        gist = f"{data.get('leg')} {channel.get('channel')} {channel.get('state')}"
    elif "caller" in data and isinstance(data["caller"], Mapping):
        gist = f"{data.get('queue')} {data['caller'].get('channel')} {data.get('reason', '')}"
    elif "queue" in data and isinstance(data["queue"], Mapping):
        q = data["queue"]
        gist = f"{q.get('name')} waiting={len(q.get('callers', []))}"
    elif "agent" in data and isinstance(data["agent"], Mapping):
        a = data["agent"]
        states = ",".join(str(m.get("state")) for m in a.get("queues", []))
        gist = f"{a.get('interface')} {states} on_call={a.get('on_call')}"
    else:
        gist = " ".join(f"{k}={v}" for k, v in data.items() if not isinstance(v, dict | list))
    return f"#{envelope.get('seq')} {_clock(envelope.get('at'))} {kind:<22} {gist}".rstrip()


class LiveView:
    """Keeps the latest calls, queues, agents and recent events; renders them as text."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}
        self.ended: deque[dict[str, Any]] = deque(maxlen=ENDED_CALLS)
        self.queues: dict[str, dict[str, Any]] = {}
        self.agents: dict[str, dict[str, Any]] = {}
        self.recent: deque[str] = deque(maxlen=RECENT_EVENTS)
        self.metrics: dict[str, CallMetrics] = {}
        self.summaries: dict[str, dict[str, Any]] = {}
        self.status = "waiting for the daemon"
        self.last_seq = 0
        self.count = 0

    def apply(self, envelope: Mapping[str, Any]) -> None:
        """Fold one envelope into the view."""
        kind = str(envelope.get("type", ""))
        data = envelope.get("data", {})
        self.last_seq = int(envelope.get("seq", self.last_seq))
        self.count += 1
        if kind in METRIC_TYPES:
            self._metric(kind, data)
            if kind == "leg.sample":
                return  # one a second per leg: shown in the call's line, not under RECENT
        self.recent.append(summarize(envelope))
        if kind in METRIC_TYPES:
            return
        if kind in ("call.started", "call.updated"):
            call = dict(data["call"])
            self.calls[call["call_id"]] = call
        elif kind == "call.ended":
            call = dict(data["call"])
            self.calls.pop(call["call_id"], None)
            self.ended.append(call)
        elif kind.startswith("leg."):
            owner = self.calls.get(str(data.get("call_id")))
            if owner is not None:
                channels = [c for c in owner.get("channels", [])
                            if c.get("uniqueid") != data["channel"].get("uniqueid")]
                if kind != "leg.removed":
                    channels.append(data["channel"])
                owner["channels"] = channels
        elif kind == "queue.updated":
            self.queues[data["queue"]["name"]] = dict(data["queue"])
        elif kind in ("queue.caller_joined", "queue.caller_left"):
            queue = self.queues.setdefault(str(data.get("queue")),
                                           {"name": data.get("queue"), "callers": []})
            uid = data["caller"].get("uniqueid")
            callers = [c for c in queue.get("callers", []) if c.get("uniqueid") != uid]
            if kind == "queue.caller_joined":
                callers.append(data["caller"])
            queue["callers"] = callers
        elif kind == "agent.updated":
            self.agents[data["agent"]["interface"]] = dict(data["agent"])
        elif kind == "resync.completed":
            self.status = (f"resynced ({data.get('trigger')}) in "
                           f"{1000 * float(data.get('duration_s') or 0):.1f} ms")
        elif kind in ("asterisk.connected", "asterisk.disconnected"):
            self.status = f"{kind.split('.')[1]}: {data.get('link', data.get('interface'))}"
        elif kind.startswith("daemon."):
            self.status = kind

    def _metric(self, kind: str, data: Mapping[str, Any]) -> None:
        call_id = str(data.get("call_id"))
        if kind == "call.summary":
            self.summaries[call_id] = dict(data.get("summary", {}))
        metrics = self.metrics.get(call_id)
        if metrics is None:
            if len(self.metrics) >= MAX_METRIC_CALLS:
                del self.metrics[next(iter(self.metrics))]
            metrics = self.metrics[call_id] = CallMetrics()
        metrics.apply(kind, data)

    def render(self, width: int = 100) -> str:
        """The whole screen as text lines."""
        out = [f"edgeqa live  seq {self.last_seq}  events {self.count}  [{self.status}]",
               "=" * min(width, 100), "CALLS"]
        if not self.calls:
            out.append("  (none)")
        for call in self.calls.values():
            out.append(f"  {call['call_id']:<22} {call.get('state', ''):<10} "
                       f"queue={call.get('queue')} agent={call.get('agent_interface')} "
                       f"since {_clock(call.get('started_at'))}")
            for channel in call.get("channels", []):
                hold = " HOLD" if channel.get("on_hold") else ""
                out.append(f"      {channel.get('role', ''):<10} {channel.get('channel', ''):<28} "
                           f"{channel.get('state', '')}{hold}")
            if call["call_id"] in self.metrics:
                out += [f"      {line[:width - 6]}"
                        for line in self.metrics[call["call_id"]].render()]
        for call in self.ended:
            out.append(f"  {call['call_id']:<22} ended      queue={call.get('queue')} "
                       f"agent={call.get('agent_interface')} "
                       f"{_dur(call.get('started_at'), call.get('ended_at'))}")
            if call["call_id"] in self.metrics:
                out += [f"      {line[:width - 6]}"
                        for line in self.metrics[call["call_id"]].render()]
        out.append("QUEUES")
        for q in self.queues.values():
            out.append(f"  {q['name']:<10} waiting {len(q.get('callers', []))}  "
                       f"completed {q.get('completed', 0)}  abandoned {q.get('abandoned', 0)}")
        out.append("AGENTS")
        for a in self.agents.values():
            states = ",".join(str(m.get("state")) for m in a.get("queues", []))
            paused = " paused" if a.get("paused") else ""
            on_call = f"  on call {a['on_call']}" if a.get("on_call") else ""
            out.append(f"  {a['interface']:<14} {states}{paused}{on_call}")
        out.append("RECENT")
        out.extend(f"  {line[:width - 2]}" for line in self.recent)
        return "\n".join(out)

"""ARI events and resources reduced to what the tracker needs (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# ARI channel states (ast_state2str) -> the tracker's lower-case names.
_STATES = {
    "Down": "down", "Rsrvd": "reserved", "OffHook": "offhook", "Dialing": "dialing",
    "Ring": "ring", "Ringing": "ringing", "Up": "up", "Busy": "busy",
    "Dialing Offhook": "dialing_offhook", "Pre-ring": "prering", "Unknown": "unknown",
}


@dataclass(frozen=True, slots=True)
class ChannelChange:
    """A live ARI event's effect on one channel."""

    uniqueid: str
    ts: float
    state: str | None = None
    on_hold: bool | None = None
    ended: bool = False
    cause: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelSnapshot:
    """One channel from GET /channels."""

    uniqueid: str
    name: str
    state: str
    started_at: float
    caller_num: str
    caller_name: str
    app: str
    app_data: str


def parse_time(value: Any, default: float) -> float:
    """ARI's ``2026-11-22T06:04:00.069+0000`` -> seconds since the epoch."""
    if not isinstance(value, str):
        return default
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        return default


def _channel(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    channel = event.get("channel")
    if isinstance(channel, Mapping) and isinstance(channel.get("id"), str):
        return channel
    return None


def channel_change(event: Mapping[str, Any], now: float) -> ChannelChange | None:
    """ChannelDestroyed / ChannelStateChange / ChannelHold / ChannelUnhold -> a change."""
    kind = event.get("type")
    channel = _channel(event)
    if channel is None:
        return None
    uniqueid, ts = str(channel["id"]), parse_time(event.get("timestamp"), now)
    if kind == "ChannelDestroyed":
        cause = event.get("cause_txt")
        return ChannelChange(uniqueid, ts, ended=True,
                             cause=cause if isinstance(cause, str) else None)
    if kind == "ChannelStateChange":
        return ChannelChange(uniqueid, ts, state=_STATES.get(str(channel.get("state")), "unknown"))
    if kind in ("ChannelHold", "ChannelUnhold"):
        return ChannelChange(uniqueid, ts, on_hold=kind == "ChannelHold")
    return None


def channel_snapshot(channel: Mapping[str, Any], now: float) -> ChannelSnapshot | None:
    """One element of GET /channels, or None if it has no id or name."""
    uniqueid, name = channel.get("id"), channel.get("name")
    if not isinstance(uniqueid, str) or not isinstance(name, str):
        return None
    caller = channel.get("caller")
    caller = caller if isinstance(caller, Mapping) else {}
    dialplan = channel.get("dialplan")
    dialplan = dialplan if isinstance(dialplan, Mapping) else {}
    return ChannelSnapshot(
        uniqueid=uniqueid, name=name,
        state=_STATES.get(str(channel.get("state")), "unknown"),
        started_at=parse_time(channel.get("creationtime"), now),
        caller_num=str(caller.get("number") or ""), caller_name=str(caller.get("name") or ""),
        app=str(dialplan.get("app_name") or ""), app_data=str(dialplan.get("app_data") or ""),
    )


def bridge_members(bridges: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """GET /bridges -> {channel id: bridge id}."""
    found: dict[str, str] = {}
    for bridge in bridges:
        bridge_id, channels = bridge.get("id"), bridge.get("channels")
        if isinstance(bridge_id, str) and isinstance(channels, list):
            for channel_id in channels:
                if isinstance(channel_id, str):
                    found[channel_id] = bridge_id
    return found

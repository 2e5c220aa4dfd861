"""Typed application keys and the small contracts the API handlers read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from edgeqa.pci.service import PciService
from edgeqa.recording.playback import StereoCache
from edgeqa.stream import StreamHub


class DaemonView(Protocol):
    """What the API reads from the daemon."""

    def calls_snapshot(self) -> Mapping[str, Any]: ...
    def health(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """Per-connection limits of the stream endpoints."""

    send_timeout_s: float = 5.0
    sse_keepalive_s: float = 15.0


VIEW_KEY = web.AppKey("view", DaemonView)
HUB_KEY = web.AppKey("hub", StreamHub)
SETTINGS_KEY = web.AppKey("stream_settings", StreamSettings)
RECORDINGS_KEY = web.AppKey("recordings", StereoCache)
PCI_KEY = web.AppKey("pci", PciService)

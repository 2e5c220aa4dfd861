"""The ARI resources edgeqa uses: typed wrappers over REST calls (channels, bridges, media)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from edgeqa.ari.rest import AriConnectionError, AriHttpError


def quote_segment(value: str) -> str:
    """Quote one path segment (channel ids contain dots, names may contain slashes)."""
    return quote(value, safe="")


class AriResources(ABC):
    """REST methods; the client supplies ``_call``, ``app``, the bridge set and Stasis waits."""

    app: str
    _own_bridges: set[str]

    @abstractmethod
    async def _call(
        self, method: str, path: str, params: Mapping[str, str | int | None] | None = None,
        body: Any = None,
    ) -> Any:
        """Send one REST request; return the decoded JSON body (None when empty)."""

    @abstractmethod
    async def wait_for_stasis_start(self, channel_id: str, timeout_s: float) -> None:
        """Return once ``channel_id`` is in our Stasis app; raise on timeout."""

    async def asterisk_info(self) -> dict[str, Any]:
        """GET /asterisk/info."""
        return _obj(await self._call("GET", "/asterisk/info"))

    async def get_application(self) -> dict[str, Any]:
        """GET /applications/{app}: our app's subscriptions and event filter."""
        return _obj(await self._call("GET", f"/applications/{quote_segment(self.app)}"))

    async def get_channels(self) -> list[dict[str, Any]]:
        """GET /channels: every live channel."""
        return _list(await self._call("GET", "/channels"))

    async def get_channel(self, channel_id: str) -> dict[str, Any]:
        """GET /channels/{id}."""
        return _obj(await self._call("GET", f"/channels/{quote_segment(channel_id)}"))

    async def get_bridges(self) -> list[dict[str, Any]]:
        """GET /bridges: every live bridge."""
        return _list(await self._call("GET", "/bridges"))

    async def create_bridge(
        self, bridge_type: str = "mixing", *, bridge_id: str | None = None, name: str | None = None
    ) -> dict[str, Any]:
        """POST /bridges; the bridge is remembered and deleted on close()."""
        params = {"type": bridge_type, "bridgeId": bridge_id, "name": name}
        bridge = _obj(await self._call("POST", "/bridges", params))
        self._own_bridges.add(str(bridge["id"]))
        return bridge

    async def delete_bridge(self, bridge_id: str) -> None:
        """DELETE /bridges/{id}; a bridge already gone (404) counts as deleted."""
        try:
            await self._call("DELETE", f"/bridges/{quote_segment(bridge_id)}")
        except AriHttpError as exc:
            if exc.status != 404:
                raise
        self._own_bridges.discard(bridge_id)

    async def add_channel(self, bridge_id: str, channel_id: str | Sequence[str]) -> None:
        """POST /bridges/{id}/addChannel (422 if the channel is not in Stasis yet)."""
        channels = channel_id if isinstance(channel_id, str) else ",".join(channel_id)
        path = f"/bridges/{quote_segment(bridge_id)}/addChannel"
        await self._call("POST", path, {"channel": channels})

    async def add_channel_when_ready(
        self, bridge_id: str, channel_id: str, timeout_s: float
    ) -> None:
        """Wait for the channel's StasisStart, then addChannel (avoids the 422 race)."""
        await self.wait_for_stasis_start(channel_id, timeout_s)
        await self.add_channel(bridge_id, channel_id)

    async def snoop(
        self, channel_id: str, *, spy: str = "in", whisper: str = "none",
        snoop_id: str | None = None,
    ) -> dict[str, Any]:
        """POST /channels/{id}/snoop into our app; returns the Snoop/ channel."""
        params = {"app": self.app, "spy": spy, "whisper": whisper, "snoopId": snoop_id}
        path = f"/channels/{quote_segment(channel_id)}/snoop"
        return _obj(await self._call("POST", path, params))

    async def external_media(
        self, external_host: str, *, audio_format: str = "slin16", channel_id: str | None = None,
        encapsulation: str = "rtp", transport: str = "udp",
    ) -> dict[str, Any]:
        """POST /channels/externalMedia into our app; returns the UnicastRTP/ channel."""
        params = {
            "app": self.app, "external_host": external_host, "format": audio_format,
            "channelId": channel_id, "encapsulation": encapsulation, "transport": transport,
        }
        return _obj(await self._call("POST", "/channels/externalMedia", params))

    async def get_variable(self, channel_id: str, variable: str) -> str:
        """GET /channels/{id}/variable: a variable's or a dialplan function's value (any
        channel, in our app or not; a function that fails is HTTP 500)."""
        path = f"/channels/{quote_segment(channel_id)}/variable"
        value = _obj(await self._call("GET", path, {"variable": variable})).get("value")
        if not isinstance(value, str):
            raise AriConnectionError(f"ARI answered {variable} of {channel_id} without a value")
        return value

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        """DELETE /channels/{id}."""
        await self._call("DELETE", f"/channels/{quote_segment(channel_id)}", {"reason": reason})


def _obj(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AriConnectionError(f"ARI answered {type(value).__name__}, expected an object")
    return value


def _list(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise AriConnectionError("ARI answered something other than a list of objects")
    return value

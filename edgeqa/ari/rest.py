"""ARI REST over aiohttp: typed errors, bounded responses, basic auth."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import aiohttp

from edgeqa.ari.events import AriFrameError, load_json

log = logging.getLogger(__name__)

# The largest REST answer we read: GET /channels on a busy PBX is ~1 KiB per channel.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
REQUEST_TIMEOUT_S = 5.0


class AriError(Exception):
    """Any failure talking to ARI."""


class AriHttpError(AriError):
    """ARI answered with an HTTP error status."""

    def __init__(self, status: int, reason: str, method: str = "", path: str = "") -> None:
        super().__init__(f"ARI {method} {path} -> {status} {reason}".replace("  ", " "))
        self.status = status
        self.reason = reason
        self.method = method
        self.path = path


class AriAuthenticationError(AriHttpError):
    """ARI refused our credentials (401): fatal, never retried."""


class AriConnectionError(AriError):
    """ARI could not be reached, or the answer was cut short or unreadable."""


class AriTimeoutError(AriError):
    """An ARI wait did not complete in time."""


def _params(params: Mapping[str, str | int | None] | None) -> dict[str, str]:
    if not params:
        return {}
    return {key: str(value) for key, value in params.items() if value is not None}


class AriRest:
    """Issue ARI REST requests on a shared session; raise AriError subclasses on failure."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        authorization: str,
        *,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": authorization}
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._max_response_bytes = max_response_bytes

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | None] | None = None,
        body: Any = None,
    ) -> Any:
        """Send one request; return the decoded JSON body (None when empty)."""
        url = f"{self._base_url}{path}"
        try:
            async with self._session.request(
                method,
                url,
                params=_params(params),
                json=body,
                headers=self._headers,
                timeout=self._timeout,
            ) as resp:
                if resp.content_length is not None and (
                    resp.content_length > self._max_response_bytes
                ):
                    raise AriConnectionError(
                        f"ARI {method} {path}: {resp.content_length} bytes exceeds "
                        f"{self._max_response_bytes} bytes"
                    )
                raw = await resp.content.read(self._max_response_bytes + 1)
                if len(raw) > self._max_response_bytes:
                    raise AriConnectionError(
                        f"ARI {method} {path}: answer exceeds {self._max_response_bytes} bytes"
                    )
                if resp.status == 401:
                    raise AriAuthenticationError(resp.status, resp.reason or "", method, path)
                if resp.status >= 400:
                    raise AriHttpError(resp.status, _reason(resp.reason, raw), method, path)
        except aiohttp.ClientError as exc:
            raise AriConnectionError(f"ARI {method} {path}: {exc!r}") from exc
        except TimeoutError as exc:
            raise AriTimeoutError(f"ARI {method} {path}: no answer in time") from exc
        if not raw.strip():
            return None
        try:
            return load_json(raw)
        except AriFrameError as exc:
            raise AriConnectionError(f"ARI {method} {path}: answer {exc}") from None


def _reason(reason: str | None, raw: bytes) -> str:
    """ARI puts the useful text in {"message": ...}; fall back to the HTTP reason."""
    try:
        body = load_json(raw)
    except AriFrameError:
        return reason or ""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return reason or ""

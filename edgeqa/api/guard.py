"""Cross-site guard of the API: ``Host`` names (DNS rebinding) and ``Origin`` (foreign pages).

- ``Host`` must name this daemon: a loopback name (``localhost``, ``127.0.0.1``, ``[::1]``) or
  the bind address, with the port the request arrived on, or an entry of ``[api]
  allowed_hosts``. A web page that rebinds its own name to 127.0.0.1 still sends its own name,
  and gets 421 (Misdirected Request). A request without ``Host`` (HTTP/1.0 tools) is let through:
  browsers always send one.
- ``Origin``, on every request that carries one (WebSocket upgrades, SSE and every
  state-changing request included): the daemon's own origin (``http://`` + the checked Host)
  or an entry of ``[api] allowed_origins``; anything else, and ``Origin: null`` (sandboxed
  frames, file: pages), gets 403. A request without ``Origin`` comes from a non-browser client
  and is let through (the token check is what guards it).
- CORS: no wildcard, ever. A configured cross-origin entry gets its own origin echoed back in
  ``Access-Control-Allow-Origin``, with ``Vary: Origin``, and an answer to its preflight.

The checks are pure functions of the header texts (``OriginPolicy``); ``mount`` adds the thin
aiohttp middleware and the response hook.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import hdrs, web

from edgeqa.api.errors import Handler, json_error
from edgeqa.config.origins import DEFAULT_PORTS, parse_host, parse_origin

__all__ = ["GuardSettings", "OriginPolicy", "mount", "parse_host", "parse_origin"]

#: Names that always mean this machine; a DNS rebinding attack cannot make a browser send them.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
#: How much of a refused header is quoted back in the error message.
QUOTE_MAX_CHARS = 80
#: How long a browser may cache a preflight answer.
PREFLIGHT_MAX_AGE_S = 600
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE"
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}")


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """The configured names: extra ``host[:port]`` names and ``scheme://host[:port]`` origins."""

    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    bind_host: str = "127.0.0.1"


def _quote(value: str) -> str:
    shown = value if len(value) <= QUOTE_MAX_CHARS else value[:QUOTE_MAX_CHARS] + "..."
    return repr(shown)


class OriginPolicy:
    """Decides on ``Host`` and ``Origin`` texts; each check returns None or the refusal text."""

    def __init__(self, settings: GuardSettings) -> None:
        bind = settings.bind_host.strip().lower()
        if ":" in bind and not bind.startswith("["):
            bind = f"[{bind}]"
        # The bind address even when it is 0.0.0.0: an address literal is never a rebound name.
        self._local_names = frozenset({*LOOPBACK_NAMES, bind} - {""})
        self._extra_hosts: list[tuple[str, int | None]] = []
        for entry in settings.allowed_hosts:
            parsed = parse_host(entry)
            if parsed is None:
                raise ValueError(f"allowed host {entry!r} is not a host name or host:port")
            self._extra_hosts.append(parsed)
        origins = []
        for entry in settings.allowed_origins:
            origin = parse_origin(entry)
            if origin is None:
                raise ValueError(f"allowed origin {entry!r} is not scheme://host[:port]")
            origins.append(origin)
        self.cross_origins = frozenset(origins)

    def host_error(self, host: str | None, local_port: int | None) -> str | None:
        """Why ``host`` (the Host header) does not name this daemon, or None if it does.

        Loopback names and the bind address need the port the request arrived on; an
        allowed_hosts entry without a port matches its name with no port or that port."""
        if host is None:
            return None
        parsed = parse_host(host)
        if parsed is not None:
            name, port = parsed
            own_port = local_port is None or port == local_port or (
                port is None and local_port == DEFAULT_PORTS["http"])
            if own_port and name in self._local_names:
                return None
            for entry_name, entry_port in self._extra_hosts:
                if entry_name == name and (
                        port == entry_port or (entry_port is None and (port is None or own_port))):
                    return None
        return (f"Host {_quote(host)} does not name this daemon (it answers to "
                f"{', '.join(sorted(self._local_names))} on its own port, and to [api] "
                "allowed_hosts)")

    def origin_error(self, origin: str | None, host: str | None) -> str | None:
        """Why a request from ``origin`` is refused, or None (no Origin, same or allowed)."""
        if origin is None:
            return None
        normal = parse_origin(origin)
        if normal is None:
            return f"Origin {_quote(origin)} is refused (not an allowed origin)"
        if normal in self.cross_origins:
            return None
        if host is not None and normal in (parse_origin(f"http://{host}"),
                                           parse_origin(f"https://{host}")):
            return None  # the daemon's own pages, direct or behind a TLS proxy (Host checked)
        return (f"Origin {_quote(origin)} may not use this API (allowed: the daemon's own "
                "origin and [api] allowed_origins)")

    def cors_origin(self, origin: str | None) -> str | None:
        """The origin to echo in Access-Control-Allow-Origin (a configured one), or None."""
        if origin is None:
            return None
        normal = parse_origin(origin)
        return origin if normal is not None and normal in self.cross_origins else None


POLICY_KEY = web.AppKey("origin_policy", OriginPolicy)


def _local_port(request: web.Request) -> int | None:
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if isinstance(sockname, tuple) and len(sockname) >= 2 and isinstance(sockname[1], int):
        return sockname[1]
    return None


@web.middleware
async def check_host_and_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a foreign Host (421) or Origin (403) before anything else runs."""
    policy = request.app[POLICY_KEY]
    host = request.headers.get(hdrs.HOST)
    error = policy.host_error(host, _local_port(request))
    if error is not None:
        return json_error(421, "misdirected_request", error)
    origin = request.headers.get(hdrs.ORIGIN)
    error = policy.origin_error(origin, host)
    if error is not None:
        return json_error(403, "forbidden_origin", error)
    if request.method == hdrs.METH_OPTIONS and policy.cors_origin(origin) is not None \
            and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers:
        return _preflight(request)
    return await handler(request)


def _preflight(request: web.Request) -> web.Response:
    asked = request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_HEADERS, "")
    names = [n.strip() for n in asked.split(",") if n.strip()]
    headers = {hdrs.ACCESS_CONTROL_ALLOW_METHODS: CORS_METHODS,
               hdrs.ACCESS_CONTROL_MAX_AGE: str(PREFLIGHT_MAX_AGE_S)}
    allowed = [n for n in names if _TOKEN.fullmatch(n)]
    if allowed:
        headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ", ".join(allowed)
    return web.Response(status=204, headers=headers)


async def _cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None:
        return
    _add_vary(response, "Origin")
    allowed = request.app[POLICY_KEY].cors_origin(origin)
    if allowed is not None:
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = allowed
    else:
        response.headers.popall(hdrs.ACCESS_CONTROL_ALLOW_ORIGIN, None)


def _add_vary(response: web.StreamResponse, name: str) -> None:
    present = [v.strip().lower() for v in response.headers.get(hdrs.VARY, "").split(",")]
    if name.lower() not in present:
        response.headers.add(hdrs.VARY, name)


def mount(app: web.Application, settings: GuardSettings | None = None) -> None:
    """Put the guard first in ``app``'s middlewares, and echo allowed origins on responses."""
    app[POLICY_KEY] = OriginPolicy(settings or GuardSettings())
    app.middlewares.insert(0, check_host_and_origin)
    app.on_response_prepare.append(_cors_headers)


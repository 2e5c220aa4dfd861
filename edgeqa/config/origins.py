"""Host names and web origins as the [api] cross-site keys and the API's guard read them:
pure parsing, shared by config validation and edgeqa.api.guard."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

__all__ = ["DEFAULT_PORTS", "parse_host", "parse_origin"]

DEFAULT_PORTS = {"http": 80, "https": 443}
_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def parse_host(text: str) -> tuple[str, int | None] | None:
    """Return (lower-case name, port or None) of a ``Host`` value; None if it is malformed.

    IPv6 literals keep their brackets (``[::1]``)."""
    text = text.strip().lower()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        name, rest = text[: end + 1], text[end + 1:]
        try:
            ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            return None
    else:
        name, sep, port_text = text.partition(":")
        rest = f":{port_text}" if sep else ""
        if not _NAME.fullmatch(name):
            return None
    if not rest:
        return name, None
    port_text = rest[1:]
    if not rest.startswith(":") or not port_text.isascii() or not port_text.isdigit() \
            or len(port_text) > 5 or not 0 < int(port_text) < 65536:
        return None
    return name, int(port_text)


def parse_origin(text: str) -> str | None:
    """Return ``scheme://host[:port]`` (lower case, default port dropped) of an ``Origin`` or
    an allowed-origins entry; None if it is not exactly a scheme, a host and maybe a port."""
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or parts.path not in ("",) or parts.query \
            or parts.fragment or "@" in parts.netloc or text.strip().endswith("?"):
        return None
    host = parse_host(parts.netloc)
    if host is None:
        return None
    name, port = host
    if port is None or port == DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{name}"
    return f"{parts.scheme}://{name}:{port}"

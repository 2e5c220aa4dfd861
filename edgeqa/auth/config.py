"""The [auth] section: browser session lifetime, the cookie's Secure flag, the local token,
and the teams a supervisor may be scoped to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """``session_lifetime_s``: a browser session ends this long after login.
    ``cookie_secure``: add ``Secure`` to the session cookie (set it behind an HTTPS proxy).
    ``local_token``: at start the daemon writes an admin token for CLI commands on this host
    to ``local.token`` beside the store (mode 0600).
    ``teams``: team name -> agents (member names or interfaces, as the tracker names them)."""

    session_lifetime_s: float = 8 * 3600.0
    cookie_secure: bool = False
    local_token: bool = True
    teams: Mapping[str, frozenset[str]] = field(default_factory=dict)

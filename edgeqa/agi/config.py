"""The [agi] section: the FastAGI server the dialplan's feature codes and routing reach."""

from __future__ import annotations

from dataclasses import dataclass

from edgeqa.agi.codec import AgiLimits

#: The FastAGI port Asterisk uses when an agi:// URL names none (res_agi.c AGI_PORT).
DEFAULT_PORT = 4573
_LIMITS = AgiLimits()


@dataclass(frozen=True, slots=True)
class AgiConfig:
    """``host`` is loopback only; the other keys bound sessions, lines and waits (AgiLimits)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_sessions: int = _LIMITS.max_sessions
    env_timeout_s: float = _LIMITS.env_timeout_s
    command_timeout_s: float = _LIMITS.command_timeout_s
    max_line_bytes: int = _LIMITS.max_line_bytes
    max_env_lines: int = _LIMITS.max_env_lines

    @property
    def limits(self) -> AgiLimits:
        """The server's and each session's limits."""
        return AgiLimits(max_line_bytes=self.max_line_bytes, max_env_lines=self.max_env_lines,
                         max_sessions=self.max_sessions, env_timeout_s=self.env_timeout_s,
                         command_timeout_s=self.command_timeout_s)

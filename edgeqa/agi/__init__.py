"""FastAGI: a sans-I/O codec (codec.py), one session's commands (session.py) and the loopback
server the dialplan's AGI(agi://127.0.0.1:4573/ROUTE,...) reaches (server.py)."""

from edgeqa.agi.codec import (
    AgiArgumentError,
    AgiCommandError,
    AgiError,
    AgiHangup,
    AgiLimits,
    AgiProtocolError,
    AgiRequest,
    AgiResult,
)
from edgeqa.agi.config import AgiConfig
from edgeqa.agi.server import AgiServer
from edgeqa.agi.session import AgiHandler, AgiSession, AgiTimeout

__all__ = [
    "AgiArgumentError",
    "AgiCommandError",
    "AgiConfig",
    "AgiError",
    "AgiHandler",
    "AgiHangup",
    "AgiLimits",
    "AgiProtocolError",
    "AgiRequest",
    "AgiResult",
    "AgiServer",
    "AgiSession",
    "AgiTimeout",
]

"""The HTTP face of the daemon: health, live calls and the event stream (WebSocket + SSE)."""

from edgeqa.api.keys import DaemonView, StreamSettings
from edgeqa.api.server import ApiServer, make_app
from edgeqa.api.stream import CLOSE_GOING_AWAY, CLOSE_LAGGED, CLOSE_PRUNED, CLOSE_SEND_TIMEOUT

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_LAGGED",
    "CLOSE_PRUNED",
    "CLOSE_SEND_TIMEOUT",
    "ApiServer",
    "DaemonView",
    "StreamSettings",
    "make_app",
]

"""ARI: pure event decoding (events.py), REST (rest.py), the reconnecting client (client.py)."""

from edgeqa.ari.client import AriClient, AriStats
from edgeqa.ari.events import AriEvent, AriFrameError, decode_frame
from edgeqa.ari.rest import (
    AriAuthenticationError,
    AriConnectionError,
    AriError,
    AriHttpError,
    AriTimeoutError,
)

__all__ = [
    "AriAuthenticationError", "AriClient", "AriConnectionError", "AriError", "AriEvent",
    "AriFrameError", "AriHttpError", "AriStats", "AriTimeoutError", "decode_frame",
]

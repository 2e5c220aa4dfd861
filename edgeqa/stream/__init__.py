"""The durable, resumable event stream (fan-out hub; WebSocket/SSE faces live in edgeqa.api)."""

from edgeqa.stream.hub import (
    BadCursor,
    HubStats,
    Lagged,
    Pruned,
    StreamClosed,
    StreamError,
    StreamHub,
    Subscription,
    TooManyForKey,
    TooManySubscribers,
)

__all__ = [
    "BadCursor",
    "HubStats",
    "Lagged",
    "Pruned",
    "StreamClosed",
    "StreamError",
    "StreamHub",
    "Subscription",
    "TooManyForKey",
    "TooManySubscribers",
]

"""The call model: a pure tracker of calls, legs, queues and agents from AMI and ARI events."""

from edgeqa.calls.model import EVENT_TYPES, ROLES, TrackerEvent
from edgeqa.calls.tracker import CallTracker

__all__ = ["EVENT_TYPES", "ROLES", "CallTracker", "TrackerEvent"]

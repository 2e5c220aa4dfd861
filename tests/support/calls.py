"""A connected queue call as the tracker holds it (customer and agent channels up), for unit
tests of the services that act on calls."""

from __future__ import annotations

from edgeqa.calls.changes import CallConnected
from edgeqa.calls.model import Call, Channel

T0 = 1733012345.0  # 2024-12-01 00:19:05 UTC
CUSTOMER_ID, AGENT_ID = "u-cust", "u-agent"


def connected_call(call_id: str = "1733012345.1", *, queue: str | None = "sales",
                   agent_up: bool = True) -> Call:
    """Call ``call_id`` answered at T0 in ``queue`` by agent1 (Alice); ``agent_up`` False: the
    agent's channel still rings (not connected)."""
    call = Call(call_id, T0, announced=True, state="connected", answered_at=T0, queue=queue,
                agent_interface="PJSIP/agent1", agent_name="Alice")
    call.channels[CUSTOMER_ID] = Channel(CUSTOMER_ID, "PJSIP/customer1-00000001", call_id, T0,
                                         role="customer", state="up")
    call.channels[AGENT_ID] = Channel(AGENT_ID, "PJSIP/agent1-00000002", call_id, T0,
                                      role="agent", state="up" if agent_up else "ringing")
    return call


def connected(call: Call) -> CallConnected:
    """The tracker's change for ``call`` connected at T0."""
    return CallConnected(call.call_id, T0, T0, CUSTOMER_ID, AGENT_ID)

"""The daemon as the API handlers read it, for API tests that do not need its live model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgeqa.audit.model import Actor
from edgeqa.auth.config import AuthConfig
from edgeqa.auth.model import make_scope
from edgeqa.auth.service import Authority, add_token
from edgeqa.calls.model import Call, Channel
from edgeqa.store import Store


class FakeView:
    """No calls; health ok."""

    def calls_snapshot(self) -> Mapping[str, Any]:
        return {"calls": []}

    def health(self) -> Mapping[str, Any]:
        return {"status": "ok"}


def authority(store: Store, teams: Mapping[str, frozenset[str]] | None = None) -> Authority:
    """The API's access control on ``store`` (a real, opened Store)."""
    return Authority(store, AuthConfig(teams=teams or {}))


async def new_token(store: Store, role: str, name: str = "t", *scopes: str,
                    agent: str | None = None) -> str:
    """A new token's secret (created as `edgeqa token add` does)."""
    scope = make_scope(role, scopes, agent)
    _, secret = await add_token(store, name, role, scope, Actor("cli", "test"), 1.0)
    return secret


async def admin_headers(store: Store) -> dict[str, str]:
    """The Authorization header of a new admin token."""
    return {"Authorization": f"Bearer {await new_token(store, 'admin', 'admin')}"}


CALL_A, CALL_B = "1733012345.1", "1733012399.5"  # support/agent1, sales/agent2


def queue_call(call_id: str, queue: str, agent: str, name: str) -> dict[str, Any]:
    """A connected queue call as the tracker's snapshot has it (customer1 and ``agent``)."""
    t0 = 1733012345.0
    call = Call(call_id, t0, announced=True, state="connected", answered_at=t0, queue=queue,
                agent_interface=f"PJSIP/{agent}", agent_name=name)
    call.channels["c"] = Channel("c", "PJSIP/customer1-00000001", call_id, t0, role="customer",
                                 state="up", caller_id_num="5551234", queue=queue)
    call.channels["a"] = Channel("a", f"PJSIP/{agent}-00000002", call_id, t0, role="agent",
                                 state="up", agent_interface=f"PJSIP/{agent}")
    return call.to_dict()

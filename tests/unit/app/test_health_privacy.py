"""/v1/health is open on loopback, so it must name no call, caller, agent or queue."""

from __future__ import annotations

import json
from pathlib import Path

from edgeqa.app import Daemon
from tests.support.calls import connected_call
from tests.unit.app.test_links import make_config


def test_health_names_no_call_data(tmp_path: Path) -> None:
    daemon = Daemon(make_config(tmp_path))
    call = connected_call("1733012345.1", queue="support")
    call.channels["u-cust"].caller_id_num = "5551234"
    daemon.tracker.state.calls[call.call_id] = call
    assert daemon.calls_snapshot()["calls"]  # the snapshot has it: health must not
    text = json.dumps(daemon.health())
    for private in ("1733012345", "5551234", "support", "agent1", "Alice", "customer1"):
        assert private not in text, (private, text)

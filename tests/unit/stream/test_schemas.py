"""Every envelope names a payload schema that exists; envelopes and daemon payloads fit them."""

from __future__ import annotations

import json

import pytest

from edgeqa.calls.model import EVENT_TYPES
from edgeqa.live.events import METRIC_EVENT_TYPES
from edgeqa.store import StoredEvent, schema_name
from tests.support.paths import SCHEMA_DIR
from tests.support.schemas import check_flat, load

SCHEMAS = SCHEMA_DIR
DAEMON_EVENTS = ("daemon.started", "daemon.stopping", "asterisk.connected",
                 "asterisk.disconnected", "resync.completed", "stream.events_dropped")








@pytest.mark.parametrize("event_type", [*EVENT_TYPES, *DAEMON_EVENTS, *METRIC_EVENT_TYPES])
def test_every_event_type_has_its_payload_schema(event_type: str) -> None:
    doc = load(schema_name(event_type))
    assert doc["$id"].endswith(f"/{schema_name(event_type)}.json")


def test_envelope_fits_its_schema() -> None:
    event = StoredEvent(7, "resync.completed", 1.5, schema_name("resync.completed"),
                        '{"trigger":"ami","duration_s":0.002,"outage_s":null,"ami_items":4,'
                        '"ari_channels":0,"calls":0}')
    envelope = json.loads(event.envelope_json())
    check_flat(load("stream.envelope.v1"), envelope)
    check_flat(load(envelope["schema"]), envelope["data"])


def test_daemon_payload_examples_fit() -> None:
    examples = {
        "daemon.started": {"version": "0.1.0", "pid": 1, "resume_from": 0,
                           "api": "http://127.0.0.1:8765/v1/"},
        "daemon.stopping": {"reason": "signal"},
        "asterisk.connected": {"link": "ari", "interface": "ari"},
        "asterisk.disconnected": {"link": "ami", "interface": "ami", "reason": "closed"},
        "stream.events_dropped": {"count": 3, "total": 3},
    }
    for event_type, data in examples.items():
        check_flat(load(schema_name(event_type)), data)

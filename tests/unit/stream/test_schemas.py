"""The schemas in schemas/ against what the daemon's code emits, through the store, as envelopes.

No payload here is written by hand to be valid: the envelopes come from the real tracker fed the
AMI transcript recorded on Asterisk, stored by the real Store. Hand-written values appear only
as invalid input the checker must reject.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from edgeqa.audit.db import AUDIT_EVENT_TYPE
from edgeqa.calls import CallTracker
from edgeqa.calls.model import EVENT_TYPES
from edgeqa.hints.service import HINT_EVENT_TYPES
from edgeqa.live.events import METRIC_EVENT_TYPES
from edgeqa.recording.events import RECORDING_EVENT_TYPES
from edgeqa.route.service import ROUTE_EVENT_TYPES
from edgeqa.spy.service import SPY_EVENT_TYPES
from edgeqa.store import Store, schema_name
from tests.support.ami_events import ami_messages, run_ami
from tests.support.schemas import ENVELOPE, envelope_errors, errors, load, names

DAEMON_EVENTS = ("daemon.started", "daemon.stopping", "asterisk.connected",
                 "asterisk.disconnected", "resync.completed", "stream.events_dropped")


@pytest.mark.parametrize("name", names())
def test_every_schema_file_is_a_draft_2020_12_schema(name: str) -> None:
    doc = load(name)
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"].endswith(f"/{name}.json")


@pytest.mark.parametrize("event_type", [*EVENT_TYPES, *DAEMON_EVENTS, *METRIC_EVENT_TYPES,
                                        *RECORDING_EVENT_TYPES, *SPY_EVENT_TYPES,
                                        *ROUTE_EVENT_TYPES, *HINT_EVENT_TYPES])
def test_every_event_type_has_its_current_payload_schema(event_type: str) -> None:
    assert schema_name(event_type) in names()


def test_audit_entry_has_its_current_payload_schema() -> None:
    assert schema_name(AUDIT_EVENT_TYPE) in names()


async def test_tracker_transcript_as_streamed_fits_its_schemas(
        tmp_path: Path, data_dir: Path) -> None:
    events = run_ami(CallTracker(), ami_messages(data_dir))
    store = Store(tmp_path / "edgeqa.db")
    await store.open()
    try:
        await store.append(events)
        stored = await store.read_after(0, len(events) + 1)
    finally:
        await store.close()
    assert len(stored) == len(events)
    # What a /v1/stream consumer receives, byte for byte.
    envelopes = [json.loads(s.envelope_json()) for s in stored]
    assert {e["type"] for e in envelopes} >= {"call.started", "leg.added", "leg.updated",
                                              "call.ended", "queue.caller_joined"}
    bad = [(e["seq"], e["type"], found) for e in envelopes if (found := envelope_errors(e))]
    assert bad == []


def test_the_checker_rejects_what_does_not_fit() -> None:
    # Invalid on purpose: each must be caught, or the tests above prove nothing.
    good_head = {"seq": 1, "type": "daemon.stopping", "at": 1.0, "schema": "daemon.stopping.v1"}
    assert envelope_errors({**good_head, "data": {"reason": "signal"}}) == []
    assert envelope_errors({**good_head, "data": {}}) == ["data: missing 'reason'"]
    assert envelope_errors({**good_head, "data": {"reason": 3}}) == [
        "data.reason: 3 is not of type 'string'"]
    assert envelope_errors({**good_head, "seq": 0, "data": {"reason": "x"}}) == [
        "$.seq: 0 is less than the minimum of 1"]
    assert envelope_errors({**good_head, "schema": "call.ended.v2", "data": {}}) == [
        "$.schema: 'call.ended.v2' is not a schema of 'daemon.stopping'"]
    assert envelope_errors({**good_head, "schema": "daemon.stopping.v9", "data": {}}) == [
        "$.schema: no schema 'daemon.stopping.v9' in schemas/"]
    assert errors({"seq": 1}, ENVELOPE) == [
        "$: missing 'type'", "$: missing 'at'", "$: missing 'schema'", "$: missing 'data'"]

"""Validate what edgeqa emits against schemas/ with the jsonschema library (Draft 2020-12).

Every schema is read once at import: validation runs in callbacks inside edgeqa code on the
event loop, where the hygiene check (blockbuster) forbids file reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from edgeqa.calls import EVENT_TYPES
from edgeqa.store.records import Event, schema_name
from tests.support.paths import SCHEMA_DIR

ENVELOPE = "stream.envelope.v1"

_DOCS: dict[str, dict[str, Any]] = {
    path.name.removesuffix(".json"): json.loads(path.read_text())
    for path in sorted(SCHEMA_DIR.glob("*.json"))
}
_VALIDATORS = {name: Draft202012Validator(doc) for name, doc in _DOCS.items()}


def load(name: str) -> dict[str, Any]:
    """The schema ``schemas/<name>.json`` (``name`` like ``call.ended.v1``)."""
    return _DOCS[name]


def names() -> list[str]:
    """Every schema name in schemas/."""
    return list(_DOCS)


def _path(error: ValidationError) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}"
                         for p in error.absolute_path)


def _describe(error: ValidationError) -> str:
    if error.validator == "required":
        # "'leg' is a required property" -> "$: missing 'leg'"
        return f"{_path(error)}: missing {error.message.removesuffix(' is a required property')}"
    return f"{_path(error)}: {error.message}"


def _errors(validator: Draft202012Validator, value: Any) -> list[str]:
    found = sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
    return [_describe(e) for e in found]


def check_schema(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any],
                 path: str = "$") -> list[str]:
    """Errors of ``value`` against ``schema``, whose ``$ref``s point into ``root``'s ``$defs``."""
    doc = dict(schema)
    if schema is not root and "$defs" in root:
        doc.setdefault("$defs", root["$defs"])
    errors = _errors(Draft202012Validator(doc), value)
    return [path + e.removeprefix("$") for e in errors]


def errors(value: Any, name: str) -> list[str]:
    """Errors of ``value`` against ``schemas/<name>.json``; an unknown schema is an error."""
    if name not in _VALIDATORS:
        return [f"no schema {name!r} in schemas/"]
    return _errors(_VALIDATORS[name], value)


def check_flat(schema: Mapping[str, Any], value: Mapping[str, Any]) -> None:
    """Assert that ``value`` is valid against ``schema``."""
    found = _errors(Draft202012Validator(dict(schema)), _as_json(value))
    assert found == [], (schema.get("$id"), found)


def load_schemas() -> dict[str, dict[str, Any]]:
    """The current payload schema of every tracker event type, by type."""
    return {t: _DOCS[schema_name(t)] for t in EVENT_TYPES}


def _as_json(value: Any) -> Any:
    """``value`` as a consumer gets it: through JSON (tuples become lists)."""
    return json.loads(json.dumps(value, allow_nan=False))


def event_errors(event: Event) -> list[str]:
    """Errors of one event, as the daemon would stream it, against its current schema."""
    found = [] if isinstance(event.at, float) else [f"at: {event.at!r} is not a float"]
    return found + errors(_as_json(dict(event.data)), schema_name(event.type))


def assert_valid(events: Iterable[Event]) -> None:
    """Every event has a float time and JSON data valid against its type's current schema."""
    bad = [(event.type, found) for event in events if (found := event_errors(event))]
    assert bad == [], bad


def envelope_errors(envelope: Mapping[str, Any]) -> list[str]:
    """Errors of one stream envelope, and of its payload against the schema it names."""
    found = errors(envelope, ENVELOPE)
    schema = envelope.get("schema")
    if found or not isinstance(schema, str):
        return found
    if not schema.startswith(f"{envelope['type']}.v"):
        return [f"$.schema: {schema!r} is not a schema of {envelope['type']!r}"]
    if schema not in _VALIDATORS:
        return [f"$.schema: no schema {schema!r} in schemas/"]
    return [f"data{e.removeprefix('$')}" for e in errors(envelope["data"], schema)]


class EnvelopeChecker:
    """A stream consumer's ``on_event``: validates every envelope, keeps the failures."""

    def __init__(self) -> None:
        self.checked = 0
        self.failures: list[tuple[int | None, str, list[str]]] = []

    def __call__(self, envelope: Mapping[str, Any]) -> None:
        self.checked += 1
        found = envelope_errors(envelope)
        if found:
            self.failures.append((envelope.get("seq"), str(envelope.get("type")), found))

    def assert_clean(self) -> None:
        """Fail with every invalid envelope seen (seq, type, errors)."""
        assert self.failures == [], "envelopes that do not fit their schema:\n" + "\n".join(
            f"  seq {seq} {type_}: {'; '.join(found)}" for seq, type_, found in self.failures)

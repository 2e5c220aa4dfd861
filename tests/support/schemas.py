"""Validate what edgeqa emits against schemas/ (the subset of JSON Schema 2020-12 they use)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from edgeqa.calls import EVENT_TYPES
from edgeqa.store.records import Event
from tests.support.paths import SCHEMA_DIR

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
    "null": (type(None),), "number": (int, float), "integer": (int,),
}


def check_schema(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any],
                 path: str = "$") -> list[str]:
    """The subset of JSON Schema 2020-12 our schemas use: type, enum, required,
    properties, additionalProperties: false, items, minimum, $ref to #/$defs."""
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), ref
        return check_schema(value, root["$defs"][ref.removeprefix("#/$defs/")], root, path)
    errors: list[str] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(isinstance(value, _TYPES[n]) and not (isinstance(value, bool) and n in
                 ("number", "integer")) for n in names)
        if not ok:
            return [f"{path}: {value!r} is not {names}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and isinstance(value, int | float) and value < schema["minimum"]:
        errors.append(f"{path}: {value!r} < {schema['minimum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing {key!r}")
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                errors += check_schema(item, props[key], root, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected {key!r}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += check_schema(item, schema["items"], root, f"{path}[{index}]")
    return errors


def load_schemas() -> dict[str, dict[str, Any]]:
    """schemas/<type>.v1.json for every tracker event type."""
    return {name: json.loads((SCHEMA_DIR / f"{name}.v1.json").read_text())
            for name in EVENT_TYPES}


def assert_valid(events: list[Event]) -> None:
    """Every event has a known type, a float time, JSON-ready data valid against its schema."""
    schemas = load_schemas()
    for event in events:
        assert event.type in schemas, event.type
        assert isinstance(event.at, float)
        json.dumps(event.data)
        errors = check_schema(dict(event.data), schemas[event.type], schemas[event.type])
        assert errors == [], (event.type, errors)


#: Every schema, read once at import: ``load`` is called from callbacks that run inside edgeqa
#: code on the event loop, where the hygiene check (blockbuster) forbids file reads.
_DOCS: dict[str, dict[str, Any]] = {
    path.name.removesuffix(".json"): json.loads(path.read_text())
    for path in SCHEMA_DIR.glob("*.json")
}


def load(name: str) -> dict[str, Any]:
    return _DOCS[name]


def check_flat(schema: dict[str, Any], value: dict[str, Any]) -> None:
    """The subset of JSON Schema our flat schemas use: required, additionalProperties, types."""
    assert set(schema["required"]) <= set(value)
    if schema.get("additionalProperties") is False:
        assert set(value) <= set(schema["properties"])
    types = {"string": str, "integer": int, "number": (int, float), "object": dict,
             "null": type(None), "boolean": bool, "array": list}
    for key, item in value.items():
        spec = schema["properties"][key]
        if "enum" in spec:
            assert item in spec["enum"], key
            continue
        allowed = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        assert isinstance(item, tuple(t for name in allowed for t in
                                      (types[name] if isinstance(types[name], tuple)
                                       else (types[name],)))), key
        if "pattern" in spec:
            assert re.match(spec["pattern"], item), key

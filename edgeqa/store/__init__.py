"""Durable store: SQLite in WAL mode behind one writer thread (events, calls, legs, checkpoints)."""

from edgeqa.store.records import (
    SCHEMA_VERSION,
    SCHEMA_VERSIONS,
    Checkpoint,
    Event,
    EventLike,
    StoredEvent,
    schema_name,
    schema_version,
)
from edgeqa.store.schema import MIGRATIONS, SchemaTooNewError
from edgeqa.store.writer import Store, StoreClosedError, StoreStats

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SCHEMA_VERSIONS",
    "Checkpoint",
    "Event",
    "EventLike",
    "SchemaTooNewError",
    "Store",
    "StoreClosedError",
    "StoreStats",
    "StoredEvent",
    "schema_name",
    "schema_version",
]

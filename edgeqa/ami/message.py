"""One AMI message (event, response or action) as an ordered list of headers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AmiMessage:
    """An AMI message: headers in wire order; duplicate keys and empty values are kept.

    Lookups are case-insensitive, as Asterisk's own are, and return the first value.
    """

    headers: tuple[tuple[str, str], ...]

    def get(self, key: str, default: str | None = None) -> str | None:
        """Return the first value for ``key`` (case-insensitive), or ``default``."""
        lower = key.lower()
        for name, value in self.headers:
            if name.lower() == lower:
                return value
        return default

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def get_all(self, key: str) -> list[str]:
        """Return every value for ``key`` in wire order (e.g. repeated ``ChanVariable``)."""
        lower = key.lower()
        return [value for name, value in self.headers if name.lower() == lower]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.headers)

    @property
    def event(self) -> str | None:
        """The ``Event`` header, or None if this is not an event."""
        return self.get("Event")

    @property
    def response(self) -> str | None:
        """The ``Response`` header, or None if this is not a response."""
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        """The ``ActionID`` header, or None."""
        return self.get("ActionID")

"""Typed readers for one TOML table, with errors that name the file, the key and its line."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-. \"]+?)\s*=")


class ConfigError(Exception):
    """A configuration problem: ``file:line: key: message`` (line and key when known)."""

    def __init__(self, file: str, key: str | None, line: int | None, message: str) -> None:
        self.file = file
        self.key = key
        self.line = line
        self.message = message
        where = file if line is None else f"{file}:{line}"
        what = f"{key}: {message}" if key else message
        super().__init__(f"{where}: {what}")


class Secret:
    """A secret string whose repr and str never show the value; ``reveal()`` returns it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value (pass it to the client; never log it)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def find_key_line(text: str, path: Sequence[str]) -> int | None:
    """Return the 1-based line of table ``path[:-1]``'s key ``path[-1]`` (or of table ``path``)."""
    table: tuple[str, ...] = ()
    table_line: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        m = _TABLE.match(raw)
        if m and not raw.lstrip().startswith("[["):
            table = tuple(part.strip().strip('"') for part in m.group(1).split("."))
            if table == tuple(path):
                table_line = number
            continue
        k = _KEY.match(raw)
        if k is None:
            continue
        dotted = tuple(p.strip().strip('"') for p in k.group(1).split("."))
        if table + dotted == tuple(path):
            return number
    return table_line


class FieldReader:
    """Reads typed values from one section of the parsed TOML document."""

    def __init__(
        self, file: str, text: str, section: str, table: Mapping[str, Any], base_dir: Path | None
    ) -> None:
        self.file = file
        self.text = text
        self.section = section
        self.table = table
        self.base_dir = base_dir

    def error(self, key: str, message: str) -> ConfigError:
        """Return a ConfigError for ``section.key`` located at its line in the file."""
        line = find_key_line(self.text, (self.section, key))
        if line is None:
            line = find_key_line(self.text, (self.section,))
        return ConfigError(self.file, f"{self.section}.{key}", line, message)

    def _get(self, key: str) -> Any:
        return self.table.get(key)

    def opt_str(self, key: str) -> str | None:
        """Return a string value, or None when absent."""
        value = self._get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(key, f"must be a non-empty string, got {value!r}")
        return value

    def str_(self, key: str, default: str) -> str:
        """Return a non-empty string value, or ``default``."""
        value = self.opt_str(key)
        return default if value is None else value

    def number(self, key: str, default: float) -> float:
        """Return an int or float value as float, or ``default``."""
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number, got {value!r}")
        return float(value)

    def positive(self, key: str, default: float) -> float:
        """Return a number > 0, or ``default``."""
        value = self.number(key, default)
        if not value > 0:
            raise self.error(key, f"must be > 0, got {value!r}")
        return value

    def count(self, key: str, default: int) -> int:
        """Return an integer >= 1, or ``default``."""
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.error(key, f"must be an integer >= 1, got {value!r}")
        return value

    def port(self, key: str, default: int, *, allow_zero: bool = False) -> int:
        """Return a TCP port (1-65535; 0 = any free port when ``allow_zero``), or ``default``."""
        value = self._get(key)
        if value is None:
            return default
        low = 0 if allow_zero else 1
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
            raise self.error(key, f"must be a port number {low}-65535, got {value!r}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        """Return a boolean value, or ``default``."""
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {value!r}")
        return value

    def choice(self, key: str, default: str, choices: Sequence[str], *, upper: bool = False) -> str:
        """Return one of ``choices`` (case-insensitive), or ``default``."""
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, str):
            norm = value.upper() if upper else value.lower()
            if norm in choices:
                return norm
        raise self.error(key, f"must be one of {', '.join(choices)}, got {value!r}")

    def names(self, key: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
        """Return a list of strings each matching ``pattern`` (``what`` names it), or ()."""
        value = self._get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.error(key, f"must be a list of strings, got {value!r}")
        for item in value:
            if not isinstance(item, str) or not pattern.fullmatch(item):
                raise self.error(key, f"each entry must be {what}, got {item!r}")
        return tuple(value)

    def reject_unknown(self, known: Sequence[str]) -> None:
        """Raise ConfigError for the first key not in ``known`` (catches typos)."""
        for key in self.table:
            if key not in known and key not in ("secret", "password"):
                raise self.error(key, f"unknown key (known: {', '.join(known)})")

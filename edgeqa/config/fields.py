"""Typed readers for one TOML table, with errors that name the file, the key and its line."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

_TABLE = re.compile(r"\s*\[\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\s*(#.*)?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-. \"]+?)\s*=")
#: No configuration string may hold a control character (C0, DEL, C1): a NUL in a path gave a
#: traceback; a newline in a name could end up in a log line or an AMI header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Bounds of a key whose section gives none: seconds (``*_s``) and counts (integers >= 1).
SECONDS_BOUNDS = (0.001, 86_400.0)
COUNT_BOUNDS = (1, 10_000_000)
#: Longest repr of a bad value quoted in an error.
SHOWN_VALUE_CHARS = 80

Bounds = Mapping[str, tuple[float, float]]
_T = TypeVar("_T")


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

    @property
    def errors(self) -> tuple[ConfigError, ...]:
        """Every problem found, one per line of ``str(self)``, in file order."""
        return (self,)

    @staticmethod
    def of(errors: Sequence[ConfigError]) -> ConfigError:
        """One error as itself; several as one ConfigErrors (sorted by line)."""
        return errors[0] if len(errors) == 1 else ConfigErrors(errors)


class ConfigErrors(ConfigError):
    """Several configuration problems; ``str()`` gives one line each, the first is ``key``."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        ordered = sorted(errors, key=lambda e: (e.line is None, e.line or 0))
        first = ordered[0]
        super().__init__(first.file, first.key, first.line, first.message)
        self.args = ("\n".join(str(e) for e in ordered),)
        self._errors = tuple(ordered)

    @property
    def errors(self) -> tuple[ConfigError, ...]:
        """Every problem found, in file order."""
        return self._errors


def shown(value: object) -> str:
    """``repr(value)`` cut to SHOWN_VALUE_CHARS, for an error message."""
    text = repr(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else f"{text[:SHOWN_VALUE_CHARS]}..."


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
        m = _TABLE.fullmatch(raw)
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
        self, file: str, text: str, section: str, table: Mapping[str, Any], base_dir: Path | None,
        errors: list[ConfigError] | None = None, bounds: Bounds | None = None,
    ) -> None:
        self.file = file
        self.text = text
        self.section = section
        self.table = table
        self.base_dir = base_dir
        #: Problems found so far (shared by the readers of one file): a bad value is recorded
        #: here and its default returned, so that one pass reports every problem.
        self.errors: list[ConfigError] = [] if errors is None else errors
        self.bounds: Bounds = {} if bounds is None else bounds

    def error(self, key: str, message: str) -> ConfigError:
        """Return a ConfigError for ``section.key`` located at its line in the file."""
        line = find_key_line(self.text, (self.section, key))
        if line is None:
            line = find_key_line(self.text, (self.section,))
        return ConfigError(self.file, f"{self.section}.{key}", line, message)

    def fail(self, key: str, message: str) -> None:
        """Record a problem with ``section.key`` (reported with every other one at the end)."""
        self.errors.append(self.error(key, message))

    def _bad(self, key: str, message: str, default: _T) -> _T:
        self.fail(key, message)
        return default

    def _get(self, key: str) -> Any:
        return self.table.get(key)

    def opt_str(self, key: str) -> str | None:
        """Return a string value, or None when absent."""
        value = self._get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            return self._bad(key, f"must be a non-empty string, got {shown(value)}", None)
        bad = _CONTROL.search(value)
        if bad is not None:
            return self._bad(key, f"must not contain a control character "
                                  f"(U+{ord(bad.group()):04X})", None)
        return value

    def str_(self, key: str, default: str) -> str:
        """Return a non-empty string value, or ``default``."""
        value = self.opt_str(key)
        return default if value is None else value

    def number(self, key: str, default: float) -> float:
        """Return a finite int or float value as float, or ``default``."""
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self._bad(key, f"must be a number, got {shown(value)}", default)
        if not math.isfinite(value):
            return self._bad(key, f"must be a finite number, got {value!r}", default)
        return float(value)

    def positive(self, key: str, default: float) -> float:
        """Return a number > 0 within the key's bounds (seconds: SECONDS_BOUNDS), or
        ``default``."""
        value = self.number(key, default)
        if not value > 0:
            return self._bad(key, f"must be > 0, got {value!r}", default)
        low, high = self.bounds.get(key, SECONDS_BOUNDS if key.endswith("_s") else (0, math.inf))
        if not low <= value <= high:
            return self._bad(key, f"must be from {low:g} to {high:g}, got {value!r}", default)
        return value

    def count(self, key: str, default: int) -> int:
        """Return an integer >= 1 within the key's bounds (COUNT_BOUNDS), or ``default``."""
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return self._bad(key, f"must be an integer >= 1, got {shown(value)}", default)
        low, high = self.bounds.get(key, COUNT_BOUNDS)
        if not low <= value <= high:
            return self._bad(key, f"must be from {low:g} to {high:g}, got {value!r}", default)
        return value

    def port(self, key: str, default: int, *, allow_zero: bool = False) -> int:
        """Return a TCP port (1-65535; 0 = any free port when ``allow_zero``), or ``default``."""
        value = self._get(key)
        if value is None:
            return default
        low = 0 if allow_zero else 1
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
            return self._bad(key, f"must be a port number {low}-65535, got {shown(value)}",
                             default)
        return value

    def flag(self, key: str, default: bool) -> bool:
        """Return a boolean value, or ``default``."""
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            return self._bad(key, f"must be true or false, got {shown(value)}", default)
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
        return self._bad(key, f"must be one of {', '.join(choices)}, got {shown(value)}", default)

    def names(self, key: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
        """Return a list of strings each matching ``pattern`` (``what`` names it), or ()."""
        value = self._get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            return self._bad(key, f"must be a list of strings, got {shown(value)}", ())
        for item in value:
            if not isinstance(item, str) or not pattern.fullmatch(item):
                return self._bad(key, f"each entry must be {what}, got {shown(item)}", ())
        return tuple(value)

    def reject_unknown(self, known: Sequence[str]) -> None:
        """Record a problem for each key not in ``known`` (catches typos)."""
        for key in self.table:
            if key not in known and key not in ("secret", "password"):
                self.fail(key, f"unknown key (known: {', '.join(known)})")

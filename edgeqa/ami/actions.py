"""Checks for every name and value that goes into an AMI action: reject, never clean."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from edgeqa.ami.errors import AmiInjectionError

#: Asterisk reads action lines into ``char inbuf[1025]`` (main/manager.c) and discards a longer
#: line, so the rest of it could be read as a new header: every line, CRLF included, must fit.
MAX_ACTION_LINE_BYTES = 1024
#: AST_MAX_MANHEADERS in include/asterisk/manager.h; Asterisk drops headers past it.
MAX_ACTION_HEADERS = 128
#: Header names: printable ASCII tokens; no colon (it would split the name), no blanks.
_NAME_RE = re.compile(r"[A-Za-z0-9_()\-.]+")
#: Dialplan variable names, with the ``_`` / ``__`` inheritance prefixes.
_VARIABLE_NAME_RE = re.compile(r"_{0,2}[A-Za-z][A-Za-z0-9_]*")
#: Originate splits ``Variable`` on ',' and honours '"' and '\\' (AST_STANDARD_APP_ARGS).
_VARIABLE_VALUE_FORBIDDEN = frozenset(',"\\')
_RESERVED = frozenset({"action", "actionid"})
#: What no action value may hold: C0 controls (CR, LF and NUL split or cut a line; the rest,
#: ESC above all, reach Asterisk's logs and consoles), DEL, C1 controls (U+0085 NEL is a line
#: break to some readers, U+009B CSI a terminal escape) and surrogates (no UTF-8 form: a lone
#: one cannot be sent, and one smuggled in as surrogateescape would put raw bytes on the wire).
_FORBIDDEN_CHAR = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

Headers = Sequence[tuple[str, str]] | Mapping[str, str]


def check_name(name: str) -> str:
    """Return ``name`` if it is a safe header or action name; raise AmiInjectionError otherwise."""
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise AmiInjectionError(f"AMI header name {name!r} is not a token of [A-Za-z0-9_().-]")
    return name


def check_value(name: str, value: str) -> str:
    """Return ``value`` if it has no control character or surrogate; raise AmiInjectionError."""
    if not isinstance(value, str):
        raise AmiInjectionError(f"AMI header {name} value must be str, not {type(value).__name__}")
    bad = _FORBIDDEN_CHAR.search(value)
    if bad is not None:
        what = "a surrogate" if "\ud800" <= bad.group() <= "\udfff" else "a control character"
        raise AmiInjectionError(
            f"AMI header {name} value contains {what} (U+{ord(bad.group()):04X}): rejected"
        )
    return value


def normalise_headers(headers: Headers) -> tuple[tuple[str, str], ...]:
    """Return ``headers`` as checked (name, value) pairs; Action and ActionID are reserved."""
    pairs = tuple(headers.items()) if isinstance(headers, Mapping) else tuple(headers)
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise AmiInjectionError(f"AMI header {pair!r} is not a (name, value) pair")
        name, value = pair
        check_name(name)
        if name.lower() in _RESERVED:
            raise AmiInjectionError(f"AMI header {name} is set by the client, not by the caller")
        check_value(name, value)
    return pairs


def variable_header(name: str, value: str) -> tuple[str, str]:
    """Return the ``Variable: name=value`` header of Originate, rejecting separators in either."""
    if not isinstance(name, str) or _VARIABLE_NAME_RE.fullmatch(name) is None:
        raise AmiInjectionError(f"dialplan variable name {name!r} is not an identifier")
    check_value("Variable", value)
    bad = sorted(_VARIABLE_VALUE_FORBIDDEN.intersection(value))
    if bad:
        raise AmiInjectionError(f"dialplan variable {name} value contains {bad!r}: rejected")
    return ("Variable", f"{name}={value}")

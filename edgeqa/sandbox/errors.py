"""The one exception type the sandbox raises: its message is a complete one-line diagnosis."""

from __future__ import annotations


class SandboxError(Exception):
    """The sandbox cannot be built, started or used; ``str(exc)`` is printed as is."""

"""Types shared by the softphone fixtures."""

from __future__ import annotations

from collections.abc import Callable

from edgeqa.sandbox.softphone import Softphone

#: ``softphone(name, auto_answer=False, register=True) -> Softphone`` (integration conftest).
SoftphoneFactory = Callable[..., Softphone]

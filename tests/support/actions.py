"""An in-process stand-in for the AMI client's send_action (unit tests of services that send
actions): it records each action and answers Success, or raises as a refusing Asterisk would.
The real Asterisk is in tests/integration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgeqa.ami.errors import AmiError


class ActionRecorder:
    """Records (action, headers); ``refuse`` makes every action fail like "Permission denied"."""

    def __init__(self, refuse: bool = False) -> None:
        self.sent: list[tuple[str, dict[str, str]]] = []
        self.refuse = refuse

    async def send_action(self, action: str, headers: Mapping[str, str] = {}, *,
                          timeout_s: float = 10.0) -> Any:
        self.sent.append((action, dict(headers)))
        if self.refuse:
            raise AmiError("Permission denied")
        return {"Response": "Success"}

"""The [spy] section: feature codes, caps, and the supervisors' phones ([spy.supervisors]).

Teams are [auth.teams] (edgeqa.auth.config): a supervisor phone names teams, never agents.
edgeqa.config.spy reads the section.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

#: A feature code prefix: what a phone dials before the agent's digits (``*222``).
CODE = re.compile(r"[0-9*#]{1,8}")
#: A supervisor phone: a PJSIP endpoint as the tracker names it (``PJSIP/super1``); it goes
#: into an AMI Originate, so nothing but a technology and a plain name.
ENDPOINT = re.compile(r"(PJSIP|SIP|IAX2|DAHDI)/[A-Za-z0-9_.@+-]{1,64}")
#: A PIN: DTMF digits only.
PIN = re.compile(r"[0-9]{1,16}")
#: A team name, as [auth.teams] takes it.
TEAM = re.compile(r"[^\x00-\x1f\x7f]{1,80}")


class Secret(Protocol):
    """A secret value (edgeqa.config.fields.Secret): never shown in a repr."""

    def reveal(self) -> str: ...


#: The agent a feature code names by its digits: the template's ``{n}`` is the digits.
DEFAULT_AGENT_ENDPOINT = "PJSIP/agent{n}"
DEFAULT_CODES: Mapping[str, str] = {"listen": "*222", "whisper": "*223", "barge": "*224"}


@dataclass(frozen=True, slots=True)
class SupervisorPhone:
    """A supervisor's phone: the teams whose agents it may spy on, and its PIN (None: none)."""

    endpoint: str
    teams: frozenset[str]
    pin: Secret | None = None


@dataclass(frozen=True, slots=True)
class SpyConfig:
    """``codes``: mode -> feature code prefix (the dialplan's; listed for `check-config`).
    ``agent_endpoint``: the agent a feature code's digits name (``PJSIP/agent{n}``).
    ``max_per_agent``/``max_total``: spies at once on one agent / in all.
    ``supervisors``: endpoint -> its phone."""

    codes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CODES))
    agent_endpoint: str = DEFAULT_AGENT_ENDPOINT
    max_per_agent: int = 1
    max_total: int = 10
    supervisors: Mapping[str, SupervisorPhone] = field(default_factory=dict)


KNOWN_KEYS = ("codes", "agent_endpoint", "max_per_agent", "max_total", "supervisors")

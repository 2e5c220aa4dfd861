"""Reading the [spy] section (edgeqa.spy.config): codes, caps, [spy.supervisors] with their
PIN files (secret files: private, one line of digits)."""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgeqa.config.fields import FieldReader, Secret, shown
from edgeqa.config.files import MAX_SECRET_BYTES, FileProblem, read_text_file
from edgeqa.spy.config import (
    CODE,
    DEFAULT_AGENT_ENDPOINT,
    DEFAULT_CODES,
    ENDPOINT,
    PIN,
    TEAM,
    SpyConfig,
    SupervisorPhone,
)


def _pin(r: FieldReader, where: str, path_text: Any,
         env: Mapping[str, str]) -> Secret | None:
    if not isinstance(path_text, str) or not path_text:
        r.fail("supervisors", f"{where}: pin_file must be a path, got {shown(path_text)}")
        return None
    path = Path(string.Template(path_text).safe_substitute(env))
    if not path.is_absolute() and r.base_dir is not None:
        path = r.base_dir / path
    try:
        text = read_text_file(path, max_bytes=MAX_SECRET_BYTES, private=True).rstrip("\r\n")
    except FileProblem as exc:
        r.fail("supervisors", f"{where}: {exc}")
        return None
    if not PIN.fullmatch(text):
        r.fail("supervisors", f"{where}: {path} must hold one line of 1-16 digits")
        return None
    return Secret(text)


def _supervisors(r: FieldReader, env: Mapping[str, str]) -> dict[str, SupervisorPhone]:
    table = r.table.get("supervisors", {})
    if not isinstance(table, dict):
        r.fail("supervisors", 'must be a table of "PJSIP/name" = { teams = [...] }')
        return {}
    phones: dict[str, SupervisorPhone] = {}
    for endpoint, spec in table.items():
        where = shown(endpoint)
        if not ENDPOINT.fullmatch(endpoint):
            r.fail("supervisors", f"{where}: must be an endpoint such as PJSIP/super1")
            continue
        if not isinstance(spec, dict) or set(spec) - {"teams", "pin_file"}:
            r.fail("supervisors", f"{where}: must be {{ teams = [...], pin_file = \"...\" }}")
            continue
        teams = spec.get("teams", [])
        if not isinstance(teams, list) or not teams or not all(
                isinstance(t, str) and TEAM.fullmatch(t) for t in teams):
            r.fail("supervisors", f"{where}: teams must be a non-empty list of team names")
            continue
        pin = _pin(r, where, spec["pin_file"], env) if "pin_file" in spec else None
        phones[endpoint] = SupervisorPhone(endpoint, frozenset(teams), pin)
    return phones


def _codes(r: FieldReader) -> dict[str, str]:
    table = r.table.get("codes", DEFAULT_CODES)
    if not isinstance(table, dict) or set(table) != set(DEFAULT_CODES) or not all(
            isinstance(v, str) and CODE.fullmatch(v) for v in table.values()):
        r.fail("codes", "must be { listen = \"*222\", whisper = \"*223\", barge = \"*224\" } "
                        "(1-8 of 0-9 * #)")
        return dict(DEFAULT_CODES)
    if len(set(table.values())) != len(table):
        r.fail("codes", "each mode needs its own code")
    return dict(table)


def read_spy(r: FieldReader, env: Mapping[str, str], teams: Mapping[str, frozenset[str]]
             ) -> SpyConfig:
    """The [spy] section; every supervisor's team must be one of [auth.teams]."""
    template = r.str_("agent_endpoint", DEFAULT_AGENT_ENDPOINT)
    if template.count("{n}") != 1 or not ENDPOINT.fullmatch(template.replace("{n}", "1")):
        r.fail("agent_endpoint", f"must be an endpoint with one {{n}} (the digits dialled), "
                                 f"such as {DEFAULT_AGENT_ENDPOINT}")
        template = DEFAULT_AGENT_ENDPOINT
    supervisors = _supervisors(r, env)
    for phone in supervisors.values():
        unknown = sorted(phone.teams - set(teams))
        if unknown:
            r.fail("supervisors", f"{phone.endpoint}: team {', '.join(unknown)} is not in "
                                  "[auth.teams]")
    return SpyConfig(codes=_codes(r), agent_endpoint=template,
                     max_per_agent=r.count("max_per_agent", 1),
                     max_total=r.count("max_total", 10), supervisors=supervisors)

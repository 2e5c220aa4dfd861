"""[auth] settings, and the daemon's local admin token: a 0600 file, the previous one revoked."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from edgeqa.auth import db
from edgeqa.auth.service import Authority, issue_local_token
from edgeqa.config import ConfigError, parse_config
from edgeqa.store import Store

ENV = {"EDGEQA_AMI_SECRET": "a", "EDGEQA_ARI_PASSWORD": "b"}


def test_auth_section() -> None:
    cfg = parse_config("", env=ENV).auth
    assert cfg.session_lifetime_s == 28800.0 and not cfg.cookie_secure and cfg.local_token
    cfg = parse_config('[auth]\nsession_lifetime_s = 60\ncookie_secure = true\n'
                       '[auth.teams]\nnorth = ["Agent One", "PJSIP/agent2"]\n', env=ENV).auth
    assert cfg.session_lifetime_s == 60.0 and cfg.cookie_secure
    assert cfg.teams == {"north": frozenset({"Agent One", "PJSIP/agent2"})}


@pytest.mark.parametrize(("text", "fragment"), [
    ("[auth]\nsession_lifetime_s = 0\n", "session_lifetime_s"),
    ("[auth]\nteams = 3\n", "must be a table"),
    ('[auth.teams]\nnorth = "PJSIP/agent1"\n', "must be a list"),
    ('[auth.teams]\nnorth = ["a\\nb"]\n', "must be a list"),
    ("[auth]\nlifetime = 1\n", "unknown key"),
])
def test_bad_auth_settings_name_the_key(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_config(text, env=ENV)


async def test_the_local_token_is_private_and_replaced_at_each_start(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    try:
        path = tmp_path / "local.token"
        first = await issue_local_token(store, path, 1.0)
        old = path.read_text().strip()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        second = await issue_local_token(store, path, 2.0)
        new = path.read_text().strip()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and new != old
        auth = Authority(store, parse_config("", env=ENV).auth)
        assert await auth.authenticate(old) is None
        principal = await auth.authenticate(new)
        assert principal is not None and (principal.token_id, principal.role) == (second, "admin")
        rows = await store.run(db.token_rows)
        assert [(r["id"], r["revoked_at"]) for r in rows] == [(first, 2.0), (second, None)]
        actions = [(a["action"], a["actor_kind"]) for a in await store.audit()]
        assert actions == [("token.added", "system"), ("token.revoked", "system"),
                           ("token.added", "system")]
    finally:
        await store.close()


def test_every_auth_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config('[auth]\nsession_lifetime_s = inf\n[auth.teams]\nnorth = 3\n'
                     'south = ["ok", 4]\n', env=ENV)
    text = str(info.value)
    assert "session_lifetime_s" in text and "'north'" in text and "'south'" in text

"""`edgeqa token add | list | revoke` on a store file: the secret shown once, only its hash
kept, every change audited, clear errors."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from edgeqa.cli import main
from edgeqa.commands.recording_admin import cli_actor


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "edgeqa.toml"
    path.write_text('[ami]\nsecret_file = "no-such-file"\n[store]\npath = "edgeqa.db"\n')
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_add_list_revoke(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    actor = str(cli_actor())
    status, secret, err = run(capsys, "token", "add", "-c", str(conf), "--role", "supervisor",
                              "--scope", "queue:support", "--scope", "team:north", "lead")
    secret = secret.strip()
    assert status == 0 and secret.startswith("eqa_") and len(secret) >= 40
    assert "token 1 (lead, supervisor, queue:support team:north) created" in err
    status, _, _ = run(capsys, "token", "add", "-c", str(conf), "--role", "agent", "--agent",
                       "PJSIP/agent1", "alice")
    assert status == 0
    status, listing, _ = run(capsys, "token", "list", "-c", str(conf))
    assert status == 0 and len(listing.splitlines()) == 2
    assert "lead" in listing and "agent:PJSIP/agent1" in listing and "live" in listing
    digest = hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in listing and digest not in listing
    db = conf.parent / "edgeqa.db"
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT hash FROM tokens WHERE id = 1").fetchone() == (digest,)
        assert secret.encode() not in db.read_bytes()
    status, out, _ = run(capsys, "token", "revoke", "-c", str(conf), "1")
    assert status == 0 and out == "token 1 revoked\n"
    status, listing, _ = run(capsys, "token", "list", "-c", str(conf))
    assert "revoked" in listing.splitlines()[0] and "live" in listing.splitlines()[1]
    status, out, _ = run(capsys, "audit", "-c", str(conf))
    assert [line.split("  ")[1:3] for line in out.splitlines()] == [
        [actor, "token.added"], [actor, "token.added"], [actor, "token.revoked"]]


@pytest.mark.parametrize(("argv", "message"), [
    (["--role", "supervisor", "x"], "needs at least one --scope"),
    (["--role", "agent", "x"], "an agent needs --agent"),
    (["--role", "admin", "--scope", "queue:a", "x"], "only a supervisor has --scope"),
    (["--role", "feed", "--agent", "PJSIP/a", "x"], "only an agent has --agent"),
    (["--role", "supervisor", "--scope", "desk:a", "x"], "must be queue:NAME or team:NAME"),
    (["--role", "admin", "local"], "the daemon's own token"),
    (["--role", "admin", "bad name"], "token name"),
])
def test_bad_adds_say_why(conf: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                          message: str) -> None:
    status, out, err = run(capsys, "token", "add", "-c", str(conf), *argv)
    assert status == 1 and out == "" and message in err and "Traceback" not in err


def test_revoking_what_is_not_live_says_so(conf: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "token", "revoke", "-c", str(conf), "7")
    assert status == 1 and "no live token with id 7" in err


def test_a_bad_config_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "token", "list", "-c", str(tmp_path / "none.toml"))
    assert status == 2 and "cannot read" in err


def test_the_cli_token_comes_from_env_file_or_the_local_token(
        conf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from edgeqa.commands.daemon_api import DaemonApiError, token_of

    monkeypatch.delenv("EDGEQA_TOKEN", raising=False)
    args = argparse.Namespace(config=str(conf), token_file=None)
    assert token_of(args) is None  # no local token written yet
    (tmp_path / "local.token").write_text("eqa_local\n")
    assert token_of(args) == "eqa_local"
    (tmp_path / "mine").write_text("eqa_mine\n")
    assert token_of(argparse.Namespace(config=str(conf), token_file=str(tmp_path / "mine"))) \
        == "eqa_mine"
    monkeypatch.setenv("EDGEQA_TOKEN", "eqa_env")
    assert token_of(args) == "eqa_env"
    monkeypatch.delenv("EDGEQA_TOKEN")
    with pytest.raises(DaemonApiError, match="cannot read the token file"):
        token_of(argparse.Namespace(config=None, token_file=str(tmp_path / "none")))

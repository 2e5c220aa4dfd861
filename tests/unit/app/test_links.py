"""The daemon's link events: asterisk.connected/disconnected for AMI and ARI, with ``link``.

The Daemon is built but never run: its clients are never started, so nothing opens a socket.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from edgeqa.ami.errors import AmiDisconnectedError
from edgeqa.app import Daemon, unreachable_links
from edgeqa.ari.rest import AriConnectionError
from edgeqa.config import Config, parse_config
from edgeqa.store import schema_name
from tests.support.schemas import check_flat, load

ENV = {"EDGEQA_AMI_SECRET": "s3cret-ami", "EDGEQA_ARI_PASSWORD": "s3cret-ari"}


def make_config(tmp_path: Path) -> Config:
    return parse_config(f'[store]\npath = "{tmp_path / "edgeqa.db"}"\n', env=ENV)


class Emitted:
    def __init__(self, daemon: Daemon) -> None:
        self.items: list[tuple[str, Mapping[str, Any]]] = []
        daemon.emit = self.add  # type: ignore[method-assign]

    def add(self, type_: str, data: Mapping[str, Any]) -> None:
        check_flat(load(schema_name(type_)), dict(data))
        self.items.append((type_, data))


@pytest.fixture
def daemon(tmp_path: Path) -> Daemon:
    return Daemon(make_config(tmp_path))


async def test_both_links_emit_connected_then_disconnected(daemon: Daemon) -> None:
    got = Emitted(daemon)
    await daemon._on_session("ami")  # AMI not connected: the resync is skipped
    await daemon._on_session("ari")
    daemon._on_ari_down(AriConnectionError("events WebSocket closed (CLOSE)"))
    daemon._on_ami_down(None)
    assert got.items == [
        ("asterisk.connected", {"link": "ami", "interface": "ami"}),
        ("asterisk.connected", {"link": "ari", "interface": "ari"}),
        ("asterisk.disconnected", {"link": "ari", "interface": "ari",
                                   "reason": "events WebSocket closed (CLOSE)"}),
        ("asterisk.disconnected", {"link": "ami", "interface": "ami", "reason": "closed"}),
    ]


async def test_a_link_that_never_came_up_emits_nothing(daemon: Daemon) -> None:
    got = Emitted(daemon)
    daemon._on_ami_down(AmiDisconnectedError("login timed out"))
    daemon._on_ari_down(AriConnectionError("refused"))
    assert got.items == []
    await daemon._on_session("ami")
    daemon._on_ami_down(AmiDisconnectedError("AMI link lost"))
    daemon._on_ami_down(AmiDisconnectedError("AMI link lost again, before a session"))
    assert [t for t, _ in got.items] == ["asterisk.connected", "asterisk.disconnected"]


def test_both_clients_report_their_drops_to_the_daemon(daemon: Daemon) -> None:
    assert daemon.ami._on_disconnect == daemon._on_ami_down
    assert daemon.ari._on_disconnect == daemon._on_ari_down


def test_unreachable_links_name_each_down_link(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    assert unreachable_links(cfg, ami_up=True, ari_up=True) == []
    assert unreachable_links(cfg, ami_up=False, ari_up=True) == ["AMI 127.0.0.1:5038"]
    assert unreachable_links(cfg, ami_up=False, ari_up=False) == [
        "AMI 127.0.0.1:5038", "ARI http://127.0.0.1:8088/ari"]


async def test_one_unreachable_warning_for_both_links(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = parse_config(f'[store]\npath = "{tmp_path / "e.db"}"\n[ami]\nconnect_timeout_s = 0.01\n',
                       env=ENV)
    daemon = Daemon(cfg)
    with caplog.at_level(logging.WARNING, logger="edgeqa.app"):
        await daemon._warn_unreachable()
    (record,) = caplog.records
    assert record.getMessage().startswith(
        "Asterisk is not reachable yet (AMI 127.0.0.1:5038, ARI http://127.0.0.1:8088/ari); "
        "edgeqa keeps retrying")
    assert record.getMessage().endswith("every 2 s at most, and logs when it reconnects")
    assert "s3cret" not in record.getMessage()

"""The real Asterisk 22 sandbox: boot, least-privilege AMI, ARI, dialplan hooks, lifecycle."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from edgeqa.sandbox import probe
from edgeqa.sandbox.amitool import AmiSession
from edgeqa.sandbox.errors import SandboxError
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.ports import SandboxPorts
from edgeqa.sandbox.softphone import Softphone, SoftphoneError

pytestmark = pytest.mark.integration


def test_ami_least_privilege_user_sees_fully_booted(running_sandbox: Sandbox) -> None:
    with AmiSession(*running_sandbox.ami) as ami:
        booted = ami.wait_event(lambda m: m.event == "FullyBooted", timeout_s=5.0)
        assert booted.get("Status") == "Fully Booted"
        # Least privilege: no "command" write class, but the resync listings work.
        denied = ami.action("Command", [("Command", "core show version")])
        assert (denied.response, denied.get("Message")) == ("Error", "Permission denied")
        listing = ami.action("CoreShowChannels")
        assert listing.response == "Success"
        ami.wait_event(lambda m: m.event == "CoreShowChannelsComplete", timeout_s=5.0)
        assert ami.action("QueueStatus", [("Queue", "support")]).response == "Success"
    perms = running_sandbox.cli("manager show user edgeqa")
    write = next(line for line in perms.splitlines() if "write perm:" in line)
    # write "system" only because Asterisk registers the MixMonitor action under it alone
    # (asterisk_conf/manager_edgeqa.conf); nothing else in the write classes.
    assert set(write.split(":", 1)[1].strip().split(",")) == {
        "system", "call", "agent", "reporting", "originate"}
    assert "0:  deny - 0.0.0.0/0.0.0.0" in perms


def test_ami_rejects_a_wrong_secret(running_sandbox: Sandbox) -> None:
    host, port, user, _ = running_sandbox.ami
    with pytest.raises(SandboxError, match="login as 'edgeqa' failed"):
        AmiSession(host, port, user, "not-the-secret")


def test_ari_asterisk_info_answers(running_sandbox: Sandbox) -> None:
    url, user, password, app = running_sandbox.ari
    assert app == "edgeqa"
    status, info = probe.ari_get(url, user, password, "/asterisk/info")
    assert status == 200
    assert info["system"]["version"].startswith("22.")
    assert probe.ari_get(url, user, "wrong", "/asterisk/info")[0] == 401


@pytest.mark.parametrize(
    "form",
    [
        [("Exten", "tally"), ("Context", "sandbox-test"), ("Priority", "1")],
        [("Application", "Hangup")],
        [("Application", "Wait"), ("Data", "0.2")],
    ],
    ids=["exten", "app-hangup", "app-wait"],
)
def test_tally_counts_each_originate_once(running_sandbox: Sandbox,
                                          form: list[tuple[str, str]]) -> None:
    tally_id = f"t{uuid.uuid4().hex[:10]}"
    with AmiSession(*running_sandbox.ami) as ami:
        for is_async in ("false", "true"):
            resp = ami.action("Originate", [("Channel", "Local/tally@sandbox-test"),
                                            ("Variable", f"TALLY_ID={tally_id}"),
                                            ("Timeout", "5000"), ("Async", is_async), *form],
                              timeout_s=10.0)
            assert resp.response == "Success", resp.get("Message")
            if is_async == "true":  # only an async Originate reports OriginateResponse
                action_id = resp.action_id
                done = ami.wait_event(lambda m, a=action_id: m.event == "OriginateResponse"
                                      and m.action_id == a, timeout_s=10.0)
                assert done.get("Response") == "Success"
    assert running_sandbox.cli(f"database get tally {tally_id}").strip() == "Value: 2"


def test_cli_and_status(running_sandbox: Sandbox) -> None:
    assert "Asterisk 22." in running_sandbox.cli("core show version")
    status = running_sandbox.status()
    assert status.running and status.ari_ok and status.pid == running_sandbox.pid()
    queue = running_sandbox.cli("queue show support")
    for agent in ("PJSIP/agent1", "PJSIP/agent2", "PJSIP/agent3"):
        assert agent in queue


def test_restart_keeps_ports_and_credentials(running_sandbox: Sandbox) -> None:
    old_pid = running_sandbox.pid()
    boot_s = running_sandbox.restart()
    assert running_sandbox.pid() not in (None, old_pid)
    assert boot_s < 5.0, f"warm start took {boot_s:.2f} s"
    with AmiSession(*running_sandbox.ami) as ami:
        ami.wait_event(lambda m: m.event == "FullyBooted", timeout_s=5.0)


def test_kill_then_start(running_sandbox: Sandbox) -> None:
    pid = running_sandbox.pid()
    assert pid is not None
    running_sandbox.kill()
    assert running_sandbox.pid() is None
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    running_sandbox.start()
    assert running_sandbox.status().ari_ok


def test_port_in_use_is_a_clear_error(running_sandbox: Sandbox) -> None:
    clash = Sandbox(ports=running_sandbox.ports, instance="portclash")
    with pytest.raises(SandboxError, match=rf"port {running_sandbox.ports.ami}/tcp .* in use"):
        clash.start()
    assert clash.pid() is None


def _spare_ports(box: Sandbox) -> SandboxPorts:
    """Ports inside this session's block that neither Asterisk nor the phones use."""
    b = box.ports.base
    return SandboxPorts(base=b, ami=b + 39, http=b + 89, sip=b + 61, rtp_start=b + 300,
                        rtp_end=b + 399)


def test_failed_start_shows_the_log_tail(running_sandbox: Sandbox, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    admin = tmp_path / "asterisk_conf"
    admin.mkdir()
    src = Path(__file__).resolve().parents[2] / "asterisk_conf"
    for conf in src.glob("*.conf"):
        text = conf.read_text()
        if conf.name == "manager_edgeqa.conf":  # the user loses its secret: login must fail
            text = text.replace("#include manager_edgeqa_secret.conf", "")
        (admin / conf.name).write_text(text)
    monkeypatch.setenv("EDGEQA_ASTERISK_CONF", str(admin))
    broken = Sandbox(ports=_spare_ports(running_sandbox), instance="brokenconf",
                     boot_timeout_s=5.0)
    started = time.monotonic()
    with pytest.raises(SandboxError) as err:
        broken.start()
    assert time.monotonic() - started < 10.0
    message = str(err.value)
    assert "failed to start" in message and "login as 'edgeqa' rejected" in message
    assert "messages.log" in message and "Asterisk Ready" in message
    assert broken.pid() is None


def test_dead_phone_worker_is_reported(tmp_path: Path) -> None:
    # A negative port makes pjsua's transport creation fail: the worker exits at startup.
    with pytest.raises(SoftphoneError, match="phone worker died"):
        Softphone("agent1", "x", registrar_port=5060, sip_port=-5, rtp_port=-5,
                  log_path=tmp_path / "dead.log", start_timeout_s=10.0)


def test_phone_worker_runs_as_module() -> None:
    proc = subprocess.run([sys.executable, "-m", "edgeqa.sandbox.phone_worker", "--help"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0 and "--registrar-port" in proc.stdout


def test_instances_are_isolated(running_sandbox: Sandbox) -> None:
    etc = running_sandbox.paths.host / "etc"
    assert (etc / "manager_edgeqa_secret.conf").stat().st_mode & 0o777 == 0o640
    assert f"port = {running_sandbox.ports.ami}" in (etc / "manager.conf").read_text()
    db = running_sandbox.paths.host / "lib" / "astdb.sqlite3"
    assert db.is_file()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        sock.connect(("127.0.0.1", running_sandbox.ports.ami))
        assert sock.recv(64).startswith(b"Asterisk Call Manager/")

"""Instance config rendering and the admin-facing asterisk_conf/ snippets (files only)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from edgeqa.sandbox import instance as inst
from edgeqa.sandbox.errors import SandboxError
from edgeqa.sandbox.ports import SandboxPorts
from tests.support.paths import REPO

REPO = REPO
ADMIN = REPO / "asterisk_conf"


def _fake_rootfs(tmp_path: Path) -> Path:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\n"
        f"asterisk:x:{os.getuid()}:{os.getgid()}:Asterisk PBX daemon:/var/lib/asterisk:/bin/false\n"
    )
    return rootfs


def test_render_replaces_and_rejects_unknown_placeholders() -> None:
    assert inst.render("port = @@P@@ ${EXTEN}", {"P": "1"}) == "port = 1 ${EXTEN}"
    with pytest.raises(SandboxError, match="@@NOPE@@"):
        inst.render("x = @@NOPE@@", {"P": "1"})


def test_instance_names_are_validated(tmp_path: Path) -> None:
    for bad in ("", "../x", "A", "a b", "x" * 33, "b15000\n"):  # `$` matched before "\n"
        with pytest.raises(SandboxError, match="bad sandbox instance name"):
            inst.InstancePaths.create(tmp_path, bad)
    paths = inst.InstancePaths.create(tmp_path, "b15000")
    assert str(paths.asterisk_conf) == "/srv/edgeqa/b15000/etc/asterisk.conf"
    assert paths.host == tmp_path / "srv/edgeqa/b15000"
    with pytest.raises(SandboxError, match="not an absolute"):
        paths.host_path("relative/path")


def test_asterisk_ids_come_from_the_rootfs(tmp_path: Path) -> None:
    assert inst.asterisk_ids(_fake_rootfs(tmp_path)) == (os.getuid(), os.getgid())
    (tmp_path / "rootfs/etc/passwd").write_text("root:x:0:0::/:/bin/sh\n")
    with pytest.raises(SandboxError, match="no asterisk user"):
        inst.asterisk_ids(tmp_path / "rootfs")


def test_write_config_renders_every_file(tmp_path: Path) -> None:
    rootfs = _fake_rootfs(tmp_path)
    paths = inst.InstancePaths.create(rootfs, "t1")
    ports = SandboxPorts.from_base(17000)
    creds = inst.Secrets("ami-s3cret", "ari-s3cret")
    inst.write_config(paths, ports, creds, ADMIN)
    etc = paths.host / "etc"
    for sub in inst.SUBDIRS:
        assert (paths.host / sub).is_dir()
    for name in inst.ADMIN_FILES:  # the admin snippets run verbatim
        assert (etc / name).read_text() == (ADMIN / name).read_text()
    assert "port = 17038" in (etc / "manager.conf").read_text()
    assert "bindport = 17088" in (etc / "http.conf").read_text()
    assert "bind = 127.0.0.1:17060" in (etc / "pjsip.conf").read_text()
    assert "rtpstart = 17100" in (etc / "rtp.conf").read_text()
    assert "EDGEQA_AGI_PORT = 17980" in (etc / "extensions.conf").read_text()
    assert "astdbdir => /srv/edgeqa/t1/lib" in (etc / "asterisk.conf").read_text()
    assert (etc / "manager_edgeqa_secret.conf").read_text() == "secret = ami-s3cret\n"
    assert (etc / "ari_edgeqa_secret.conf").read_text() == "password = ari-s3cret\n"
    assert (etc / "ari_edgeqa_secret.conf").stat().st_mode & 0o777 == 0o640
    leftovers = [p.name for p in etc.iterdir() if re.search(r"@@[A-Z_]+@@", p.read_text())]
    assert leftovers == []
    assert "s3cret" not in repr(creds)


def test_admin_conf_dir_must_hold_every_snippet(tmp_path: Path) -> None:
    assert inst.admin_conf_dir({}) == ADMIN
    with pytest.raises(SandboxError, match=r"no asterisk_conf directory with manager_edgeqa\.conf"):
        inst.admin_conf_dir({"EDGEQA_ASTERISK_CONF": str(tmp_path)})


def test_phone_passwords_only_for_known_endpoints() -> None:
    pjsip = (inst.SANDBOX_CONF_DIR / "pjsip.conf").read_text()
    for name in inst.ENDPOINTS:
        assert f"password = {inst.phone_password(name)}\n" in pjsip
    with pytest.raises(SandboxError, match="no sandbox endpoint"):
        inst.phone_password("agent9")


def _settings(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines()
            if ln.strip() and not ln.lstrip().startswith(";")]


def test_manager_snippet_is_least_privilege_without_a_secret() -> None:
    lines = _settings(ADMIN / "manager_edgeqa.conf")
    assert lines[0] == "[edgeqa]"
    assert "#include manager_edgeqa_secret.conf" in lines
    assert not any(ln.startswith("secret") for ln in lines)
    assert "deny = 0.0.0.0/0.0.0.0" in lines and "permit = 127.0.0.1/255.255.255.255" in lines
    read = next(ln for ln in lines if ln.startswith("read ="))
    write = next(ln for ln in lines if ln.startswith("write ="))
    assert set(read.split("=")[1].strip().split(",")) == {
        "system", "call", "agent", "reporting", "cdr", "user", "dtmf"}
    assert set(write.split("=")[1].strip().split(",")) == {
        "call", "agent", "originate", "reporting", "system"}  # system: MixMonitor only
    assert "eventfilter(action(exclude),name(TestEvent)) =" in lines
    assert "eventfilter(action(exclude),name(VarSet)) =" in lines
    assert "eventfilter(action(exclude),name(RTCPSent)) =" in lines  # 24/s at 60 calls


def test_ari_and_http_snippets() -> None:
    ari = _settings(ADMIN / "ari_edgeqa.conf")
    assert ari[0] == "[edgeqa]" and "#include ari_edgeqa_secret.conf" in ari
    assert not any(ln.startswith("password =") for ln in ari)
    http = _settings(ADMIN / "http_edgeqa.conf")
    assert "bindaddr = 127.0.0.1" in http and not any(ln.startswith("[") for ln in http)


def test_dialplan_snippet_only_defines_edgeqa_contexts() -> None:
    text = (ADMIN / "extensions_edgeqa.conf").read_text()
    contexts = re.findall(r"^\[([^\]]+)\]", text, flags=re.M)
    assert contexts and all(c.startswith("edgeqa-") for c in contexts)
    assert "Stasis(edgeqa" in text


def test_live_pid_ignores_foreign_and_missing_processes(tmp_path: Path) -> None:
    paths = inst.InstancePaths.create(tmp_path, "b15000")
    assert inst.live_pid(paths) is None and inst.running_instances(tmp_path) == {}
    paths.host.mkdir(parents=True)
    # Our own pid is alive but was not started with this instance's asterisk.conf.
    paths.pidfile.write_text(f"{os.getpid()}\n")
    assert inst.live_pid(paths) is None
    paths.pidfile.write_text("not a pid\n")
    assert inst.running_instances(tmp_path) == {}


def test_secrets_round_trip_through_the_instance_files(tmp_path: Path) -> None:
    rootfs = _fake_rootfs(tmp_path)
    paths = inst.InstancePaths.create(rootfs, "t2")
    assert inst.Secrets.load(paths.host / "etc") is None
    creds = inst.Secrets.generate()
    inst.write_config(paths, SandboxPorts.from_base(18000), creds, ADMIN)
    assert inst.Secrets.load(paths.host / "etc") == creds


def test_process_alive_until_reaped() -> None:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE)
    try:
        assert inst.process_alive(proc.pid)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)
    assert not inst.process_alive(proc.pid)
    assert inst.process_alive(os.getpid())


def test_purge_contacts_keeps_other_astdb_families(tmp_path: Path) -> None:
    import sqlite3

    paths = inst.InstancePaths.create(tmp_path, "b15000")
    assert inst.purge_contacts(paths) == 0  # no database yet
    (paths.host / "lib").mkdir(parents=True)
    conn = sqlite3.connect(paths.host / "lib" / "astdb.sqlite3")
    conn.execute("CREATE TABLE astdb(key TEXT, value TEXT, PRIMARY KEY(key))")
    conn.executemany("INSERT INTO astdb VALUES (?, ?)", [
        ("/registrar/contact/agent1;@abc", "{}"), ("/registrar/contact/agent2;@def", "{}"),
        ("/tally/x", "3"), ("/pbx/UUID", "u"),
    ])
    conn.commit()
    conn.close()
    assert inst.purge_contacts(paths) == 2
    conn = sqlite3.connect(paths.host / "lib" / "astdb.sqlite3")
    assert sorted(k for (k,) in conn.execute("SELECT key FROM astdb")) == ["/pbx/UUID", "/tally/x"]
    conn.close()

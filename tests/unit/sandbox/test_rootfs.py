"""Rootfs cache: prerequisites, failure diagnosis, manifest reuse, atomic rebuild (faked tools)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from edgeqa.sandbox import rootfs as rf
from edgeqa.sandbox.errors import SandboxError

VERSIONS = {"asterisk": "1:22.10.1-1", "asterisk-modules": "1:22.10.1-1",
            "asterisk-core-sounds-en-wav": "1.6.1-1", "sox": "14.4.2-1"}


def test_not_root_is_a_clear_error() -> None:
    with pytest.raises(SandboxError, match="needs root"):
        rf.check_build_prerequisites(euid=1000, which=lambda name: f"/usr/bin/{name}")


def test_missing_mmdebstrap_is_a_clear_error() -> None:
    def which(name: str) -> str | None:
        return None if name == "mmdebstrap" else f"/usr/bin/{name}"

    with pytest.raises(SandboxError, match=r"mmdebstrap not found: apt-get install mmdebstrap"):
        rf.check_build_prerequisites(euid=0, which=which)


def test_prerequisites_pass_for_root_with_tools() -> None:
    rf.check_build_prerequisites(euid=0, which=lambda name: f"/usr/bin/{name}")


@pytest.mark.parametrize("line", [
    "E: Failed to fetch http://deb.debian.org/debian/dists/sid/InRelease  "
    "Temporary failure resolving 'deb.debian.org'",
    "W: Some index files failed to download. They have been ignored",
    "Err:1 http://deb.debian.org/debian sid InRelease Could not connect to deb.debian.org:80",
])
def test_network_failures_are_named(line: str) -> None:
    reason = rf.diagnose_build_failure(f"I: running apt-get update...\n{line}\nE: apt failed\n", 1)
    assert reason.startswith("mmdebstrap could not reach the Debian archive")
    assert line.strip() in reason
    assert "\n" not in reason


#: The tail of a real mmdebstrap 1.3 run whose apt could not reach the archive (proxy refused).
REAL_NO_ROUTE = """\
Err:1 http://deb.debian.org/debian sid InRelease
  Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)
Reading package lists...
E: Failed to fetch http://deb.debian.org/debian/dists/sid/InRelease  Could not connect to \
127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)
E: Some index files failed to download. They have been ignored, or old ones used instead.
E: apt-get update --error-on=any -oAPT::Status-Fd=<$fd> -oDpkg::Use-Pty=false failed
I: main() received signal PIPE: waiting for setup...
E: mmdebstrap failed to run
"""


def test_real_mmdebstrap_network_failure_is_named() -> None:
    reason = rf.diagnose_build_failure(REAL_NO_ROUTE, 25)
    assert reason == ("mmdebstrap could not reach the Debian archive (no route/DNS?): Could not "
                      "connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)")


def test_other_failures_quote_the_last_line() -> None:
    reason = rf.diagnose_build_failure("I: x\nE: Unable to locate package asterisk\n\n", 25)
    assert reason == "mmdebstrap failed with status 25: E: Unable to locate package asterisk"


def test_command_has_no_mirror_and_the_agreed_options(tmp_path: Path) -> None:
    argv = rf.mmdebstrap_command(tmp_path / "t")
    assert argv[0] == "mmdebstrap" and argv[-2:] == ["sid", str(tmp_path / "t")]
    assert "--variant=apt" in argv and "--mode=root" in argv
    assert '--aptopt=Acquire::Check-Valid-Until "false"' in argv
    assert "--include=asterisk,asterisk-modules,asterisk-core-sounds-en-wav,sox" in argv


def test_sandbox_dir_from_env() -> None:
    assert rf.sandbox_dir({}) == Path("/var/cache/edgeqa/sandbox")
    assert rf.sandbox_dir({"EDGEQA_SANDBOX_DIR": "/tmp/x"}) == Path("/tmp/x")


class FakeTools:
    """Stands in for mmdebstrap (creates a dpkg status) and dpkg-query (reads it back)."""

    def __init__(self, versions: dict[str, str], fail_output: str | None = None) -> None:
        self.versions = dict(versions)
        self.fail_output = fail_output
        self.builds = 0

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if argv[0] == "mmdebstrap":
            self.builds += 1
            if self.fail_output is not None:
                return subprocess.CompletedProcess(argv, 1, "", self.fail_output)
            target = Path(argv[-1])
            (target / "var/lib/dpkg").mkdir(parents=True)
            (target / "var/lib/dpkg/status").write_text(json.dumps(self.versions))
            return subprocess.CompletedProcess(argv, 0, "", "")
        assert argv[0] == "dpkg-query"
        admindir = Path(argv[1].split("=", 1)[1])
        installed = json.loads((admindir / "status").read_text())
        out = "".join(f"{p}\t{v}\tii \n" for p, v in installed.items() if p in argv)
        return subprocess.CompletedProcess(argv, 0, out, "")


def _ensure(tmp_path: Path, tools: FakeTools, rebuild: bool = False) -> rf.BuildResult:
    return rf.ensure_rootfs(tmp_path, rebuild=rebuild, runner=tools, prerequisites=lambda: None)


def test_build_then_reuse_while_versions_match(tmp_path: Path) -> None:
    tools = FakeTools(VERSIONS)
    first = _ensure(tmp_path, tools)
    assert first.built and first.versions == VERSIONS and tools.builds == 1
    manifest = rf.read_manifest(tmp_path / "rootfs")
    assert manifest is not None and manifest["spec"] == rf.build_spec()
    second = _ensure(tmp_path, tools)
    assert not second.built and tools.builds == 1
    assert not any(p.name.startswith("rootfs.") for p in tmp_path.iterdir())


def test_rebuild_when_installed_versions_drift(tmp_path: Path) -> None:
    tools = FakeTools(VERSIONS)
    _ensure(tmp_path, tools)
    status = tmp_path / "rootfs/var/lib/dpkg/status"
    status.write_text(json.dumps({**VERSIONS, "asterisk": "1:22.11.0-1"}))
    assert not rf.cache_is_valid(tmp_path / "rootfs", tools)
    assert _ensure(tmp_path, tools).built and tools.builds == 2


def test_rebuild_when_spec_changes_or_forced(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    tools = FakeTools(VERSIONS)
    _ensure(tmp_path, tools)
    assert _ensure(tmp_path, tools, rebuild=True).built and tools.builds == 2
    monkeypatch.setattr(rf, "RECIPE_VERSION", rf.RECIPE_VERSION + 1)
    assert _ensure(tmp_path, tools).built and tools.builds == 3


def test_failed_build_keeps_the_old_rootfs(tmp_path: Path) -> None:
    tools = FakeTools(VERSIONS)
    _ensure(tmp_path, tools)
    tools.fail_output = "E: Failed to fetch http://deb.debian.org/x  Could not resolve host\n"
    with pytest.raises(SandboxError, match="could not reach the Debian archive"):
        _ensure(tmp_path, tools, rebuild=True)
    assert rf.cache_is_valid(tmp_path / "rootfs", tools)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "rootfs"]


def test_missing_package_after_build_is_an_error(tmp_path: Path) -> None:
    tools = FakeTools({k: v for k, v in VERSIONS.items() if k != "sox"})
    with pytest.raises(SandboxError, match=r"not installed: \['sox'\]"):
        _ensure(tmp_path, tools)
    assert not (tmp_path / "rootfs").exists()


def test_no_rebuild_under_a_running_instance(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    tools = FakeTools(VERSIONS)
    _ensure(tmp_path, tools)
    monkeypatch.setattr(rf, "running_instances", lambda rootfs: {"b16000": 4242})
    with pytest.raises(SandboxError, match=r"instances still running in it \{'b16000': 4242\}"):
        _ensure(tmp_path, tools, rebuild=True)
    assert tools.builds == 1 and rf.cache_is_valid(tmp_path / "rootfs", tools)

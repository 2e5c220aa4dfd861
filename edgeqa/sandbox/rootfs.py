"""The cached Debian sid rootfs holding Asterisk 22: build once with mmdebstrap, then reuse."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from edgeqa.sandbox.errors import SandboxError
from edgeqa.sandbox.instance import running_instances

log = logging.getLogger(__name__)

SANDBOX_DIR_ENV = "EDGEQA_SANDBOX_DIR"
DEFAULT_SANDBOX_DIR = Path("/var/cache/edgeqa/sandbox")
MANIFEST_NAME = ".edgeqa-manifest.json"
PACKAGES: tuple[str, ...] = ("asterisk", "asterisk-modules", "asterisk-core-sounds-en-wav", "sox")
SUITE = "sid"
#: Bump when the build recipe changes in a way the package list does not show.
RECIPE_VERSION = 1
BUILD_TIMEOUT_S = 1800.0
LOCK_TIMEOUT_S = 1900.0
LOG_TAIL_LINES = 15
#: mmdebstrap/apt output that means the archive could not be reached (not a package problem).
_NETWORK_ERRORS = re.compile(
    r"Temporary failure resolving|Could not resolve|Failed to fetch|Unable to connect|"
    r"Network is unreachable|No route to host|Connection timed out|Could not connect|"
    r"Connection refused|Some index files failed to download",
    re.IGNORECASE,
)

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What ``ensure_rootfs`` did: the rootfs path, whether it was built, and how long it took."""

    rootfs: Path
    built: bool
    duration_s: float
    versions: Mapping[str, str]


def sandbox_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the cache directory: $EDGEQA_SANDBOX_DIR or /var/cache/edgeqa/sandbox."""
    env = os.environ if environ is None else environ
    raw = env.get(SANDBOX_DIR_ENV, "").strip()
    return Path(raw) if raw else DEFAULT_SANDBOX_DIR


def build_spec() -> dict[str, object]:
    """Return the recipe recorded in the manifest; a change invalidates the cache."""
    return {
        "recipe": RECIPE_VERSION,
        "suite": SUITE,
        "variant": "apt",
        "mode": "root",
        "include": list(PACKAGES),
        "aptopt": ['Acquire::Check-Valid-Until "false"'],
    }


def mmdebstrap_command(target: Path) -> list[str]:
    """Return the mmdebstrap argv that builds the rootfs into ``target`` (no mirror argument)."""
    spec = build_spec()
    include = ",".join(PACKAGES)
    argv = ["mmdebstrap", f"--variant={spec['variant']}", f"--mode={spec['mode']}"]
    argv += [f"--aptopt={opt}" for opt in ('Acquire::Check-Valid-Until "false"',)]
    argv += [f"--include={include}", SUITE, str(target)]
    return argv


def installed_versions(rootfs: Path, runner: Runner = subprocess.run) -> dict[str, str]:
    """Return {package: version} of PACKAGES as dpkg inside ``rootfs`` records them."""
    admindir = rootfs / "var/lib/dpkg"
    if not (admindir / "status").is_file():
        return {}
    proc = runner(
        ["dpkg-query", f"--admindir={admindir}", "-W",
         "-f=${Package}\t${Version}\t${db:Status-Abbrev}\n", *PACKAGES],
        capture_output=True, text=True, timeout=60, check=False,
    )
    versions: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1] and parts[2].startswith("ii"):
            versions[parts[0]] = parts[1]
    return versions


def read_manifest(rootfs: Path) -> dict[str, object] | None:
    """Return the manifest recorded in ``rootfs``, or None if missing or unreadable."""
    try:
        data = json.loads((rootfs / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def cache_is_valid(rootfs: Path, runner: Runner = subprocess.run) -> bool:
    """Return True if ``rootfs`` was built from today's spec and its packages still match."""
    manifest = read_manifest(rootfs)
    if manifest is None or manifest.get("spec") != build_spec():
        return False
    versions = installed_versions(rootfs, runner)
    complete = bool(versions) and set(versions) == set(PACKAGES)
    return complete and manifest.get("versions") == versions


def check_build_prerequisites(euid: int | None = None,
                              which: Callable[[str], str | None] = shutil.which) -> None:
    """Raise SandboxError unless we are root and mmdebstrap is installed."""
    if (os.geteuid() if euid is None else euid) != 0:
        raise SandboxError("the sandbox needs root (mmdebstrap --mode=root, chroot): run as root")
    if which("mmdebstrap") is None:
        raise SandboxError("mmdebstrap not found: apt-get install mmdebstrap (or run `make apt`)")
    if which("chroot") is None:
        raise SandboxError("chroot not found (coreutils): cannot run Asterisk in the rootfs")


def diagnose_build_failure(output: str, returncode: int) -> str:
    """Return a one-line reason for a failed mmdebstrap run from its combined output."""
    for line in output.splitlines():
        if _NETWORK_ERRORS.search(line):
            return f"mmdebstrap could not reach the Debian archive (no route/DNS?): {line.strip()}"
    tail = [ln.strip() for ln in output.splitlines() if ln.strip()][-1:] or ["no output"]
    return f"mmdebstrap failed with status {returncode}: {tail[0]}"


def ensure_rootfs(directory: Path | None = None, *, rebuild: bool = False,
                  runner: Runner = subprocess.run,
                  prerequisites: Callable[[], None] = check_build_prerequisites) -> BuildResult:
    """Return the cached rootfs, building it first if missing, stale or ``rebuild`` is set."""
    base = directory or sandbox_dir()
    rootfs = base / "rootfs"
    prerequisites()
    base.mkdir(parents=True, exist_ok=True)
    with _locked(base / ".lock"):
        if not rebuild and cache_is_valid(rootfs, runner):
            return BuildResult(rootfs, False, 0.0, installed_versions(rootfs, runner))
        return _build(base, rootfs, runner)


def _build(base: Path, rootfs: Path, runner: Runner) -> BuildResult:
    busy = running_instances(rootfs)
    if busy:
        raise SandboxError(f"cannot replace {rootfs}: instances still running in it {busy} "
                           "(edgeqa sandbox stop --instance NAME)")
    tmp = base / f"rootfs.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    argv = mmdebstrap_command(tmp)
    log.info("building sandbox rootfs: %s", " ".join(argv))
    started = time.monotonic()
    try:
        proc = runner(argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SandboxError(f"mmdebstrap did not finish within {BUILD_TIMEOUT_S:.0f} s") from None
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SandboxError(diagnose_build_failure((proc.stdout or "") + (proc.stderr or ""),
                                                  proc.returncode))
    versions = installed_versions(tmp, runner)
    missing = sorted(set(PACKAGES) - set(versions))
    if missing:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SandboxError(f"mmdebstrap succeeded but these packages are not installed: {missing}")
    manifest = {"spec": build_spec(), "versions": versions, "built_at": time.time()}
    (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    old = base / f"rootfs.old-{os.getpid()}"
    if rootfs.exists():
        os.rename(rootfs, old)
    os.rename(tmp, rootfs)
    shutil.rmtree(old, ignore_errors=True)
    duration_s = time.monotonic() - started
    log.info("sandbox rootfs built in %.1f s: %s", duration_s, versions)
    return BuildResult(rootfs, True, duration_s, versions)


class _locked:
    """Hold an exclusive flock on ``path`` so that concurrent test sessions build only once."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = -1

    def __enter__(self) -> None:
        self._fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o644)
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(self._fd)
                    raise SandboxError(f"timed out waiting for the lock {self._path}") from None
                time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)

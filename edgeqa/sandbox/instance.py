"""One sandbox instance's directories inside the shared rootfs, and its rendered config."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sqlite3
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edgeqa.sandbox.errors import SandboxError
from edgeqa.sandbox.ports import SandboxPorts

#: Where instances live, as seen from inside the chroot.
INSTANCES_ROOT = PurePosixPath("/srv/edgeqa")
ADMIN_CONF_ENV = "EDGEQA_ASTERISK_CONF"
SANDBOX_CONF_DIR = Path(__file__).parent / "conf"
#: The admin-facing snippets the sandbox runs verbatim (asterisk_conf/ in the checkout).
ADMIN_FILES: tuple[str, ...] = (
    "manager_edgeqa.conf", "ari_edgeqa.conf", "http_edgeqa.conf", "extensions_edgeqa.conf",
    "features_edgeqa.conf",
)
#: Modules that warn when their config is missing; an empty file is all they need here.
EMPTY_FILES: tuple[str, ...] = (
    "acl.conf", "ccss.conf", "pjproject.conf", "udptl.conf",
    "chan_websocket.conf", "websocket_client.conf", "musiconhold.conf",
)
SUBDIRS: tuple[str, ...] = ("etc", "run", "log", "spool", "lib", "cache")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_PLACEHOLDER = re.compile(r"@@[A-Z_]+@@")
AMI_USER = "edgeqa"
ARI_USER = "edgeqa"
ARI_APP = "edgeqa"


@dataclass(frozen=True, slots=True)
class Secrets:
    """Per-instance credentials of the edgeqa AMI and ARI users (never logged)."""

    ami_secret: str
    ari_password: str

    @classmethod
    def generate(cls) -> Secrets:
        """Return fresh random credentials."""
        return cls(secrets.token_hex(16), secrets.token_hex(16))

    @classmethod
    def load(cls, etc: Path) -> Secrets | None:
        """Return the credentials an instance was last configured with, or None."""
        try:
            ami = _value((etc / "manager_edgeqa_secret.conf").read_text(), "secret")
            ari = _value((etc / "ari_edgeqa_secret.conf").read_text(), "password")
        except OSError:
            return None
        return cls(ami, ari) if ami and ari else None

    def __repr__(self) -> str:
        return "Secrets(<hidden>)"


@dataclass(frozen=True, slots=True)
class InstancePaths:
    """Paths of instance ``name`` in ``rootfs``: ``chroot`` inside the chroot, ``host`` outside."""

    rootfs: Path
    name: str

    @classmethod
    def create(cls, rootfs: Path, name: str) -> InstancePaths:
        """Validate ``name`` (lowercase, digits, - and _) and return the paths."""
        if not _NAME.fullmatch(name):
            raise SandboxError(f"bad sandbox instance name {name!r}: use [a-z0-9_-], max 32")
        return cls(rootfs, name)

    @property
    def chroot(self) -> PurePosixPath:
        """The instance root as Asterisk sees it."""
        return INSTANCES_ROOT / self.name

    @property
    def host(self) -> Path:
        """The instance root on the host."""
        return self.host_path(self.chroot)

    def host_path(self, chroot_path: str | PurePosixPath) -> Path:
        """Return the host path of an absolute path inside the chroot."""
        inner = PurePosixPath(chroot_path)
        if not inner.is_absolute():
            raise SandboxError(f"not an absolute chroot path: {chroot_path}")
        return self.rootfs / inner.relative_to("/")

    @property
    def asterisk_conf(self) -> PurePosixPath:
        """The file passed to ``asterisk -C``."""
        return self.chroot / "etc" / "asterisk.conf"

    @property
    def pidfile(self) -> Path:
        """Host path of the pid file written by ``edgeqa sandbox start``."""
        return self.host / "edgeqa-sandbox.pid"

    @property
    def console_log(self) -> Path:
        """Host path of Asterisk's stdout/stderr."""
        return self.host / "log" / "console.log"

    @property
    def messages_log(self) -> Path:
        """Host path of Asterisk's full log (logger.conf ``messages.log``)."""
        return self.host / "log" / "messages.log"


#: Endpoints defined in conf/pjsip.conf.
ENDPOINTS: tuple[str, ...] = (
    "customer1", "customer2", "customer3", "agent1", "agent2", "agent3",
    "supervisor1", "supervisor2", "agent10", "supervisor3",
)


def phone_password(endpoint: str) -> str:
    """Return the fixed sandbox-only SIP password of ``endpoint`` (see conf/pjsip.conf)."""
    if endpoint not in ENDPOINTS:
        raise SandboxError(f"no sandbox endpoint {endpoint!r}; have {', '.join(ENDPOINTS)}")
    return f"{endpoint}-sandbox"


def live_pid(paths: InstancePaths) -> int | None:
    """Return the pid in the instance's pid file if that process is its running Asterisk."""
    try:
        pid = int(paths.pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    # Pids get reused: only a live process started with this instance's asterisk.conf counts.
    if str(paths.asterisk_conf).encode() not in cmdline:
        return None
    return pid if process_alive(pid) else None


def process_alive(pid: int) -> bool:
    """True while any thread of ``pid`` is not a zombie.

    Asterisk's main thread exits first: its /proc cmdline turns empty and its state Z while
    other threads still hold the listening sockets.
    """
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            if (task / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                return True
        except (OSError, IndexError):
            continue
    return False


def running_instances(rootfs: Path) -> dict[str, int]:
    """Return {instance name: pid} of every instance running in ``rootfs``."""
    found: dict[str, int] = {}
    root = rootfs / INSTANCES_ROOT.relative_to("/")
    for entry in sorted(root.iterdir()) if root.is_dir() else ():
        if _NAME.fullmatch(entry.name):
            pid = live_pid(InstancePaths(rootfs, entry.name))
            if pid is not None:
                found[entry.name] = pid
    return found


def purge_contacts(paths: InstancePaths) -> int:
    """Delete PJSIP registrations persisted in the instance's AstDB; return how many."""
    db = paths.host / "lib" / "astdb.sqlite3"
    if not db.is_file():
        return 0
    with contextlib.closing(sqlite3.connect(db, timeout=5.0)) as conn, conn:
        return conn.execute("DELETE FROM astdb WHERE key LIKE '/registrar/%'").rowcount


def admin_conf_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the asterisk_conf/ directory: $EDGEQA_ASTERISK_CONF, the checkout's, or the
    installed copy (``<prefix>/share/edgeqa/asterisk_conf``, from setup.py's data_files)."""
    env = os.environ if environ is None else environ
    raw = env.get(ADMIN_CONF_ENV, "").strip()
    if raw:
        candidates = [Path(raw)]
    else:
        candidates = [Path(__file__).resolve().parents[2] / "asterisk_conf",
                      Path(sys.prefix) / "share" / "edgeqa" / "asterisk_conf"]
    for path in candidates:
        if all((path / name).is_file() for name in ADMIN_FILES):
            return path
    raise SandboxError(f"no asterisk_conf directory with {', '.join(ADMIN_FILES)} in "
                       f"{' or '.join(map(str, candidates))}; set {ADMIN_CONF_ENV}")


def asterisk_ids(rootfs: Path) -> tuple[int, int]:
    """Return (uid, gid) of the ``asterisk`` user as the rootfs's passwd file defines them."""
    try:
        for line in (rootfs / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if len(fields) >= 4 and fields[0] == "asterisk":
                return int(fields[2]), int(fields[3])
    except (OSError, ValueError) as exc:
        raise SandboxError(f"cannot read {rootfs}/etc/passwd: {exc}") from None
    raise SandboxError(f"no asterisk user in {rootfs}/etc/passwd (is asterisk installed?)")


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace every ``@@NAME@@`` in ``template``; raise SandboxError on an unknown one."""
    out = template
    for key, value in values.items():
        out = out.replace(f"@@{key}@@", value)
    left = _PLACEHOLDER.search(out)
    if left:
        raise SandboxError(f"sandbox config template has an unknown placeholder {left.group(0)}")
    return out


def write_config(paths: InstancePaths, ports: SandboxPorts, creds: Secrets,
                 admin_dir: Path, conf_dir: Path = SANDBOX_CONF_DIR) -> None:
    """(Re)write the instance's etc/ and create its state dirs, owned by the asterisk user."""
    uid, gid = asterisk_ids(paths.rootfs)
    values = {
        "INSTANCE": paths.name, "ROOT": str(paths.chroot), "AMI_PORT": str(ports.ami),
        "HTTP_PORT": str(ports.http), "SIP_PORT": str(ports.sip),
        "RTP_START": str(ports.rtp_start), "RTP_END": str(ports.rtp_end),
        "AGI_PORT": str(ports.agi),
    }
    for sub in SUBDIRS:
        (paths.host / sub).mkdir(parents=True, exist_ok=True)
    etc = paths.host / "etc"
    for template in sorted(conf_dir.glob("*.conf")):
        _write(etc / template.name, render(template.read_text(), values), 0o640)
    for name in ADMIN_FILES:
        _write(etc / name, (admin_dir / name).read_text(), 0o640)
    _write(etc / "manager_edgeqa_secret.conf", f"secret = {creds.ami_secret}\n", 0o640)
    _write(etc / "ari_edgeqa_secret.conf", f"password = {creds.ari_password}\n", 0o640)
    for name in EMPTY_FILES:
        _write(etc / name, "; intentionally empty (silences 'Unable to load config file')\n", 0o640)
    os.chown(paths.host, uid, gid)
    for dirpath, dirnames, filenames in os.walk(paths.host):
        for entry in (*dirnames, *filenames):
            os.chown(os.path.join(dirpath, entry), uid, gid)


def _value(text: str, key: str) -> str:
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == key:
            return value.strip()
    return ""


def _write(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)

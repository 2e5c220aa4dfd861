"""A running Asterisk 22 sandbox instance: start, stop, restart, kill, cli, status."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from edgeqa.sandbox import probe
from edgeqa.sandbox.errors import SandboxError
from edgeqa.sandbox.instance import (
    AMI_USER,
    ARI_APP,
    ARI_USER,
    InstancePaths,
    Secrets,
    admin_conf_dir,
    live_pid,
    process_alive,
    purge_contacts,
    write_config,
)
from edgeqa.sandbox.ports import LOOPBACK, SandboxPorts, check_free
from edgeqa.sandbox.rootfs import BuildResult, check_build_prerequisites, ensure_rootfs, sandbox_dir

log = logging.getLogger(__name__)

BOOT_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
CLI_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 15
ASTERISK = "/usr/sbin/asterisk"


@dataclass(frozen=True, slots=True)
class SandboxStatus:
    """Whether the instance runs, its pid, and whether AMI and ARI answer."""

    instance: str
    running: bool
    pid: int | None
    ami_port: int
    http_port: int
    ari_ok: bool


class Sandbox:
    """One Asterisk instance chrooted in the shared rootfs, with its own dirs and ports."""

    def __init__(self, base: int | None = None, instance: str | None = None, *,
                 directory: Path | None = None, boot_timeout_s: float = BOOT_TIMEOUT_S,
                 ports: SandboxPorts | None = None) -> None:
        if ports is None:
            ports = SandboxPorts.from_env() if base is None else SandboxPorts.from_base(base)
        self.ports = ports
        self.rootfs = (directory or sandbox_dir()) / "rootfs"
        self.paths = InstancePaths.create(self.rootfs, instance or f"b{self.ports.base}")
        self.boot_timeout_s = boot_timeout_s
        self.boot_s: float | None = None
        # Reuse the credentials of an earlier start, so that another process (the CLI, a
        # second test session) can talk to an instance that is already running.
        self._secrets = Secrets.load(self.paths.host / "etc") or Secrets.generate()
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_once = False

    @property
    def name(self) -> str:
        """The instance name (default ``b<base>``)."""
        return self.paths.name

    @property
    def ami(self) -> tuple[str, int, str, str]:
        """(host, port, username, secret) of the least-privilege AMI user ``edgeqa``."""
        return (LOOPBACK, self.ports.ami, AMI_USER, self._secrets.ami_secret)

    @property
    def ari(self) -> tuple[str, str, str, str]:
        """(base_url, username, password, app) of the ARI user ``edgeqa`` and Stasis app."""
        return (f"http://{LOOPBACK}:{self.ports.http}/ari", ARI_USER, self._secrets.ari_password,
                ARI_APP)

    @property
    def recordings(self) -> tuple[str, Path]:
        """The recording directory, as the chrooted Asterisk and as the host see it
        ([recording] asterisk_dir, daemon_dir)."""
        inner = self.paths.chroot / "spool" / "edgeqa-recordings"
        return str(inner), self.paths.host_path(inner)

    def build(self, *, rebuild: bool = False) -> BuildResult:
        """Build the shared rootfs if it is missing or stale (a no-op when cached)."""
        return ensure_rootfs(self.rootfs.parent, rebuild=rebuild)

    def start(self) -> float:
        """Start Asterisk and wait for FullyBooted and ARI; return the seconds to FullyBooted."""
        if self.pid() is not None:
            raise SandboxError(f"sandbox {self.name} is already running (pid {self.pid()})")
        check_build_prerequisites()
        if not (self.rootfs / ASTERISK.lstrip("/")).is_file():
            raise SandboxError(f"no rootfs at {self.rootfs}: run `edgeqa sandbox build` first")
        check_free(self.ports)
        write_config(self.paths, self.ports, self._secrets, admin_conf_dir())
        for stale in ("asterisk.pid", "asterisk.ctl"):
            (self.paths.host / "run" / stale).unlink(missing_ok=True)
        if not self._started_once:
            # Phones of a killed session stay registered (contacts persist in AstDB): the
            # queue would ring them. restart() keeps registrations, as a real PBX does.
            purge_contacts(self.paths)
        self._started_once = True
        argv = ["chroot", str(self.rootfs), ASTERISK, "-f", "-n", "-U", "asterisk",
                "-G", "asterisk", "-C", str(self.paths.asterisk_conf)]
        started = time.monotonic()
        with open(self.paths.console_log, "ab") as console:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        self.paths.pidfile.write_text(f"{self._proc.pid}\n")
        try:
            host, port, user, secret = self.ami
            probe.wait_fully_booted(host, port, user, secret, self.boot_timeout_s,
                                    alive=lambda: self.pid() is not None)
            self.boot_s = time.monotonic() - started
            url, ari_user, ari_password, _ = self.ari
            remaining_s = max(1.0, self.boot_timeout_s - self.boot_s)
            probe.wait_ari_ready(url, ari_user, ari_password, remaining_s)
        except SandboxError as exc:
            self.kill()
            raise SandboxError(f"Asterisk ({self.name}) failed to start: {exc}\n"
                               f"{self.log_tail()}") from None
        log.info("sandbox %s FullyBooted in %.2f s (pid %d, base %d)", self.name, self.boot_s,
                 self._proc.pid, self.ports.base)
        return self.boot_s

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM Asterisk and wait for it to exit (SIGKILL after ``timeout_s``); idempotent."""
        self._signal(signal.SIGTERM, timeout_s)

    def kill(self) -> None:
        """SIGKILL Asterisk (no clean shutdown) and reap it; idempotent."""
        self._signal(signal.SIGKILL, STOP_TIMEOUT_S)

    def restart(self) -> float:
        """Stop and start again with the same ports and credentials; return the boot time."""
        self.stop()
        return self.start()

    def pid(self) -> int | None:
        """Return the pid of this instance's Asterisk if it is alive, else None."""
        if self._proc is not None:
            return self._proc.pid if self._proc.poll() is None else None
        return live_pid(self.paths)

    def cli(self, command: str, timeout_s: float = CLI_TIMEOUT_S) -> str:
        """Run ``asterisk -rx command`` against this instance and return its output."""
        argv = ["chroot", str(self.rootfs), ASTERISK, "-C", str(self.paths.asterisk_conf),
                "-rx", command]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise SandboxError(f"asterisk -rx {command!r} timed out after {timeout_s} s") from None
        if proc.returncode != 0:
            raise SandboxError(f"asterisk -rx {command!r} failed ({proc.returncode}): "
                               f"{(proc.stderr or proc.stdout).strip()}")
        return proc.stdout

    def status(self) -> SandboxStatus:
        """Return whether Asterisk runs and ARI answers (loaded credentials permitting)."""
        pid = self.pid()
        ari_ok = False
        if pid is not None:
            url, user, password, _ = self.ari
            try:
                ari_ok = probe.ari_get(url, user, password, "/asterisk/info", 1.0)[0] == 200
            except OSError:
                ari_ok = False
        return SandboxStatus(self.name, pid is not None, pid, self.ports.ami, self.ports.http,
                             ari_ok)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """Return the last ``lines`` of Asterisk's console output and messages.log."""
        out = []
        for path in (self.paths.console_log, self.paths.messages_log):
            try:
                tail = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            out.append(f"--- {path}:\n" + "\n".join(tail))
        return "\n".join(out) or "(no Asterisk log written)"

    def _signal(self, sig: signal.Signals, timeout_s: float) -> None:
        pid = self.pid()
        if pid is None:
            self._proc = None
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout_s
        while self._alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._alive(pid):
            log.warning("sandbox %s did not stop after %s; SIGKILL", self.name, sig.name)
            os.kill(pid, signal.SIGKILL)
            while self._alive(pid):
                time.sleep(0.02)
        self._proc = None
        self.paths.pidfile.unlink(missing_ok=True)

    def _alive(self, pid: int) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return process_alive(pid)

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


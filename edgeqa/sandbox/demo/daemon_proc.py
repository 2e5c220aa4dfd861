"""Run `edgeqa run` as a child process (demo and integration tests): config, start, stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0
POLL_INTERVAL_S = 0.05


def write_config(directory: Path, *, ami: tuple[str, int, str, str],
                 ari: tuple[str, str, str, str], api_port: int, extra: str = "",
                 live: bool = True, rtp_port: int | None = None,
                 recordings: tuple[str, Path] | None = None, recording_policy: str = "",
                 live_options: str = "",
                 agi_port: int | None = None) -> Path:
    """Write edgeqa.toml and its secret files (mode 0600) into ``directory``; return the path.

    The live RTP receiver listens on ``rtp_port`` (default: ``api_port + 10``), the FastAGI
    server on ``agi_port`` (default: ``api_port + 30``, SandboxPorts.agi when the API is at
    base + 950; never the shared 4573).
    ``recordings``: the recording directory as Asterisk and as the daemon see it (else
    [recording] is disabled: the default directory is not the sandbox's); ``recording_policy``
    more [recording] lines (queues, agents ...); ``live_options`` more [live] lines.
    """
    directory.mkdir(parents=True, exist_ok=True)
    host, port, user, secret = ami
    url, ari_user, password, app = ari
    for name, value in (("ami.secret", secret), ("ari.secret", password)):
        path = directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")
    text = (f'[ami]\nhost = "{host}"\nport = {port}\nusername = "{user}"\n'
            f'secret_file = "ami.secret"\nconnect_timeout_s = 2.0\n'
            f'[ari]\nurl = "{url}"\nusername = "{ari_user}"\npassword_file = "ari.secret"\n'
            f'app = "{app}"\n'
            f'[store]\npath = "edgeqa.db"\n'
            f'[api]\nhost = "127.0.0.1"\nport = {api_port}\n'
            f'[live]\nenabled = {"true" if live else "false"}\n'
            f'rtp_port = {api_port + 10 if rtp_port is None else rtp_port}\n{live_options}'
            f'[agi]\nport = {api_port + 30 if agi_port is None else agi_port}\n')
    if recordings is None:
        text += '[recording]\nenabled = false\n'
    else:
        text += (f'[recording]\nasterisk_dir = "{recordings[0]}"\n'
                 f'daemon_dir = "{recordings[1]}"\n{recording_policy}')
    text += extra
    conf = directory / "edgeqa.toml"
    conf.write_text(text)
    return conf


class DaemonProcess:
    """One `edgeqa run --config FILE` child; its stderr goes to ``log_path``."""

    def __init__(self, config: Path, api_port: int, log_path: Path, *,
                 env: Mapping[str, str] | None = None, log_format: str = "text") -> None:
        self.config = config
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.log_path = log_path
        self.env = dict(os.environ if env is None else env)
        self.log_format = log_format
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the daemon (not waiting for it)."""
        argv = [sys.executable, "-m", "edgeqa", "run", "--config", str(self.config),
                "--log-format", self.log_format]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=self.env)

    @property
    def token_path(self) -> Path:
        """The daemon's local admin token (beside the store write_config names)."""
        return self.config.parent / "local.token"

    def token(self) -> str:
        """The daemon's local admin token (written at start, before the API listens)."""
        return self.token_path.read_text().strip()

    def get(self, path: str, timeout_s: float = 2.0, token: str | None = None) -> Any:
        """GET ``path`` from the daemon's API with ``token`` (default: the local admin
        token, if written yet) and decode its JSON (error bodies too)."""
        if token is None and self.token_path.exists():
            token = self.token()
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        req = urllib.request.Request(self.api_url + path, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S, *, connected: bool = True) -> Any:
        """Poll /v1/health until it answers (and AMI+ARI are up when ``connected``)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"edgeqa exited with {self.proc.returncode}:\n{self.log()}")
            try:
                health = self.get("/v1/health", timeout_s=1.0)
                if not connected or health.get("status") == "ok":
                    return health
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"edgeqa not ready within {timeout_s} s:\n{self.log()}")
            time.sleep(POLL_INTERVAL_S)

    def wait_exit(self, timeout_s: float) -> int:
        """Wait for the daemon to exit on its own; return its status."""
        assert self.proc is not None
        return self.proc.wait(timeout_s)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout_s``); return the exit status; idempotent."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGKILL (no shutdown at all: only what was committed survives) and reap it."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(timeout_s)

    def log(self) -> str:
        """The daemon's log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

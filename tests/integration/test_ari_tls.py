"""ARI over TLS on loopback (docs/asterisk.md#ari-credentials): the real Asterisk serves REST and
the events WebSocket on https/wss with a self-signed certificate, edgeqa's ARI client connects
when the daemon trusts exactly that certificate (``SSL_CERT_FILE``), and an impostor with a
certificate of its own never receives the Basic credentials.

The impostor is a FAKE PEER (a TLS server on loopback): what a real Asterisk cannot be made to
be. The client runs in a child process, because aiohttp builds its default TLS context (which
reads ``SSL_CERT_FILE``) when it is imported.
Run: EDGEQA_SANDBOX_PORT_BASE=19000 .venv/bin/pytest -q tests/integration/test_ari_tls.py
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeqa.sandbox.instance import asterisk_ids
from edgeqa.sandbox.pbx import Sandbox
from tests.support.unavailable import unavailable

pytestmark = pytest.mark.integration

STEP_S = 15.0
CLIENT = """
import asyncio, sys
from edgeqa.ari.client import AriClient

async def main() -> int:
    url, user, password = sys.argv[1:4]
    client = AriClient(url, user, password, "edgeqa-tls-test", on_event=lambda body: None)
    task = asyncio.create_task(client.run())
    try:
        await client.wait_connected(float(sys.argv[4]))
        info = await client.asterisk_info()
        print("CONNECTED", info["system"]["version"])
        return 0
    except Exception as exc:
        print("FAILED", type(exc).__name__)
        return 1
    finally:
        await client.close()
        task.cancel()

sys.exit(asyncio.run(main()))
"""


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        unavailable("openssl is not installed")
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=STEP_S)
    return cert, key


@pytest.fixture
def tls_sandbox(running_sandbox: Sandbox, tmp_path: Path) -> Iterator[tuple[Sandbox, int, Path]]:
    """The sandbox with HTTPS on http port + 1 (its http.conf restored afterwards)."""
    box = running_sandbox
    etc = box.paths.host / "etc"
    keys = etc / "keys"
    keys.mkdir(exist_ok=True)
    cert, key = self_signed(keys, "ari-tls")
    uid, gid = asterisk_ids(box.rootfs)
    for path in (keys, cert, key):
        os.chown(path, uid, gid)
    key.chmod(0o600)
    trusted = tmp_path / "trusted.pem"
    shutil.copy(cert, trusted)
    port = box.ports.http + 1
    http_conf = etc / "http.conf"
    original = http_conf.read_text()
    inner = box.paths.chroot / "etc" / "keys"
    http_conf.write_text(original + f"tlsenable = yes\ntlsbindaddr = 127.0.0.1:{port}\n"
                         f"tlscertfile = {inner / cert.name}\ntlsprivatekey = {inner / key.name}\n")
    try:
        box.cli("module reload http")
        deadline = time.monotonic() + STEP_S
        while "HTTPS Server Enabled" not in box.cli("http show status"):
            assert time.monotonic() < deadline, box.cli("http show status")
            time.sleep(0.1)
        yield box, port, trusted
    finally:
        http_conf.write_text(original)
        box.cli("module reload http")
        shutil.rmtree(keys, ignore_errors=True)


def run_client(url: str, user: str, password: str, ca: Path | None,
               wait_s: float = 5.0) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("SSL_CERT_FILE", None)
    env.pop("SSL_CERT_DIR", None)
    if ca is not None:
        env["SSL_CERT_FILE"] = str(ca)
    return subprocess.run([sys.executable, "-c", CLIENT, url, user, password, str(wait_s)],
                          env=env, capture_output=True, text=True, timeout=STEP_S + wait_s)


def test_ari_over_tls_with_the_pinned_certificate(tls_sandbox: tuple[Sandbox, int, Path]) -> None:
    box, port, trusted = tls_sandbox
    _, user, password, _ = box.ari
    url = f"https://127.0.0.1:{port}/ari"
    done = run_client(url, user, password, trusted)
    assert done.returncode == 0 and done.stdout.startswith("CONNECTED 22."), done
    refused = run_client(url, user, password, None, wait_s=2.0)  # the system store: not trusted
    assert refused.returncode == 1 and "FAILED" in refused.stdout, refused


class Impostor:
    """A FAKE PEER: a TLS server on loopback with a certificate of its own; keeps what it
    decrypts."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = b""
        self.handshakes = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while self.listener.fileno() >= 0:
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2.0)
                try:
                    with self.context.wrap_socket(conn, server_side=True) as tls:
                        self.handshakes += 1
                        self.received += tls.recv(65536)
                except (ssl.SSLError, OSError):
                    pass

    def close(self) -> None:
        self.listener.close()
        self.thread.join(STEP_S)


def test_impostor_never_sees_the_credentials(tls_sandbox: tuple[Sandbox, int, Path],
                                             tmp_path: Path) -> None:
    box, _, trusted = tls_sandbox
    _, user, password, _ = box.ari
    impostor = Impostor(*self_signed(tmp_path, "impostor"))
    try:
        done = run_client(f"https://127.0.0.1:{impostor.port}/ari", user, password, trusted,
                          wait_s=2.0)
    finally:
        impostor.close()
    assert done.returncode == 1, done
    assert impostor.handshakes == 0
    assert password.encode() not in impostor.received and b"Authorization" not in impostor.received

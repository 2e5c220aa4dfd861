"""AMI login against a hand-written FAKE AMI PEER on loopback (not Asterisk).

The fake peer stands for what a real Asterisk cannot be made to do: record every byte the client
sends while it logs in (an impostor bound to port 5038 while Asterisk restarts), refuse the
challenge, and refuse a secret that worked a moment ago. The real Asterisk accepting the MD5 login
is test_ami_sandbox.py.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import codecs
import hashlib
import quopri
import urllib.parse

import pytest

from edgeqa.ami.client import AmiClient
from edgeqa.ami.errors import AmiAuthenticationError
from tests.support import ami as amihelpers
from tests.support.ami import LoopbackServer, Recorder, ami_hygiene, until

__all__ = ["ami_hygiene"]  # autouse fixture, applied to this module

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
STEP_S = 5.0
USER = "edgeqa"
SECRET = "Sekr3t-Pässwort_42"  # non-ASCII on purpose: every encoding of it is searched
NONCE = "1804289383"


def encodings_of(secret: str) -> set[bytes]:
    """Every form of ``secret`` a careless client could put on the wire, lower-cased."""
    raw = secret.encode()
    forms = {raw, secret.encode("latin-1"), secret.encode("utf-16-le"), secret.encode("utf-16-be"),
             binascii.hexlify(raw), urllib.parse.quote(secret).encode(),
             urllib.parse.quote_plus(secret).encode(), quopri.encodestring(raw).strip(),
             codecs.encode(secret, "rot13").encode(), raw[::-1]}
    for shift in range(3):  # base64 of the secret at every alignment inside a longer text
        padded = base64.b64encode(b"x" * shift + raw)
        forms.add(padded[4 if shift else 0:-4])
        forms.add(base64.urlsafe_b64encode(b"x" * shift + raw)[4 if shift else 0:-4])
    return {f.lower() for f in forms if len(f) >= 8}


class RecordingPeer(LoopbackServer):
    """A FAKE AMI peer that keeps every byte each connection sent, and answers by ``policy``:
    ``accept`` checks Key = md5(nonce + secret) like manager.c; ``reject`` always refuses;
    ``no_challenge`` refuses the Challenge as Asterisk does for an unknown AuthType."""

    def __init__(self, policies: list[str]) -> None:
        super().__init__()
        self.policies = policies
        self.received: list[bytes] = []
        self.actions: list[dict[str, str]] = []
        self.writers: list[asyncio.StreamWriter] = []

    def hang_up(self) -> None:
        """Close every open connection (Asterisk restarting)."""
        for writer in self.writers:
            writer.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = len(self.received)
        self.received.append(b"")
        policy = self.policies[min(number, len(self.policies) - 1)]
        self.writers.append(writer)
        writer.write(BANNER)
        try:
            while True:
                raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), STEP_S)
                self.received[number] += raw
                action = dict(line.split(": ", 1) for line in raw.decode().split("\r\n")
                              if ": " in line)
                self.actions.append(action)
                writer.write(self.answer(policy, action).encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()

    def answer(self, policy: str, action: dict[str, str]) -> str:
        head = f"ActionID: {action.get('ActionID', '')}\r\n"
        name = action.get("Action", "")
        if name == "Challenge":
            if policy == "no_challenge":
                return f"Response: Error\r\n{head}Message: Must specify AuthType\r\n\r\n"
            return f"Response: Success\r\n{head}Challenge: {NONCE}\r\n\r\n"
        if name == "Login":
            expected = hashlib.md5((NONCE + SECRET).encode()).hexdigest()
            if policy == "accept" and action.get("Key") == expected:
                return (f"Response: Success\r\n{head}Message: Authentication accepted\r\n\r\n"
                        "Event: FullyBooted\r\nPrivilege: system,all\r\n"
                        "Status: Fully Booted\r\n\r\n")
            return f"Response: Error\r\n{head}Message: Authentication failed\r\n\r\n"
        return f"Response: Success\r\n{head}\r\n"

    def wire(self) -> bytes:
        return b"".join(self.received)


def make_client(port: int, rec: Recorder, secret: str = SECRET) -> AmiClient:
    return amihelpers.make_client(("127.0.0.1", port, USER, secret), rec,
                                  backoff_initial_s=0.02, backoff_max_s=0.05,
                                  connect_timeout_s=2.0)


def assert_no_secret(wire: bytes, secret: str = SECRET) -> None:
    assert wire, "the fake peer received nothing"
    lowered = wire.lower()
    for form in encodings_of(secret):
        assert form not in lowered, f"the secret went on the wire as {form!r}"
    assert b"secret:" not in lowered


async def test_login_carries_no_secret_in_any_form() -> None:
    rec = Recorder()
    async with RecordingPeer(["accept"]) as peer:
        client = make_client(peer.port, rec)
        async with amihelpers.running(client, STEP_S):
            await client.wait_connected(STEP_S)
            await client.send_action("Ping", timeout_s=STEP_S)
    names = [a["Action"] for a in peer.actions]
    assert names[:3] == ["Challenge", "Login", "Ping"]
    assert peer.actions[0]["AuthType"] == "MD5"
    login = peer.actions[1]
    assert login["AuthType"] == "MD5" and login["Username"] == USER
    assert login["Key"] == hashlib.md5(f"{NONCE}{SECRET}".encode()).hexdigest()
    assert_no_secret(peer.wire())


async def test_wrong_key_is_a_clear_fatal_auth_error_on_first_login() -> None:
    rec = Recorder()
    async with RecordingPeer(["accept"]) as peer:
        client = make_client(peer.port, rec, secret="Wrong-Sekr3t-99")
        with pytest.raises(AmiAuthenticationError) as info:
            await asyncio.wait_for(client.run(), STEP_S)
    assert f"AMI login as {USER!r} refused: Authentication failed" in str(info.value)
    assert "Wrong-Sekr3t" not in str(info.value)
    assert client.connect_attempts == 1  # a configuration error: reported, not hammered
    assert_no_secret(peer.wire(), "Wrong-Sekr3t-99")


async def test_refusal_after_a_working_login_is_retried_with_backoff() -> None:
    """An impostor answering "Authentication failed" after a restart does not stop the daemon."""
    rec = Recorder()
    async with RecordingPeer(["accept", "reject"]) as peer:
        client = make_client(peer.port, rec)
        async with amihelpers.running(client, STEP_S) as task:
            await client.wait_connected(STEP_S)
            peer.hang_up()  # the link drops; every later login is refused
            await until(lambda: client.connect_attempts >= 4, STEP_S)
            assert not task.done()
            assert not client.connected
    assert client.sessions_started == 1
    assert_no_secret(peer.wire())


async def test_refused_challenge_never_falls_back_to_plaintext() -> None:
    rec = Recorder()
    async with RecordingPeer(["no_challenge"]) as peer:
        client = make_client(peer.port, rec)
        async with amihelpers.running(client, STEP_S) as task:
            await until(lambda: client.connect_attempts >= 3, STEP_S)
            assert not client.connected and not task.done()
    assert {a["Action"] for a in peer.actions} == {"Challenge"}
    assert_no_secret(peer.wire())

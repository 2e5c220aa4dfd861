"""A test softphone: drives one ``phone_worker`` process (pjsua2) over a JSON-lines pipe."""

from __future__ import annotations

import itertools
import json
import logging
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from edgeqa.sandbox.errors import SandboxError
from edgeqa.sandbox.instance import ENDPOINTS, phone_password
from edgeqa.sandbox.ports import SandboxPorts

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
REPLY_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 5.0
#: Events kept per phone; older ones are dropped (a phone sees a few dozen per call).
MAX_EVENTS = 10_000
LOG_TAIL_LINES = 20

#: One message from the phone worker (state change, media change, reply), as JSON.
PhoneEvent = dict[str, Any]
#: Each event carries the host's time.monotonic() when it was read (for latency figures).
RECEIVED_KEY = "received_monotonic"


class SandboxLike(Protocol):
    """What a phone needs from a sandbox: its port plan."""

    @property
    def ports(self) -> SandboxPorts: ...


class SoftphoneError(SandboxError):
    """A phone command failed, a wait timed out, or the worker process died."""


class Softphone:
    """One registered SIP phone in its own process; every wait takes a timeout."""

    def __init__(self, name: str, password: str, *, registrar_port: int, sip_port: int,
                 rtp_port: int, auto_answer: bool = False, log_path: Path | None = None,
                 start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.name = name
        self.log_path = log_path or Path(tempfile.mkstemp(prefix=f"edgeqa-phone-{name}-",
                                                          suffix=".log")[1])
        argv = [sys.executable, "-m", "edgeqa.sandbox.phone_worker", "--name", name,
                "--password", password, "--registrar-port", str(registrar_port),
                "--sip-port", str(sip_port), "--rtp-port", str(rtp_port)]
        if auto_answer:
            argv.append("--auto-answer")
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._events: list[PhoneEvent] = []
        self._dropped = 0
        self._replies: dict[int, PhoneEvent] = {}
        self._eof = False
        self._quit_sent = False
        self.call_no = 0
        with open(self.log_path, "ab") as stderr:
            self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=stderr)
        self._reader = threading.Thread(target=self._read, name=f"phone-{name}", daemon=True)
        self._reader.start()
        self.wait_event(lambda e: e.get("event") == "ready", start_timeout_s, "worker ready")

    @classmethod
    def for_sandbox(cls, sandbox: SandboxLike, name: str, index: int | None = None, *,
                    auto_answer: bool = False, log_dir: Path | None = None) -> Softphone:
        """Start sandbox endpoint ``name`` as phone ``index`` (default: the endpoint's number)."""
        ports = sandbox.ports
        if index is None:
            index = ENDPOINTS.index(name) if name in ENDPOINTS else 0
        log_path = None if log_dir is None else log_dir / f"phone-{name}.log"
        return cls(name, phone_password(name), registrar_port=ports.sip,
                   sip_port=ports.phone_sip(index), rtp_port=ports.phone_rtp(index),
                   auto_answer=auto_answer, log_path=log_path)

    # -- commands --
    def register(self, timeout_s: float = 10.0) -> None:
        """Wait until the phone's REGISTER got a 200 from Asterisk."""
        self.wait_event(lambda e: e.get("event") == "reg" and e.get("code") == 200
                        and bool(e.get("active")), timeout_s, "registration (200 OK)")

    def dial(self, ext: str) -> int:
        """Call ``ext`` through the sandbox; return the phone's call number."""
        self.call_no = int(self._request("dial", ext=ext)["call"])
        return self.call_no

    def answer(self, timeout_s: float = 10.0) -> int:
        """Wait for a ringing incoming call and answer it; return its call number."""
        incoming = self.wait_event(lambda e: e.get("event") == "incoming"
                                   and int(e["call"]) > self.call_no, timeout_s, "incoming call")
        self.call_no = int(incoming["call"])
        self._request("answer")
        return self.call_no

    def wait_incoming(self, timeout_s: float) -> int:
        """Wait for the next incoming call (auto-answer phones answer it themselves)."""
        incoming = self.wait_event(lambda e: e.get("event") == "incoming"
                                   and int(e["call"]) > self.call_no, timeout_s, "incoming call")
        self.call_no = int(incoming["call"])
        return self.call_no

    def play(self, wav: Path | str, *, loop: bool = False) -> None:
        """Play an 8 kHz mono PCM16 WAV into the call (now, or once media is up)."""
        self._request("play", wav=str(Path(wav).resolve()), loop=loop)

    def record(self, path: Path | str) -> None:
        """Record what the phone hears to ``path`` (WAV, 8 kHz mono PCM16)."""
        self._request("record", path=str(Path(path).resolve()))

    def stop_record(self) -> None:
        """Stop recording and finalise the WAV file."""
        self._request("stop_record")

    def hold(self, timeout_s: float = 5.0) -> PhoneEvent:
        """Put the current call on hold (re-INVITE, a=sendonly); wait for the SDP answer."""
        return self._media_change("hold", "local_hold", timeout_s)

    def unhold(self, timeout_s: float = 5.0) -> PhoneEvent:
        """Resume the held call (re-INVITE, a=sendrecv); wait until media is active again."""
        return self._media_change("unhold", "active", timeout_s)

    def transfer(self, ext: str) -> None:
        """Blind-transfer the current call's other party to ``ext`` (SIP REFER)."""
        self._request("transfer", ext=ext)

    def consult(self, ext: str, timeout_s: float = 10.0) -> int:
        """Call ``ext`` on a second line (hold the current call first); return its number once
        it is answered. The current call stays the phone's current call."""
        number = int(self._request("consult", ext=ext)["call"])
        self.wait_state("CONFIRMED", timeout_s, call=number)
        return number

    def transfer_attended(self, timeout_s: float = 10.0) -> PhoneEvent:
        """Transfer the current call's peer to the consulted party (REFER with Replaces);
        return the final NOTIFY (2xx: done; the phone then hangs up its current call)."""
        mark = self.event_count()
        number = int(self._request("xfer_replaces")["call"])
        final = self.wait_event(lambda e: e.get("event") == "transfer"
                                and e.get("call") == number and bool(e.get("final")),
                                timeout_s, f"call {number} transfer outcome", since=mark)
        if not 200 <= int(final["code"]) < 300:
            raise SoftphoneError(f"{self.name}: attended transfer failed: {final}")
        return final

    def _media_change(self, cmd: str, status: str, timeout_s: float) -> PhoneEvent:
        mark = self.event_count()
        number = int(self._request(cmd)["call"])
        return self.wait_event(
            lambda e: e.get("event") == "media_state" and e.get("call") == number
            and e.get("status") == status, timeout_s, f"call {number} media {status}",
            since=mark)

    def send_dtmf(self, digits: str) -> None:
        """Send RFC 4733 DTMF ``digits`` in the current call."""
        self._request("dtmf", digits=digits)

    def hangup(self) -> None:
        """Hang up the current call, if any."""
        self._request("hangup")

    def wait_state(self, state: str, timeout_s: float, call: int | None = None) -> PhoneEvent:
        """Wait until the current (or given) call reaches ``state``.

        States: CALLING, INCOMING, EARLY, CONNECTING, CONFIRMED, DISCONNECTED. Raises at once if
        the call is DISCONNECTED while waiting for another state.
        """
        number = call or self.call_no
        want = state.upper()

        def match(e: PhoneEvent) -> bool:
            if e.get("event") != "state" or e.get("call") != number:
                return False
            if e["state"] != want and e["state"] == "DISCONNECTED":
                raise SoftphoneError(f"{self.name}: call {number} ended ({e.get('code')} "
                                     f"{e.get('reason')}) before reaching {want}")
            return bool(e["state"] == want)

        return self.wait_event(match, timeout_s, f"call {number} state {want}")

    def wait_dtmf(self, count: int, timeout_s: float) -> str:
        """Wait until ``count`` DTMF digits arrived in the current call; return them."""
        def digits() -> str:
            return "".join(e["digit"] for e in self.events()
                           if e.get("event") == "dtmf" and e.get("call") == self.call_no)
        self.wait_event(lambda e: len(digits()) >= count, timeout_s, f"{count} DTMF digits")
        return digits()

    def request_stop(self) -> None:
        """Ask the worker to hang up and quit without waiting (stop several phones at once)."""
        if self._proc.poll() is None and not self._quit_sent:
            self._quit_sent = True
            try:
                self._send({"id": next(self._ids), "cmd": "quit"})
            except SoftphoneError:
                pass

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """Hang up, quit the worker and reap it (killed after ``timeout_s``); idempotent."""
        if self._proc.poll() is None:
            self.request_stop()
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("phone %s did not quit in %.1f s; killing it", self.name, timeout_s)
                self._proc.kill()
                self._proc.wait(timeout_s)
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._reader.join(timeout_s)
        return self._proc.returncode

    # -- plumbing --
    def events(self) -> list[PhoneEvent]:
        """Return a copy of the events received so far."""
        with self._cond:
            return list(self._events)

    def event_count(self) -> int:
        """How many events arrived so far (dropped ones included): a mark for ``since``."""
        with self._cond:
            return self._dropped + len(self._events)

    def wait_event(self, match: Callable[[PhoneEvent], bool], timeout_s: float, what: str, *,
                   since: int = 0) -> PhoneEvent:
        """Return the first event for which ``match`` is true, from event number ``since`` on
        (0: past events too)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            seen = since  # absolute event number, so that dropping old events shifts nothing
            while True:
                for event in self._events[max(0, seen - self._dropped):]:
                    if match(event):
                        return event
                seen = self._dropped + len(self._events)
                if self._eof:
                    raise self._died(f"waiting for {what}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SoftphoneError(f"{self.name}: timed out after {timeout_s} s waiting "
                                         f"for {what}")
                self._cond.wait(remaining)

    def _request(self, cmd: str, timeout_s: float = REPLY_TIMEOUT_S, **args: Any) -> PhoneEvent:
        req_id = next(self._ids)
        self._send({"id": req_id, "cmd": cmd, **args})
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while req_id not in self._replies:
                if self._eof:
                    raise self._died(f"waiting for the reply to {cmd}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SoftphoneError(f"{self.name}: no reply to {cmd} within {timeout_s} s")
                self._cond.wait(remaining)
            reply = self._replies.pop(req_id)
        if not reply.get("ok"):
            raise SoftphoneError(f"{self.name}: {cmd} failed: {reply.get('error')}")
        return reply

    def _send(self, obj: dict[str, Any]) -> None:
        stdin = self._proc.stdin
        try:
            assert stdin is not None
            stdin.write((json.dumps(obj) + "\n").encode())
            stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            raise self._died(f"sending {obj.get('cmd')}") from None

    def _read(self) -> None:
        stdout = self._proc.stdout
        assert stdout is not None
        for raw in stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                log.warning("phone %s: non-JSON line from worker: %r", self.name, raw[:200])
                continue
            with self._cond:
                if "reply" in msg:
                    self._replies[int(msg["reply"])] = msg
                else:
                    msg[RECEIVED_KEY] = time.monotonic()
                    self._events.append(msg)
                    if len(self._events) > MAX_EVENTS:
                        del self._events[0]
                        self._dropped += 1
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _died(self, doing: str) -> SoftphoneError:
        try:
            rc = self._proc.wait(2.0)
        except subprocess.TimeoutExpired:
            rc = None
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        except OSError:
            tail = []
        return SoftphoneError(f"{self.name}: phone worker died (exit {rc}) while {doing}; "
                              f"log {self.log_path}:\n" + "\n".join(tail))

    def __enter__(self) -> Softphone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

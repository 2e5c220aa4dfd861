"""One pjsua2 softphone in its own process, driven by JSON lines on stdin, events on stdout.

Run as ``python -m edgeqa.sandbox.phone_worker --name agent1 --password ... --registrar-port N
--sip-port N --rtp-port N [--auto-answer]``. Requests are ``{"id": n, "cmd": ..., ...}``; each gets
``{"reply": n, "ok": bool, ...}``. Unsolicited ``{"event": ...}`` lines report registration, call
state, media and DTMF. pjsua's own log goes to stderr so that stdout carries only JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import time
from typing import IO, Any

#: Largest request line accepted from the driver.
MAX_LINE_BYTES = 64 * 1024
HANDLE_EVENTS_MS = 10
WAV_CLOCK_RATE_HZ = 8000


class Worker:
    """The phone: one account, one call (plus a consultation call), its players and recorder.

    Every call object carries its number as ``no``; events name the call they are about.
    """

    def __init__(self, pj: Any, args: argparse.Namespace, out: IO[str]) -> None:
        self.pj = pj
        self.args = args
        self.out = out
        self.call: Any = None
        self.call_no = 0
        #: The second line of an attended transfer: no media attached, only signalling.
        self.consult: Any = None
        self.dead_calls: list[Any] = []
        self.media: Any = None
        self.players: list[Any] = []
        self.recorder: Any = None
        self.pending_play: tuple[str, bool] | None = None
        self.pending_record: str | None = None
        self.account: Any = None
        self.call_factory: Any = None
        self.running = True
        self.state_names = {
            pj.PJSIP_INV_STATE_NULL: "NULL", pj.PJSIP_INV_STATE_CALLING: "CALLING",
            pj.PJSIP_INV_STATE_INCOMING: "INCOMING", pj.PJSIP_INV_STATE_EARLY: "EARLY",
            pj.PJSIP_INV_STATE_CONNECTING: "CONNECTING", pj.PJSIP_INV_STATE_CONFIRMED: "CONFIRMED",
            pj.PJSIP_INV_STATE_DISCONNECTED: "DISCONNECTED",
        }
        self.media_names = {
            pj.PJSUA_CALL_MEDIA_NONE: "none", pj.PJSUA_CALL_MEDIA_ACTIVE: "active",
            pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "local_hold",
            pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "remote_hold", pj.PJSUA_CALL_MEDIA_ERROR: "error",
        }

    def emit(self, obj: dict[str, Any]) -> None:
        """Write one JSON line to the driver."""
        self.out.write(json.dumps(obj) + "\n")
        self.out.flush()

    # -- pjsua2 callbacks (main thread: mainThreadOnly + libHandleEvents) --
    def on_reg_state(self, code: int, active: bool) -> None:
        self.emit({"event": "reg", "code": code, "active": active})

    def number(self, call: Any) -> int:
        """The phone's number for ``call`` (the current call's, for an unknown object)."""
        return int(getattr(call, "no", self.call_no))

    def on_incoming(self, call: Any) -> None:
        if self.call is not None or self.consult is not None:
            prm = self.pj.CallOpParam()
            prm.statusCode = 486
            call.hangup(prm)
            self.dead_calls.append(call)
            return
        self.call = call
        self.call_no += 1
        call.no = self.call_no
        info = call.getInfo()
        self.emit({"event": "incoming", "call": self.call_no, "from": info.remoteUri})
        prm = self.pj.CallOpParam()
        prm.statusCode = 200 if self.args.auto_answer else 180
        call.answer(prm)

    def on_call_state(self, call: Any) -> None:
        info = call.getInfo()
        state = self.state_names.get(info.state, str(info.state))
        self.emit({"event": "state", "call": self.number(call), "state": state,
                   "code": int(info.lastStatusCode), "reason": info.lastReason})
        if info.state != self.pj.PJSIP_INV_STATE_DISCONNECTED:
            return
        if call is self.call:
            self.drop_media()
            self.dead_calls.append(call)
            self.call = None
        elif call is self.consult:
            self.dead_calls.append(call)
            self.consult = None

    def on_media_state(self, call: Any) -> None:
        info = call.getInfo()
        for i, mi in enumerate(info.media):
            if mi.type != self.pj.PJMEDIA_TYPE_AUDIO:
                continue
            # Every change, hold included (ours: local_hold, a=sendonly; theirs: remote_hold).
            status = self.media_names.get(mi.status, str(mi.status))
            self.emit({"event": "media_state", "call": self.number(call), "status": status})
            if mi.status != self.pj.PJSUA_CALL_MEDIA_ACTIVE or call is not self.call:
                return
            self.media = call.getAudioMedia(i)
            # A re-INVITE (unhold) gives the call a new conference port: reconnect what
            # was playing into it and recording from it, or both directions fall silent.
            for player in self.players:
                player.startTransmit(self.media)
            if self.recorder is not None:
                self.media.startTransmit(self.recorder)
            self.emit({"event": "media", "call": self.number(call), "active": True})
            if self.pending_record is not None:
                self._start_record(self.pending_record)
            if self.pending_play is not None:
                self._start_play(*self.pending_play)
            return

    def on_dtmf(self, call: Any, digit: str) -> None:
        self.emit({"event": "dtmf", "call": self.number(call), "digit": digit})

    def on_transfer_status(self, call: Any, code: int, final: bool) -> None:
        """A NOTIFY about our REFER; like a desk phone, hang up once the transfer succeeded."""
        self.emit({"event": "transfer", "call": self.number(call), "code": code,
                   "final": final})
        if final and 200 <= code < 300 and call is self.call:
            call.hangup(self.op(0))

    # -- requests --
    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        cmd = req.get("cmd")
        if cmd == "dial":
            if self.call is not None:
                raise RuntimeError("a call is already in progress")
            self.call = self._make_call(str(req["ext"]))
            return {"call": self.call_no}
        if cmd == "consult":
            # Attended transfer, step 1: a second call while the first one is (usually) held.
            self._require_call()
            if self.consult is not None:
                raise RuntimeError("a consultation call is already in progress")
            self.consult = self._make_call(str(req["ext"]))
            return {"call": self.consult.no}
        if cmd == "xfer_replaces":
            # Step 2: REFER the first call's peer to the consulted party, Refer-To with
            # Replaces (RFC 3891); Asterisk 22's res_pjsip_refer raises AttendedTransfer.
            if self.consult is None:
                raise RuntimeError("no consultation call")
            self._require_call().xferReplaces(self.consult, self.pj.CallOpParam(True))
            return {"call": self.number(self.call), "consult": self.consult.no}
        if cmd == "answer":
            self._require_call().answer(self.op(200))
            return {"call": self.number(self.call)}
        if cmd == "hangup":
            if self.call is not None:
                self.call.hangup(self.op(0))
            return {}
        if cmd == "play":
            self.pending_play = (str(req["wav"]), bool(req.get("loop", False)))
            if self.media is not None:
                self._start_play(*self.pending_play)
            return {"started": self.media is not None}
        if cmd == "record":
            self.pending_record = str(req["path"])
            if self.media is not None:
                self._start_record(self.pending_record)
            return {"started": self.media is not None}
        if cmd == "stop_record":
            self.pending_record = None
            self.recorder = None  # deleting the recorder finalises the WAV header
            return {}
        if cmd == "hold":
            # re-INVITE with a=sendonly (pjsua's default hold SDP).
            self._require_call().setHold(self.pj.CallOpParam(True))
            return {"call": self.number(self.call)}
        if cmd == "unhold":
            prm = self.pj.CallOpParam(True)
            prm.opt.flag = self.pj.PJSUA_CALL_UNHOLD  # re-INVITE with a=sendrecv
            self._require_call().reinvite(prm)
            return {"call": self.number(self.call)}
        if cmd == "transfer":
            # Blind transfer: REFER with Refer-To the extension (Asterisk: res_pjsip_refer).
            uri = f"sip:{req['ext']}@127.0.0.1:{self.args.registrar_port}"
            self._require_call().xfer(uri, self.pj.CallOpParam(True))
            return {"call": self.number(self.call)}
        if cmd == "dtmf":
            self._require_call().dialDtmf(str(req["digits"]))
            return {}
        if cmd == "quit":
            self.running = False
            return {}
        if cmd == "ping":
            return {"call": self.call_no, "in_call": self.call is not None,
                    "consulting": self.consult is not None}
        raise ValueError(f"unknown command {cmd!r}")

    def _make_call(self, ext: str) -> Any:
        call = self.call_factory(self.account)
        self.call_no += 1
        call.no = self.call_no
        call.makeCall(f"sip:{ext}@127.0.0.1:{self.args.registrar_port}",
                      self.pj.CallOpParam(True))
        return call

    def _require_call(self) -> Any:
        if self.call is None:
            raise RuntimeError("no call")
        return self.call

    def op(self, code: int) -> Any:
        """Return a CallOpParam with SIP status ``code``."""
        prm = self.pj.CallOpParam()
        prm.statusCode = code
        return prm

    def _start_play(self, wav: str, loop: bool) -> None:
        player = self.pj.AudioMediaPlayer()
        player.createPlayer(wav, 0 if loop else self.pj.PJMEDIA_FILE_NO_LOOP)
        player.startTransmit(self.media)
        # The bridge reads a port only while it has a listener: the (null) sound device keeps
        # the WAV playing on its own clock while the call's port is gone (hold).
        player.startTransmit(self.pj.Endpoint.instance().audDevManager().getPlaybackDevMedia())
        self.players.append(player)
        self.pending_play = None
        self.emit({"event": "playing", "call": self.number(self.call), "wav": wav})

    def _start_record(self, path: str) -> None:
        recorder = self.pj.AudioMediaRecorder()
        recorder.createRecorder(path)
        self.media.startTransmit(recorder)
        # ...and writes a port only while it has a source: the null device's silence keeps
        # the recording's timeline going while the call's port is gone (hold).
        self.pj.Endpoint.instance().audDevManager().getCaptureDevMedia().startTransmit(recorder)
        self.recorder = recorder
        self.pending_record = None
        self.emit({"event": "recording", "call": self.number(self.call), "path": path})

    def drop_media(self) -> None:
        """Release players and recorder (the recorder's WAV header is written on release)."""
        self.media = None
        self.players = []
        self.recorder = None


def _build_classes(pj: Any, worker: Worker) -> tuple[Any, Any]:
    class PhoneCall(pj.Call):  # type: ignore[misc]
        def onCallState(self, prm: Any) -> None:
            worker.on_call_state(self)

        def onCallMediaState(self, prm: Any) -> None:
            worker.on_media_state(self)

        def onDtmfDigit(self, prm: Any) -> None:
            worker.on_dtmf(self, prm.digit)

        def onCallTransferStatus(self, prm: Any) -> None:
            worker.on_transfer_status(self, int(prm.statusCode), bool(prm.finalNotify))

    class PhoneAccount(pj.Account):  # type: ignore[misc]
        def onRegState(self, prm: Any) -> None:
            worker.on_reg_state(int(prm.code), self.getInfo().regIsActive)

        def onIncomingCall(self, prm: Any) -> None:
            worker.on_incoming(PhoneCall(self, prm.callId))

    return PhoneCall, PhoneAccount


def main(argv: list[str] | None = None) -> int:
    """Run the phone until ``quit`` or stdin closes; return the exit status."""
    parser = argparse.ArgumentParser(prog="phone_worker")
    parser.add_argument("--name", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--registrar-port", type=int, required=True)
    parser.add_argument("--sip-port", type=int, required=True)
    parser.add_argument("--rtp-port", type=int, required=True)
    parser.add_argument("--auto-answer", action="store_true")
    args = parser.parse_args(argv)
    # stdout is the protocol channel: move fd 1 (where pjsua logs) onto stderr first.
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    import pjsua2 as pj

    worker = Worker(pj, args, out)
    call_cls, account_cls = _build_classes(pj, worker)
    worker.call_factory = call_cls
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.userAgent = f"edgeqa-softphone/{args.name}"
    cfg.logConfig.level = 3
    cfg.logConfig.consoleLevel = 3
    cfg.medConfig.clockRate = WAV_CLOCK_RATE_HZ
    cfg.medConfig.sndClockRate = WAV_CLOCK_RATE_HZ
    cfg.medConfig.noVad = True
    cfg.medConfig.ecTailLen = 0
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = args.sip_port
    tcfg.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{args.name}@127.0.0.1"
    acfg.regConfig.registrarUri = f"sip:127.0.0.1:{args.registrar_port}"
    acfg.regConfig.timeoutSec = 300
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", args.name, 0, args.password))
    acfg.mediaConfig.transportConfig.port = args.rtp_port
    acfg.mediaConfig.transportConfig.portRange = 10
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    account = account_cls()
    account.create(acfg)
    worker.account = account
    worker.emit({"event": "ready", "name": args.name})
    try:
        _loop(ep, worker)
    finally:
        _shutdown(ep, worker)
    return 0


def _loop(ep: Any, worker: Worker) -> None:
    fd = sys.stdin.fileno()
    buf = b""
    while worker.running:
        ep.libHandleEvents(HANDLE_EVENTS_MS)
        worker.dead_calls.clear()
        readable, _, _ = select.select([fd], [], [], 0)
        if not readable:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return  # the driver went away
        buf += chunk
        if len(buf) > MAX_LINE_BYTES and b"\n" not in buf:
            worker.emit({"event": "error", "error": f"request over {MAX_LINE_BYTES} bytes"})
            return
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            _serve(worker, line)


def _serve(worker: Worker, line: bytes) -> None:
    try:
        req = json.loads(line)
    except ValueError:
        worker.emit({"event": "error", "error": "bad JSON request"})
        return
    try:
        result = worker.handle(req)
        worker.emit({"reply": req.get("id"), "ok": True, **result})
    except Exception as exc:  # reported to the driver, which raises it there
        worker.emit({"reply": req.get("id"), "ok": False, "error": f"{type(exc).__name__}: {exc}"})


def _shutdown(ep: Any, worker: Worker) -> None:
    for call in (worker.call, worker.consult):
        if call is not None:
            try:
                call.hangup(worker.op(0))
            except Exception:
                pass
    deadline = time.monotonic() + 1.0
    while (worker.call or worker.consult) is not None and time.monotonic() < deadline:
        ep.libHandleEvents(HANDLE_EVENTS_MS)
    worker.drop_media()
    worker.call = None
    worker.consult = None
    worker.dead_calls.clear()
    if worker.account is not None:
        worker.account.shutdown()
        worker.account = None
    ep.libDestroy()


if __name__ == "__main__":
    sys.exit(main())

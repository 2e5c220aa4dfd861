"""The ``route`` handler behind the real FastAGI server, with a FAKE Asterisk on the socket
(edgeqa.sandbox.agipeer): the one EXEC MSet it sends, a history lookup late or failed, an
Asterisk that never answers, a hang-up, a caller ID that is not a number; every decision
published (route.decided, valid against its schema) and counted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edgeqa.agi import AgiLimits, AgiServer
from edgeqa.route.config import RouteConfig
from edgeqa.route.history import HistoryReader, project
from edgeqa.route.model import MemberView, PastCall
from edgeqa.route.service import RouteService
from edgeqa.sandbox.agipeer import FakeAsteriskAgi, env_bytes
from edgeqa.store import Event, EventLike, Store
from tests.support.schemas import assert_valid

NOW = 1_800_000_000.0
CFG = RouteConfig(vip_numbers=frozenset({"5551001"}), deadline_ms=50)
GOOD = PastCall("old", NOW - 3600.0, "PJSIP/agent2", "support", 0.0, 0.0, False, True)


class History:
    """A Lookup double: returns ``rows``, or waits forever, or fails."""

    def __init__(self, rows: list[PastCall] | None = None, mode: str = "rows") -> None:
        self.rows = rows or []
        self.mode = mode
        self.asked: list[tuple[str, float, int]] = []

    async def lookup(self, caller: str, since: float, limit: int) -> list[PastCall]:
        self.asked.append((caller, since, limit))
        if self.mode == "stuck":
            await asyncio.Event().wait()
        if self.mode == "broken":
            raise OSError("disk I/O error")
        return self.rows


class Published:
    def __init__(self) -> None:
        self.events: list[EventLike] = []

    def __call__(self, events: Iterable[EventLike]) -> None:
        self.events.extend(events)


async def _serve(route: RouteService) -> AgiServer:
    server = AgiServer(route.routes(), limits=AgiLimits(command_timeout_s=2.0))  # type: ignore[arg-type]
    await server.start("127.0.0.1", 0)
    return server


def _service(history: Any, published: Published, cfg: RouteConfig = CFG) -> RouteService:
    return RouteService(cfg, history, published,
                        lambda q, a: MemberView(2, True) if q == "support" else None,
                        wall=lambda: NOW)


async def _call(port: int, caller: str, args: tuple[str, ...] = ("support", "0"),
                answer: str | None = "200 result=0") -> tuple[str | None, bytes]:
    async with FakeAsteriskAgi(port) as peer:
        await peer.send(env_bytes("route", args, channel="PJSIP/customer1-00000007",
                                  uniqueid="1800000000.7", extra={"agi_callerid": caller}))
        line = await peer.command()
        if answer is not None:
            await peer.reply(answer)
        return line, await peer.rest()


async def test_one_mset_with_the_decision_then_the_session_ends() -> None:
    published, history = Published(), History([GOOD])
    route = _service(history, published)
    server = await _serve(route)
    assert server.address is not None
    try:
        line, rest = await _call(server.address[1], "5551001")
        assert line == ('EXEC "MSet" "QUEUE_PRIO=10,ROUTE_QUEUE=support,'
                        'ROUTE_AGENT=PJSIP/agent2,ROUTE_PENALTY=2,ROUTE_OFFER_S=8,'
                        'ROUTE_REASON=vip+repeat+prefer"')
        assert rest == b""  # the end of the script: AGISTATUS=SUCCESS
        line, _ = await _call(server.address[1], "5559999", ("support", "3"))
        assert line is not None and line.startswith('EXEC "MSet" "QUEUE_PRIO=5,')  # repeat
    finally:
        await server.stop()
    assert history.asked[0] == ("5551001", NOW - 168 * 3600.0, CFG.history_rows)
    assert_valid(published.events)  # type: ignore[arg-type]
    first = published.events[0]
    assert first.type == "route.decided"
    assert {k: first.data[k] for k in ("call_id", "caller", "prio", "agent", "reasons",
                                       "history", "set")} == {
        "call_id": "1800000000.7", "caller": "5551001", "prio": 10, "agent": "PJSIP/agent2",
        "reasons": ["vip", "repeat", "prefer"], "history": "ok", "set": True}
    assert route.health() == {"decided": 2, "by_rule": {"vip": 1, "repeat": 2, "prefer": 2},
                              "history": {"ok": 2}, "not_set": 0}


async def test_a_late_or_failed_lookup_still_answers_from_config_alone() -> None:
    for mode in ("stuck", "broken"):
        published = Published()
        server = await _serve(_service(History([GOOD], mode), published))
        assert server.address is not None
        try:
            line, rest = await _call(server.address[1], "5551001")
        finally:
            await server.stop()
        assert line == ('EXEC "MSet" "QUEUE_PRIO=10,ROUTE_QUEUE=support,ROUTE_AGENT=,'
                        'ROUTE_PENALTY=,ROUTE_OFFER_S=0,ROUTE_REASON=vip"'), mode
        assert rest == b""
        assert published.events[0].data["history"] == {"stuck": "late",
                                                       "broken": "failed"}[mode]


async def test_asterisk_silent_past_the_deadline_or_gone_ends_the_session() -> None:
    published = Published()
    route = _service(History(), published)
    server = await _serve(route)
    assert server.address is not None
    try:
        _, rest = await _call(server.address[1], "5551001", answer=None)  # never answers
        assert rest == b"FAILURE\n"  # the dialplan keeps its defaults
        _, rest = await _call(server.address[1], "5551001", answer="HANGUP")
        assert rest == b""
    finally:
        await server.stop()
    assert [e.data["set"] for e in published.events] == [False, False]
    assert route.stats.not_set == 2
    assert server.stats.timeouts + server.stats.protocol_errors >= 1


async def test_a_caller_id_that_is_not_a_number_is_never_looked_up_nor_echoed() -> None:
    published, history = Published(), History([GOOD])
    server = await _serve(_service(history, published))
    assert server.address is not None
    try:
        for caller in ('5551001,QUEUE_PRIO=99', "${SHELL(id)}", "anonymous", "5551001\"x"):
            line, _ = await _call(server.address[1], caller, ("support,x", "99999"))
            assert line == ('EXEC "MSet" "QUEUE_PRIO=0,ROUTE_QUEUE=,ROUTE_AGENT=,'
                            'ROUTE_PENALTY=,ROUTE_OFFER_S=0,ROUTE_REASON="'), caller
    finally:
        await server.stop()
    assert history.asked == []
    assert {e.data["history"] for e in published.events} == {"skipped"}
    assert {e.data["caller"] for e in published.events} == {None}


async def test_the_real_reader_on_a_store_that_the_projection_filled(tmp_path: Path) -> None:
    store = Store(tmp_path / "edgeqa.db", projections=(project,))
    await store.open()
    reader = HistoryReader(store.path)
    published = Published()
    server = await _serve(_service(reader, published))
    assert server.address is not None
    try:
        ended = {"call_id": "a", "queue": "support", "agent_interface": "PJSIP/agent2",
                 "agent_name": "Agent Two", "ended_at": NOW - 60,
                 "channels": [{"role": "customer", "caller_id_num": "5557000"}]}
        await store.append([Event("call.ended", NOW - 60, {"call": ended}), Event(
            "call.summary", NOW - 59, {"call_id": "a", "summary": {
                "partial": False, "dead_air": [], "talk_over": [], "alerts": []}})])
        line, _ = await _call(server.address[1], "5557000")
        assert line == ('EXEC "MSet" "QUEUE_PRIO=5,ROUTE_QUEUE=support,'
                        'ROUTE_AGENT=PJSIP/agent2,ROUTE_PENALTY=2,ROUTE_OFFER_S=8,'
                        'ROUTE_REASON=repeat+prefer"')
    finally:
        await server.stop()
        await asyncio.to_thread(reader.close)
        await store.close()


def test_member_view_is_ready_only_when_free_unpaused_and_off_calls() -> None:
    from edgeqa.calls.model import Member, Queue
    from edgeqa.calls.queues import QueueBook
    from edgeqa.route.service import member_view

    book = QueueBook()
    q = book.queues["support"] = Queue("support")
    q.members = {"PJSIP/a1": Member("PJSIP/a1", penalty=1, status=1),
                 "PJSIP/a2": Member("PJSIP/a2", penalty=2, status=1, paused=True),
                 "PJSIP/a3": Member("PJSIP/a3", penalty=3, status=2),
                 "PJSIP/a4": Member("PJSIP/a4", penalty=4, status=1, in_call=True),
                 "PJSIP/a5": Member("PJSIP/a5", penalty=5, status=5)}
    view = member_view(book)
    assert view("support", "PJSIP/a1") == MemberView(1, True)
    assert [view("support", f"PJSIP/a{i}") for i in (2, 3, 4, 5)] == [
        MemberView(2, False), MemberView(3, False), MemberView(4, False), MemberView(5, False)]
    assert view("support", "PJSIP/a9") is None and view("sales", "PJSIP/a1") is None

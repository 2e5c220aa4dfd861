"""AmiCorrelator: responses and list events matched by ActionID, pure."""

from __future__ import annotations

import pytest

from edgeqa.ami.correlator import AmiCorrelator, Completed, Failed
from edgeqa.ami.errors import AmiActionError, AmiOverloadError
from edgeqa.ami.message import AmiMessage


def m(*headers: tuple[str, str]) -> AmiMessage:
    return AmiMessage(tuple(headers))


def test_plain_action_success() -> None:
    c = AmiCorrelator()
    c.begin("a1", "Ping", is_list=False)
    resp = m(("Response", "Success"), ("ActionID", "a1"), ("Ping", "Pong"))
    assert c.receive(resp) == (True, Completed("a1", resp, ()))
    assert c.in_flight == 0


def test_error_response() -> None:
    c = AmiCorrelator()
    c.begin("a1", "Originate", is_list=False)
    consumed, out = c.receive(m(("Response", "Error"), ("ActionID", "a1"), ("Message", "nope")))
    assert consumed
    assert isinstance(out, Failed)
    assert isinstance(out.error, AmiActionError)
    assert (out.error.action, out.error.message) == ("Originate", "nope")


def test_list_action_collects_until_complete() -> None:
    c = AmiCorrelator()
    c.begin("L", "CoreShowChannels", is_list=True)
    resp = m(("Response", "Success"), ("ActionID", "L"), ("EventList", "start"))
    assert c.receive(resp) == (True, None)
    items = [
        m(("Event", "CoreShowChannel"), ("ActionID", "L"), ("Channel", f"c{i}")) for i in range(3)
    ]
    other = m(("Event", "Newchannel"), ("Channel", "x"))
    assert c.receive(items[0]) == (True, None)
    assert c.receive(other) == (False, None)
    assert c.receive(items[1]) == (True, None)
    assert c.receive(items[2]) == (True, None)
    done = m(
        ("Event", "CoreShowChannelsComplete"),
        ("ActionID", "L"),
        ("EventList", "Complete"),
        ("ListItems", "3"),
    )
    assert c.receive(done) == (True, Completed("L", resp, tuple(items)))
    assert c.in_flight == 0


def test_list_cancelled_and_cap() -> None:
    c = AmiCorrelator(max_list_events=2)
    c.begin("L", "QueueStatus", is_list=True)
    c.receive(m(("Response", "Success"), ("ActionID", "L")))
    c.receive(m(("Event", "QueueMember"), ("ActionID", "L")))
    c.receive(m(("Event", "QueueMember"), ("ActionID", "L")))
    consumed, out = c.receive(m(("Event", "QueueMember"), ("ActionID", "L")))
    assert consumed and isinstance(out, Failed) and isinstance(out.error, AmiOverloadError)
    assert c.in_flight == 0
    c.begin("K", "QueueStatus", is_list=True)
    c.receive(m(("Response", "Success"), ("ActionID", "K")))
    consumed, out = c.receive(m(("Event", "X"), ("ActionID", "K"), ("EventList", "Cancelled")))
    assert isinstance(out, Failed) and isinstance(out.error, AmiActionError)


def test_in_flight_cap_and_duplicates() -> None:
    c = AmiCorrelator(max_in_flight=2)
    c.begin("a", "Ping", is_list=False)
    with pytest.raises(ValueError):
        c.begin("a", "Ping", is_list=False)
    c.begin("b", "Ping", is_list=False)
    with pytest.raises(AmiOverloadError):
        c.begin("c", "Ping", is_list=False)
    assert sorted(c.abandon()) == ["a", "b"]
    assert c.in_flight == 0


def test_forgotten_and_unknown_responses_are_swallowed() -> None:
    c = AmiCorrelator()
    c.begin("a", "Ping", is_list=False)
    c.forget("a")
    assert c.receive(m(("Response", "Success"), ("ActionID", "a"))) == (True, None)
    assert c.receive(m(("Response", "Success"))) == (True, None)


def test_events_with_foreign_action_id_are_plain_events() -> None:
    c = AmiCorrelator()
    c.begin("o", "Originate", is_list=False)
    assert c.receive(m(("Event", "OriginateResponse"), ("ActionID", "o"))) == (False, None)
    c.begin("L", "CoreShowChannels", is_list=True)  # no response yet: events are not items
    assert c.receive(m(("Event", "CoreShowChannel"), ("ActionID", "L"))) == (False, None)

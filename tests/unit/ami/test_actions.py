"""encode_action and the value checks: exact bytes out, injection attempts rejected, not cleaned."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeqa.ami.actions import (
    MAX_ACTION_HEADERS,
    MAX_ACTION_LINE_BYTES,
    check_name,
    normalise_headers,
    variable_header,
)
from edgeqa.ami.errors import AmiInjectionError
from edgeqa.ami.protocol import AmiCodec, encode_action


def _forbidden(char: str) -> bool:
    """C0, DEL, C1 (Unicode category Cc) or a surrogate (Cs): never sent."""
    return unicodedata.category(char) in ("Cc", "Cs")


def test_encode_action_exact_bytes() -> None:
    data = encode_action(
        "Originate", [("Channel", "Local/tally@sandbox-test"), ("Async", "")], "a-1"
    )
    assert data == (
        b"Action: Originate\r\nActionID: a-1\r\nChannel: Local/tally@sandbox-test\r\n"
        b"Async: \r\n\r\n"
    )


def test_encode_action_utf8_and_duplicates() -> None:
    data = encode_action("Originate", [("Variable", "A=é"), ("Variable", "B=2")], "x")
    assert (
        data == b"Action: Originate\r\nActionID: x\r\nVariable: A=\xc3\xa9\r\nVariable: B=2\r\n\r\n"
    )


@pytest.mark.parametrize(
    "value",
    ["x\r\nAction: Hangup", "x\nChannel: PJSIP/boss", "x\r", "\n", "a\x00b", "Events: on\r\n\r\n"],
)
def test_injection_in_value_rejected(value: str) -> None:
    with pytest.raises(AmiInjectionError, match="rejected"):
        encode_action("Ping", [("Data", value)], "id")


@pytest.mark.parametrize("name", ["Chan\r\nnel", "Chan:nel", "Chan nel", "", "Ch\x00", "Ä"])
def test_bad_names_rejected(name: str) -> None:
    with pytest.raises(AmiInjectionError):
        encode_action("Ping", [(name, "v")], "id")
    with pytest.raises(AmiInjectionError):
        encode_action(name, [], "id")


def test_action_id_checked() -> None:
    with pytest.raises(AmiInjectionError):
        encode_action("Ping", [], "id\r\nAction: Hangup")


@pytest.mark.parametrize("name", ["Action", "actionid", "ACTIONID"])
def test_reserved_headers_rejected(name: str) -> None:
    with pytest.raises(AmiInjectionError, match="set by the client"):
        encode_action("Ping", [(name, "x")], "id")
    with pytest.raises(AmiInjectionError, match="set by the client"):
        normalise_headers([(name, "x")])


def test_line_length_limit() -> None:
    fits = "v" * (MAX_ACTION_LINE_BYTES - len("Data: \r\n"))
    encode_action("Ping", [("Data", fits)], "id")
    with pytest.raises(AmiInjectionError, match="would split it"):
        encode_action("Ping", [("Data", fits + "v")], "id")
    with pytest.raises(AmiInjectionError, match="would split it"):
        encode_action("Ping", [("Data", "é" * (MAX_ACTION_LINE_BYTES // 2))], "id")


def test_header_count_limit() -> None:
    encode_action("Ping", [("H", "v")] * (MAX_ACTION_HEADERS - 2), "id")
    with pytest.raises(AmiInjectionError, match="exceed"):
        encode_action("Ping", [("H", "v")] * (MAX_ACTION_HEADERS - 1), "id")


def test_normalise_headers_mapping_and_pairs() -> None:
    assert normalise_headers({"Channel": "PJSIP/a", "Async": "true"}) == (
        ("Channel", "PJSIP/a"),
        ("Async", "true"),
    )
    assert normalise_headers([("V", "1"), ("V", "2")]) == (("V", "1"), ("V", "2"))
    with pytest.raises(AmiInjectionError, match="pair"):
        normalise_headers([("a", "b", "c")])  # type: ignore[list-item]
    with pytest.raises(AmiInjectionError, match="must be str"):
        normalise_headers({"Timeout": 5})  # type: ignore[dict-item]


def test_error_messages_never_contain_the_value() -> None:
    secret = "hunter2\r\nAction: Logoff"
    with pytest.raises(AmiInjectionError) as info:
        encode_action("Login", [("Secret", secret)], "id")
    assert "hunter2" not in str(info.value)


def test_variable_header() -> None:
    assert variable_header("TALLY_ID", "abc-1") == ("Variable", "TALLY_ID=abc-1")
    assert variable_header("__INHERIT", "") == ("Variable", "__INHERIT=")
    for bad_value in ["a,B=2", 'a"b', "a\\b", "a\nb"]:
        with pytest.raises(AmiInjectionError):
            variable_header("X", bad_value)
    for bad_name in ["", "1X", "A=B", "A,B", "A B", "___X"]:
        with pytest.raises(AmiInjectionError):
            variable_header(bad_name, "v")


def test_check_name_returns_name() -> None:
    assert check_name("ChanVariable(foo)") == "ChanVariable(foo)"


@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True),
            st.text(max_size=40).filter(lambda v: not any(_forbidden(c) for c in v)),
        ).filter(lambda p: p[0].lower() not in ("action", "actionid")),
        max_size=10,
    )
)
def test_encode_then_decode_roundtrip(headers: list[tuple[str, str]]) -> None:
    wire = encode_action("UserEvent", headers, "rt-1")
    (msg,) = AmiCodec().feed(b"Asterisk Call Manager/11.0.0\r\n" + wire)
    assert msg.headers == (("Action", "UserEvent"), ("ActionID", "rt-1"), *headers)


@given(st.text(max_size=30))
def test_values_with_line_breaks_always_rejected(value: str) -> None:
    if any(_forbidden(c) for c in value):
        with pytest.raises(AmiInjectionError):
            encode_action("Ping", [("Data", value)], "id")
    else:
        assert encode_action("Ping", [("Data", value)], "id").count(b"\r\n") == 4

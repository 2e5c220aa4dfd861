"""AmiClient without a socket: offline behaviour, validation order, error classification."""

from __future__ import annotations

import asyncio

import pytest

from edgeqa.ami.client import AmiClient, is_retryable
from edgeqa.ami.errors import (
    AmiActionError,
    AmiAuthenticationError,
    AmiDisconnectedError,
    AmiInjectionError,
    AmiNotConnectedError,
    AmiProtocolError,
    AmiTimeoutError,
)


def _client() -> AmiClient:
    return AmiClient("127.0.0.1", 9, "edgeqa", "s3cret", on_message=lambda m: None)


async def test_send_while_disconnected_fails_immediately() -> None:
    client = _client()
    with pytest.raises(AmiNotConnectedError, match="not sent"):
        await client.send_action("Ping")
    with pytest.raises(AmiNotConnectedError):
        await client.send_list_action("CoreShowChannels")
    assert not client.connected
    assert isinstance(AmiNotConnectedError("x"), AmiDisconnectedError)


async def test_injection_rejected_before_anything_else() -> None:
    client = _client()
    with pytest.raises(AmiInjectionError):
        await client.send_action("Originate", {"Channel": "PJSIP/a\r\nAction: Hangup"})
    with pytest.raises(AmiInjectionError):
        await client.send_action("Ping\r\nAction: Logoff")
    with pytest.raises(AmiInjectionError):
        await client.send_action("Ping", [("ActionID", "mine")])


async def test_wait_connected_times_out() -> None:
    client = _client()
    with pytest.raises(AmiTimeoutError):
        await client.wait_connected(0.05)
    with pytest.raises(TimeoutError):  # AmiTimeoutError is a TimeoutError too
        await client.wait_connected(0.01)


async def test_wait_connected_after_close_and_close_idempotent() -> None:
    client = _client()
    await client.close()
    await client.close()
    with pytest.raises(AmiNotConnectedError):
        await client.wait_connected(1.0)
    await asyncio.wait_for(client.run(), 1.0)  # returns at once: already closed


def test_bad_backoff_refused() -> None:
    with pytest.raises(ValueError):
        AmiClient("h", 1, "u", "s", on_message=lambda m: None, backoff_initial_s=0)


@pytest.mark.parametrize(
    ("exc", "retry"),
    [
        (ConnectionRefusedError(), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (AmiTimeoutError("x"), True),
        (AmiDisconnectedError("x"), True),
        (AmiProtocolError("x"), True),
        (OSError("unreachable"), True),
        (AmiAuthenticationError("x"), False),
        (AmiActionError("Ping", "x"), False),
        (KeyError("bug"), False),
    ],
)
def test_is_retryable(exc: BaseException, retry: bool) -> None:
    assert is_retryable(exc) is retry

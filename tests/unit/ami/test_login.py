"""The sans-I/O half of the MD5 challenge login: the key, the nonce check, the headers."""

from __future__ import annotations

import pytest

from edgeqa.ami.errors import AmiProtocolError
from edgeqa.ami.login import MAX_NONCE_CHARS, challenge_nonce, login_headers, md5_key
from edgeqa.ami.message import AmiMessage


def test_key_is_lower_hex_md5_of_nonce_then_secret_bytes() -> None:
    # md5(b"1804289383" + "s3cré t".encode()) computed once by hand with hashlib; manager.c
    # compares with strcmp against "%2.2x" digits, so lower case matters.
    assert md5_key("1804289383", "s3cr\u00e9t") == "415f6f4c065e7c004dfa7219340e158c"


def test_login_headers_carry_a_key_and_never_the_secret() -> None:
    headers = dict(login_headers("edgeqa", "hunter2-secret", "42"))
    assert headers == {"AuthType": "MD5", "Username": "edgeqa",
                       "Key": md5_key("42", "hunter2-secret"), "Events": "on"}
    assert "hunter2-secret" not in repr(headers)


@pytest.mark.parametrize("nonce", [None, "", "has space", "x" * (MAX_NONCE_CHARS + 1), "n\u00e9"])
def test_a_challenge_without_a_usable_nonce_is_a_protocol_error(nonce: str | None) -> None:
    headers = [("Response", "Success")] + ([] if nonce is None else [("Challenge", nonce)])
    with pytest.raises(AmiProtocolError, match="nonce"):
        challenge_nonce(AmiMessage(tuple(headers)))


def test_challenge_nonce_returned_as_sent() -> None:
    msg = AmiMessage((("Response", "Success"), ("ActionID", "a"), ("Challenge", "1804289383")))
    assert challenge_nonce(msg) == "1804289383"

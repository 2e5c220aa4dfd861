"""AMI login by challenge-response (``Challenge`` + ``Login AuthType: MD5``): the secret never
goes on the wire. Sans-I/O: headers in, headers out.

Checked against Asterisk 22 ``main/manager.c`` (docs/asterisk.md#ami-login):
- ``Action: Challenge`` / ``AuthType: MD5`` is allowed before login and answers
  ``Response: Success`` with ``Challenge: <nonce>`` (the decimal text of one ``ast_random()``,
  kept for the whole session); any other AuthType answers ``Message: Must specify AuthType``.
- ``Action: Login`` / ``AuthType: MD5`` / ``Username`` / ``Key``: Asterisk compares ``Key``
  (``strcmp``, so case matters) with the lower-case hex MD5 of the nonce's bytes followed by the
  secret's bytes as written in manager.conf. A mismatch answers, after a one-second sleep,
  ``Response: Error`` / ``Message: Authentication failed`` and closes the session.

There is no plaintext fallback: a peer that refuses the challenge is not trusted with the secret
(a fallback is exactly what an impostor on the AMI port would ask for).
"""

from __future__ import annotations

import hashlib
import re

from edgeqa.ami.errors import AmiProtocolError
from edgeqa.ami.message import AmiMessage

__all__ = ["CHALLENGE_HEADERS", "MAX_NONCE_CHARS", "challenge_nonce", "login_headers", "md5_key"]

#: The headers of ``Action: Challenge``.
CHALLENGE_HEADERS: tuple[tuple[str, str], ...] = (("AuthType", "MD5"),)
#: Asterisk's nonce is ``%ld`` of one random long (at most 20 characters); a longer one is not
#: from Asterisk.
MAX_NONCE_CHARS = 64
_NONCE = re.compile(rf"[\x21-\x7e]{{1,{MAX_NONCE_CHARS}}}")


def challenge_nonce(response: AmiMessage) -> str:
    """Return the nonce of a ``Challenge`` response; raise AmiProtocolError if it has none."""
    nonce = response.get("Challenge")
    if nonce is None or _NONCE.fullmatch(nonce) is None:
        shown = "none" if nonce is None else f"{len(nonce)} characters, not 1-{MAX_NONCE_CHARS} " \
                                              "visible ASCII"
        raise AmiProtocolError(f"AMI Challenge answered without a usable nonce ({shown})")
    return nonce


def md5_key(nonce: str, secret: str) -> str:
    """Return the ``Key`` of an MD5 login: lower-case hex MD5 of nonce bytes + secret bytes."""
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(nonce.encode("ascii"))
    digest.update(secret.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def login_headers(username: str, secret: str, nonce: str) -> tuple[tuple[str, str], ...]:
    """Return the headers of ``Action: Login`` answering ``nonce`` (no ``Secret`` header)."""
    return (("AuthType", "MD5"), ("Username", username), ("Key", md5_key(nonce, secret)),
            ("Events", "on"))

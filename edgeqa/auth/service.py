"""Tokens and browser sessions on the store: issue, list, revoke, authenticate, log in and out.

Every change is audited before it is acknowledged (token.added, token.revoked, session.login,
session.failed).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from edgeqa.audit.model import (
    SESSION_FAILED,
    SESSION_LOGIN,
    TOKEN_ADDED,
    TOKEN_REVOKED,
    Actor,
    AuditEntry,
)
from edgeqa.auth import db
from edgeqa.auth.config import AuthConfig
from edgeqa.auth.model import LOCAL_TOKEN_NAME, TOKEN_NAME, Principal, Scope
from edgeqa.auth.throttle import LoginThrottle
from edgeqa.runtime.private import PRIVATE_FILE_MODE

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Bytes of randomness in a token, a session and a CSRF secret (256 bits).
SECRET_BYTES = 32
#: Every token secret starts with this, so that a leaked one is easy to recognise.
TOKEN_PREFIX = "eqa_"
#: Longest secret we hash: anything longer is not one of ours (no work for junk).
SECRET_MAX_CHARS = 128
#: The file, beside the store, holding the daemon's local admin token (mode 0600).
LOCAL_TOKEN_FILE = "local.token"
SYSTEM_ACTOR = Actor("system", "daemon")


class TokenError(Exception):
    """A token cannot be added or revoked (the message says why)."""


class TooManyLogins(Exception):
    """An address failed to log in too often lately (the message says so)."""


class AuthStore(Protocol):
    """The store as access control uses it (edgeqa.store.Store)."""

    async def run(self, op: Callable[[sqlite3.Connection], T]) -> T: ...
    async def put_audit(self, entry: AuditEntry) -> int: ...
    async def recordings(self, **filters: Any) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class Login:
    """A new browser session: the cookie's secret and the CSRF token (both shown once)."""

    principal: Principal
    cookie: str
    csrf: str
    expires_at: float


def new_secret() -> str:
    """A fresh token secret: the prefix and 256 random bits, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def _plausible(secret: str) -> bool:
    return 0 < len(secret) <= SECRET_MAX_CHARS and secret.isascii() and secret.isprintable()


async def add_token(store: AuthStore, name: str, role: str, scope: Scope, actor: Actor,
                    at: float, *, local: bool = False) -> tuple[int, str]:
    """Create a token; return its id and its secret (shown once, never stored)."""
    if not TOKEN_NAME.fullmatch(name):
        raise TokenError(f"token name {name!r} must be 1-64 letters, digits, '_', '.', '@' "
                         "or '-', starting with a letter or digit")
    if name == LOCAL_TOKEN_NAME and not local:
        raise TokenError(f"the name {LOCAL_TOKEN_NAME!r} is the daemon's own token")
    secret = new_secret()
    await store.put_audit(AuditEntry(at, actor, TOKEN_ADDED, None, {
        "name": name, "role": role, "scope": scope.describe()}))
    token_id = await store.run(lambda c: db.add_token(c, name, role, scope, db.digest(secret),
                                                      at))
    return token_id, secret


async def revoke_token(store: AuthStore, token_id: int, actor: Actor, at: float) -> None:
    """Revoke a live token (its sessions end with it)."""
    live = {row["id"]: row for row in await store.run(db.token_rows)
            if row["revoked_at"] is None}
    if token_id not in live:
        raise TokenError(f"no live token with id {token_id} (see `edgeqa token list`)")
    await store.put_audit(AuditEntry(at, actor, TOKEN_REVOKED, None, {
        "id": token_id, "name": live[token_id]["name"], "role": live[token_id]["role"]}))
    await store.run(lambda c: db.revoke_token(c, token_id, at))


async def issue_local_token(store: AuthStore, path: Path, at: float) -> int:
    """Replace the daemon's local admin token: revoke the previous ones, write the new
    secret to ``path`` (mode 0600, replaced atomically); return its id."""
    for old in await store.run(lambda c: db.live_token_ids(c, LOCAL_TOKEN_NAME)):
        await revoke_token(store, old, SYSTEM_ACTOR, at)
    token_id, secret = await add_token(store, LOCAL_TOKEN_NAME, "admin", Scope(), SYSTEM_ACTOR,
                                       at, local=True)
    try:
        await asyncio.to_thread(_write_private, path, secret + "\n")
    except OSError as exc:
        log.warning("cannot write the local token %s: %s (CLI commands then need "
                    "$EDGEQA_TOKEN)", path, exc.strerror or exc)
    return token_id


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600), replaced atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Authority:
    """Answers "who is this request?" from a bearer token or a session cookie."""

    def __init__(self, store: AuthStore, cfg: AuthConfig) -> None:
        self.store = store
        self.cfg = cfg
        self.throttle = LoginThrottle()

    async def authenticate(self, secret: str) -> Principal | None:
        """The live token with this secret, or None."""
        if not _plausible(secret):
            return None
        secret_hash = db.digest(secret)
        return await self.store.run(lambda c: db.principal_by_hash(c, secret_hash))

    async def login(self, secret: str, now: float, remote: str) -> Login | None:
        """Open a browser session for a live token (audited either way); None if refused.

        Raise TooManyLogins, unaudited, while ``remote`` has failed too often (LoginThrottle).
        """
        if not self.throttle.allows(remote, now):
            raise TooManyLogins(f"too many failed logins from {remote}: wait a minute")
        principal = await self.authenticate(secret)
        if principal is None:
            self.throttle.failed(remote, now)
            await self.store.put_audit(AuditEntry(now, Actor("api", "anonymous"),
                                                  SESSION_FAILED, None, {"remote": remote},
                                                  source=remote))
            return None
        cookie, csrf = secrets.token_urlsafe(SECRET_BYTES), secrets.token_urlsafe(SECRET_BYTES)
        expires = now + self.cfg.session_lifetime_s
        await self.store.put_audit(AuditEntry(now, principal.actor, SESSION_LOGIN, None, {
            "remote": remote, "expires_at": expires}, source=remote))
        await self.store.run(lambda c: db.add_session(c, db.digest(cookie), principal.token_id,
                                                      db.digest(csrf), now, expires))
        return Login(principal, cookie, csrf, expires)

    async def session(self, cookie: str, now: float) -> tuple[Principal, str] | None:
        """The principal of a live session and the hash of its CSRF token, or None."""
        if not _plausible(cookie):
            return None
        cookie_hash = db.digest(cookie)
        return await self.store.run(lambda c: db.session_by_hash(c, cookie_hash, now))

    async def logout(self, cookie: str) -> bool:
        """End a session; False if there was none."""
        cookie_hash = db.digest(cookie)
        return await self.store.run(lambda c: db.end_session(c, cookie_hash))

    async def stored_call(self, call_id: str) -> dict[str, Any] | None:
        """The latest stored state of a call (for one the tracker no longer holds)."""
        return await self.store.run(lambda c: db.stored_call(c, call_id))

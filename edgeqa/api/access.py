"""Access control on every route: who the request is (bearer token or session cookie), and
whether its role and scope allow the route's action (edgeqa.auth.model).

401 (with ``WWW-Authenticate``) when a request is not authenticated, 403 when its role or
scope does not allow it: JSON errors that name no call data. A route with no policy in
POLICIES answers 403 to everyone. The principal is stored as ``request["principal"]``.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from edgeqa.api.errors import Handler, json_error
from edgeqa.api.keys import VIEW_KEY
from edgeqa.auth import db
from edgeqa.auth.model import Action, CallFacts, Principal, call_facts, may, recording_facts
from edgeqa.auth.service import Authority
from edgeqa.runtime.net import is_loopback

log = logging.getLogger(__name__)
# request["principal"] is a plain key on purpose: other middlewares read it by that name.
warnings.filterwarnings("ignore", category=web.NotAppKeyWarning, module=re.escape(__name__))

AUTH_KEY = web.AppKey("auth", Authority)
#: The browser session's cookie, and the header that must repeat its CSRF token.
SESSION_COOKIE = "edgeqa_session"
CSRF_HEADER = "X-CSRF-Token"
#: Methods that change nothing: no CSRF token needed with a cookie.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Credential:
    """What a request authenticated with: a bearer token's or a session cookie's secret."""

    secret: str
    session: bool

    async def still_valid(self, authority: Authority) -> bool:
        """Whether the token is still live (and the session not ended nor expired)."""
        if self.session:
            return await authority.session(self.secret, time.time()) is not None
        return await authority.authenticate(self.secret) is not None


#: The request's credential, for a stream to check again later (edgeqa.api.visible).
CREDENTIAL_KEY = web.RequestKey("edgeqa_credential", Credential)


@dataclass(frozen=True, slots=True)
class Policy:
    """A route's rule: its action (None: public), whether it names a call, and whether
    loopback clients need no token (health only)."""

    action: Action | None
    call: bool = False
    open_on_loopback: bool = False


CALL = "/v1/calls/{call_id}"
#: Every route's policy, by (method, path pattern); HEAD is judged as GET.
POLICIES: Mapping[tuple[str, str], Policy] = {
    ("GET", "/v1/health"): Policy("health", open_on_loopback=True),
    ("GET", "/v1/calls"): Policy("calls.read"),
    ("GET", f"{CALL}/recording"): Policy("recording.download", call=True),
    ("PUT", f"{CALL}/legal-hold"): Policy("legal_hold.change", call=True),
    ("DELETE", f"{CALL}/legal-hold"): Policy("legal_hold.change", call=True),
    ("POST", f"{CALL}/pci/pause"): Policy("pci.change", call=True),
    ("POST", f"{CALL}/pci/resume"): Policy("pci.change", call=True),
    ("GET", "/v1/stream"): Policy("stream.read"),
    ("GET", "/v1/events"): Policy("stream.read"),
    ("POST", "/v1/session"): Policy(None),
    ("DELETE", "/v1/session"): Policy("session.logout"),
    ("GET", "/v1/spy"): Policy("spy.read"),
    ("POST", "/v1/spy"): Policy("spy.change"),
    ("PATCH", "/v1/spy/{spy_id}"): Policy("spy.change"),
    ("DELETE", "/v1/spy/{spy_id}"): Policy("spy.change"),
    ("GET", "/v1/hints"): Policy("hints.read"),  # issue 13
    ("DELETE", "/v1/hints/{hint_id}"): Policy("hints.change"),
}


def principal_of(request: web.Request) -> Principal:
    """The authenticated principal (set by access_control on every non-public route)."""
    principal: Principal = request["principal"]
    return principal


def unauthenticated(message: str) -> web.Response:
    """401 with a JSON error and a Bearer challenge."""
    resp = json_error(401, "unauthenticated", message)
    resp.headers["WWW-Authenticate"] = 'Bearer realm="edgeqa"'
    return resp


def forbidden(message: str) -> web.Response:
    """403 with a JSON error."""
    return json_error(403, "forbidden", message)


async def _who(request: web.Request, authority: Authority) -> Principal | web.Response:
    """The principal of a bearer token or a session cookie, or the 401/403 to answer."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return unauthenticated("use Authorization: Bearer <token>")
        principal = await authority.authenticate(secret.strip())
        if principal is None:
            return unauthenticated("the token is unknown or revoked")
        request[CREDENTIAL_KEY] = Credential(secret.strip(), session=False)
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        return unauthenticated("this route needs a token (Authorization: Bearer <token>) "
                               "or a session (POST /v1/session)")
    found = await authority.session(cookie, time.time())
    if found is None:
        return unauthenticated("the session has expired or was ended: log in again")
    principal, csrf_hash = found
    if request.method not in SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(db.digest(given), csrf_hash):
            return forbidden(f"a session request that changes state needs the {CSRF_HEADER} "
                             "header given at login")
    request[CREDENTIAL_KEY] = Credential(cookie, session=True)
    return principal


async def call_facts_of(request: web.Request, call_id: str,
                        with_recordings: bool) -> CallFacts | None:
    """What the daemon knows of a call for access checks: live, stored, recorded."""
    authority = request.app[AUTH_KEY]
    found: CallFacts | None = None
    snap = request.app[VIEW_KEY].calls_snapshot()
    for call in snap.get("calls", ()):
        if call.get("call_id") == call_id:
            found = call_facts(call)
    stored = await authority.stored_call(call_id)
    if stored is not None:
        found = call_facts(stored) if found is None else found.merged(call_facts(stored))
    if with_recordings:
        rows = await authority.store.recordings(call_id=call_id)
        if rows:
            facts = recording_facts(rows)
            found = facts if found is None else found.merged(facts)
    return found


@web.middleware
async def access_control(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate the request and check its route's policy (see the module docstring)."""
    match = request.match_info
    if match.http_exception is not None:
        return await handler(request)  # 404/405: json_errors answers, naming no data
    method = "GET" if request.method == "HEAD" else request.method
    resource = match.route.resource
    policy = POLICIES.get((method, resource.canonical if resource is not None else ""))
    if policy is None:
        log.error("api: no access policy for %s %s: refused", method, request.path)
        return forbidden("this route has no access policy")
    if policy.action is None or (policy.open_on_loopback and is_loopback(request.remote)):
        return await handler(request)
    authority = request.app[AUTH_KEY]
    who = await _who(request, authority)
    if isinstance(who, web.Response):
        return who
    request["principal"] = who
    facts: CallFacts | None = None
    if policy.call and who.role != "admin":
        facts = await call_facts_of(request, match["call_id"],
                                    policy.action == "recording.download")
    if not may(who, policy.action, facts, authority.cfg.teams):
        what = "this call" if policy.call and who.role in ("supervisor", "agent") else \
            "this route"
        return forbidden(f"the {who.role} role may not use {what}")
    return await handler(request)


def snapshot_for(request: web.Request, snap: Mapping[str, Any]) -> dict[str, Any]:
    """The /v1/calls snapshot as the request's principal may see it."""
    from edgeqa.auth.visibility import filter_snapshot

    return filter_snapshot(principal_of(request), snap, request.app[AUTH_KEY].cfg.teams)

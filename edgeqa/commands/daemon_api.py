"""Commands that ask the running daemon through its HTTP API: where it is, and one request."""

from __future__ import annotations

import argparse
import json
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8765"
TIMEOUT_S = 5.0


class DaemonApiError(Exception):
    """The daemon could not be reached, or answered with an error (the message says which)."""


def add_daemon_args(p: argparse.ArgumentParser) -> None:
    """Add --url and --config (which daemon to ask)."""
    p.add_argument("--url", default=None, help=f"daemon API base URL (default {DEFAULT_URL}, "
                   "or the [api] of --config)")
    p.add_argument("--config", "-c", default=None, metavar="FILE",
                   help="take host and port from this configuration's [api]")


def base_url(args: argparse.Namespace) -> str:
    """The daemon's API base URL from --url, else --config's [api], else the default."""
    if args.url:
        return str(args.url).rstrip("/")
    if args.config:
        import tomllib

        try:
            with open(args.config, "rb") as f:
                api = tomllib.load(f).get("api", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise DaemonApiError(f"cannot read {args.config}: {exc}") from None
        return f"http://{api.get('host', '127.0.0.1')}:{api.get('port', 8765)}"
    return DEFAULT_URL


def request_json(url: str, *, body: Any = None, timeout_s: float = TIMEOUT_S) -> Any:
    """GET ``url`` (POST ``body`` as JSON if given); return the decoded JSON answer.

    Raise DaemonApiError with the daemon's own message for an error status.
    """
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if data is None else "POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", "")
        except (ValueError, AttributeError, OSError):
            message = ""
        raise DaemonApiError(f"{url} answered {exc.code} {exc.reason}"
                             + (f": {message}" if message else "")) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DaemonApiError(f"cannot reach the daemon at {url}: {reason} (is `edgeqa run` "
                             "running?)") from None
    except ValueError as exc:
        raise DaemonApiError(f"{url} answered something that is not JSON: {exc}") from None

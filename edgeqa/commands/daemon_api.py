"""Commands that ask the running daemon through its HTTP API: where it is, with which token,
and one request.

The token (docs/access.md): $EDGEQA_TOKEN, else the file --token-file names, else the
daemon's local admin token (``local.token`` beside the store of --config, or of the default
configuration), which only the daemon's user (and root) can read.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8765"
TIMEOUT_S = 5.0
ENV_TOKEN = "EDGEQA_TOKEN"
#: Where the local token is looked for when no --config is given.
DEFAULT_CONFIG = "/etc/edgeqa/edgeqa.toml"


class DaemonApiError(Exception):
    """The daemon could not be reached, or answered with an error (the message says which)."""


def add_daemon_args(p: argparse.ArgumentParser) -> None:
    """Add --url and --config (which daemon to ask)."""
    p.add_argument("--url", default=None, help=f"daemon API base URL (default {DEFAULT_URL}, "
                   "or the [api] of --config)")
    p.add_argument("--config", "-c", default=None, metavar="FILE",
                   help="take host and port from this configuration's [api]")
    p.add_argument("--token-file", default=None, metavar="FILE",
                   help=f"read the API token from FILE (default: ${ENV_TOKEN}, else the "
                        "daemon's local token beside its store)")


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


def _read_token(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise DaemonApiError(f"cannot read the token file {path}: {reason} (set "
                             f"${ENV_TOKEN} or --token-file; docs/access.md)") from None
    if not text or not text.isascii() or not text.isprintable():
        raise DaemonApiError(f"{path} does not hold a token")
    return text


def local_token_path(config: str) -> Path | None:
    """The daemon's local token file for ``config`` (None if the config cannot be read)."""
    from edgeqa.auth.service import LOCAL_TOKEN_FILE
    from edgeqa.config import ConfigError, load_config

    try:
        cfg = load_config(config, env={"EDGEQA_AMI_SECRET": "-", "EDGEQA_ARI_PASSWORD": "-"})
    except ConfigError:
        return None
    return cfg.store.path.parent / LOCAL_TOKEN_FILE


def token_of(args: argparse.Namespace) -> str | None:
    """The API token to send: $EDGEQA_TOKEN, --token-file, else the local token (if any)."""
    env = os.environ.get(ENV_TOKEN, "").strip()
    if env:
        return env
    if getattr(args, "token_file", None):
        return _read_token(Path(args.token_file))
    config = getattr(args, "config", None) or DEFAULT_CONFIG
    path = local_token_path(config) if Path(config).is_file() else None
    if path is not None and path.exists():
        return _read_token(path)
    return None


def request_json(url: str, *, body: Any = None, timeout_s: float = TIMEOUT_S,
                 token: str | None = None, method: str | None = None) -> Any:
    """GET ``url`` (POST ``body`` as JSON if given; or ``method``) with ``token``; return the
    decoded JSON answer.

    Raise DaemonApiError with the daemon's own message for an error status.
    """
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=headers,
                                 method=method or ("GET" if data is None else "POST"))
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", "")
        except (ValueError, AttributeError, OSError):
            message = ""
        hint = (f" (set ${ENV_TOKEN} or --token-file, or run as the daemon's user: "
                "docs/access.md)") if exc.code == 401 and token is None else ""
        raise DaemonApiError(f"{url} answered {exc.code} {exc.reason}"
                             + (f": {message}" if message else "") + hint) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DaemonApiError(f"cannot reach the daemon at {url}: {reason} (is `edgeqa run` "
                             "running?)") from None
    except ValueError as exc:
        raise DaemonApiError(f"{url} answered something that is not JSON: {exc}") from None

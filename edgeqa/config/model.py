"""Daemon configuration: TOML file <- environment <- command line, as frozen dataclasses."""

from __future__ import annotations

import os
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from edgeqa.agi.config import AgiConfig
from edgeqa.audit.config import AuditConfig
from edgeqa.auth.config import AuthConfig
from edgeqa.config.fields import ConfigError, FieldReader, Secret, find_key_line, shown
from edgeqa.config.files import MAX_CONFIG_BYTES, MAX_SECRET_BYTES, FileProblem, read_text_file
from edgeqa.config.hints import read_hints
from edgeqa.config.origins import parse_host, parse_origin
from edgeqa.config.route import read_route
from edgeqa.config.spy import read_spy
from edgeqa.hints.config import KNOWN_KEYS as HINTS_KEYS
from edgeqa.hints.config import HintsConfig
from edgeqa.live.config import (
    MAX_CALLS_DEFAULT,
    MAX_CALLS_LIMIT,
    SNOOP_FORMATS,
    TAP_MODES,
    LiveConfig,
)
from edgeqa.media.jitter import MAX_DEPTH_PACKETS
from edgeqa.pci.config import PciConfig
from edgeqa.recording.config import RecordingConfig
from edgeqa.route.config import KNOWN_KEYS as ROUTE_KEYS
from edgeqa.route.config import RouteConfig
from edgeqa.runtime.net import is_loopback
from edgeqa.spy.config import KNOWN_KEYS as SPY_KEYS
from edgeqa.spy.config import SpyConfig

__all__ = [
    "AmiConfig",
    "ApiConfig",
    "AriConfig",
    "Config",
    "ConfigError",
    "LiveConfig",
    "LoggingConfig",
    "RecordingConfig",
    "Secret",
    "StoreConfig",
    "TrackerConfig",
    "load_config",
    "parse_config",
    "with_overrides",
]

#: Environment variables that carry secrets (they win over ``*_file`` keys).
ENV_AMI_SECRET = "EDGEQA_AMI_SECRET"
ENV_ARI_PASSWORD = "EDGEQA_ARI_PASSWORD"


@dataclass(frozen=True, slots=True)
class AmiConfig:
    """Where and how to reach the Asterisk Manager Interface."""

    host: str
    port: int
    username: str
    secret: Secret
    connect_timeout_s: float
    ping_interval_s: float
    backoff_initial_s: float
    backoff_max_s: float
    action_timeout_s: float


@dataclass(frozen=True, slots=True)
class AriConfig:
    """Where and how to reach the Asterisk REST Interface (events WebSocket + REST)."""

    url: str
    username: str
    password: Secret
    app: str
    backoff_initial_s: float
    backoff_max_s: float


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """The SQLite store: path, durability and the writer's named limits."""

    path: Path
    synchronous: str
    writer_queue_max_requests: int
    batch_max_events: int
    retention_max_events: int


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """The HTTP API and event stream (loopback by default)."""

    host: str
    port: int
    subscriber_queue_max_events: int
    max_subscribers: int
    replay_page_events: int
    send_timeout_s: float
    sse_keepalive_s: float
    # Cross-site guard and connection bounds (edgeqa.api.guard, edgeqa.api.bounds).
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    header_timeout_s: float = 10.0
    idle_timeout_s: float = 30.0
    max_connections: int = 256
    max_subscribers_per_token: int = 16


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Call tracking: periodic sweep of calls whose hang-up was missed."""

    sweep_interval_s: float
    max_idle_s: float
    intake_queue_max_events: int



@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """Log format (``text`` or ``json``) and level."""

    format: str
    level: str


@dataclass(frozen=True, slots=True)
class Config:
    """The whole daemon configuration; ``source`` is the file it came from (or None)."""

    ami: AmiConfig
    ari: AriConfig
    store: StoreConfig
    api: ApiConfig
    tracker: TrackerConfig
    logging: LoggingConfig
    live: LiveConfig = field(default_factory=lambda: default_live())
    audit: AuditConfig = field(default_factory=AuditConfig)
    recording: RecordingConfig = field(default_factory=lambda: default_recording())
    pci: PciConfig = field(default_factory=PciConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    spy: SpyConfig = field(default_factory=SpyConfig)
    agi: AgiConfig = field(default_factory=AgiConfig)
    route: RouteConfig = field(default_factory=RouteConfig)
    hints: HintsConfig = field(default_factory=HintsConfig)  # issue 13
    source: Path | None = None


#: The [api] keys of the cross-site guard and the connection bounds.
API_EDGE_KEYS = ("allowed_hosts", "allowed_origins", "header_timeout_s", "idle_timeout_s",
                 "max_connections", "max_subscribers_per_token")
_ANY_TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,255}")
_KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "ami": ("host", "port", "username", "secret_file", "connect_timeout_s", "ping_interval_s",
            "backoff_initial_s", "backoff_max_s", "action_timeout_s"),
    "ari": ("url", "username", "password_file", "app", "backoff_initial_s", "backoff_max_s"),
    "store": ("path", "synchronous", "writer_queue_max_requests", "batch_max_events",
              "retention_max_events"),
    "audit": ("signing_key_file",),
    "api": ("host", "port", "subscriber_queue_max_events", "max_subscribers",
            "replay_page_events", "send_timeout_s", "sse_keepalive_s", *API_EDGE_KEYS),
    "tracker": ("sweep_interval_s", "max_idle_s", "intake_queue_max_events"),
    "logging": ("format", "level"),
    "live": ("enabled", "rtp_port", "jitter_depth_packets", "max_calls", "stasis_timeout_s",
             "tick_s", "checkpoint_interval_s", "tap", "capture_port_start", "capture_port_end",
             "snoop_format"),
    "recording": ("enabled", "queues", "exclude_queues", "agents", "exclude_agents",
                  "asterisk_dir", "daemon_dir", "format", "close_timeout_s",
                  "retention_days", "queue_retention_days", "retention_interval_s",
                  "min_free_mb", "min_free_percent", "disk_check_interval_s"),
    "pci": ("max_pause_s", "auto_resume"),
    "auth": ("session_lifetime_s", "cookie_secure", "local_token", "teams"),
    "spy": SPY_KEYS,
    "hints": HINTS_KEYS,  # issue 13
    "agi": ("enabled", "host", "port", "max_sessions", "env_timeout_s", "command_timeout_s",
            "max_line_bytes", "max_env_lines"),
    "route": ROUTE_KEYS,
}
_SECTIONS = tuple(_KNOWN_KEYS)
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_AT_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")
_APP_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: A queue name or an agent (member name such as ``Agent One``, or interface such as
#: ``PJSIP/agent1``): compared with what AMI reports, never sent to Asterisk.
_MEMBER_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,80}")
#: A directory that goes into a MixMonitor option: absolute, and nothing that a dialplan
#: application argument or an AMI header would read as syntax (``,()|^${}``, quotes, spaces,
#: CR/LF). Validated, never cleaned.
_RECORDING_DIR = re.compile(r"/[A-Za-z0-9_./+-]{0,200}")
RECORDING_FORMATS = ("wav", "wav16")
#: (lowest, highest) of numeric keys, inclusive; every number must also be finite. A key not
#: listed gets fields.SECONDS_BOUNDS (``*_s``) or fields.COUNT_BOUNDS (counts).
_BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    "ami": {"connect_timeout_s": (0.001, 300.0), "ping_interval_s": (0.001, 3600.0),
            "backoff_initial_s": (0.001, 3600.0), "backoff_max_s": (0.001, 3600.0),
            "action_timeout_s": (0.001, 3600.0)},
    "ari": {"backoff_initial_s": (0.001, 3600.0), "backoff_max_s": (0.001, 3600.0)},
    "store": {"writer_queue_max_requests": (1, 1_000_000), "batch_max_events": (1, 100_000),
              "retention_max_events": (1, 10**12)},
    "api": {"subscriber_queue_max_events": (1, 1_000_000), "max_subscribers": (1, 10_000),
            "replay_page_events": (1, 100_000), "send_timeout_s": (0.001, 300.0),
            "sse_keepalive_s": (0.001, 3600.0)},
    "tracker": {"sweep_interval_s": (0.001, 86_400.0), "max_idle_s": (0.001, 7 * 86_400.0),
                "intake_queue_max_events": (1, 10_000_000)},
    # The jitter buffer holds at most MAX_DEPTH_PACKETS: a deeper one failed every tapped call.
    "live": {"jitter_depth_packets": (1, MAX_DEPTH_PACKETS), "max_calls": (1, MAX_CALLS_LIMIT),
             "stasis_timeout_s": (0.001, 300.0),
             "checkpoint_interval_s": (0.001, 3600.0)},
    # retention_days down to 0.0001 (8.6 s): what a test of the daemon's own purge needs.
    "recording": {"close_timeout_s": (0.001, 3600.0), "retention_days": (0.0001, 36_500.0),
                  "retention_interval_s": (0.001, 7 * 86_400.0),
                  "disk_check_interval_s": (0.001, 3600.0)},
    "pci": {"max_pause_s": (0.001, 86_400.0)},
    "auth": {"session_lifetime_s": (1.0, 30 * 86_400.0)},
    "spy": {"max_per_agent": (1, 100), "max_total": (1, 1000)},
    "hints": {"max_penalty": (1, 1_000_000), "tick_s": (0.01, 60.0),
              "max_duration_s": (1.0, 7 * 86_400.0), "cooldown_s": (0.001, 7 * 86_400.0)},
    # A line under 1 KiB cannot hold a long channel variable; Asterisk's own buffer is 8 KiB.
    "agi": {"max_sessions": (1, 10_000), "env_timeout_s": (0.001, 300.0),
            "command_timeout_s": (0.001, 3600.0), "max_line_bytes": (1024, 1_048_576),
            "max_env_lines": (32, 4096)},
}


def _secret(r: FieldReader, env: Mapping[str, str], env_name: str, file_key: str) -> Secret:
    value = env.get(env_name)
    if value:
        return Secret(value)
    path = r.opt_str(file_key)
    if path is None:
        if file_key not in r.table:  # else opt_str reported what is wrong with it
            r.fail(file_key, f"missing: set {r.section}.{file_key} or ${env_name}")
        return Secret("")
    # ${CREDENTIALS_DIRECTORY} (systemd LoadCredential=) and other variables come from env.
    secret_path = Path(string.Template(path).safe_substitute(env))
    if not secret_path.is_absolute() and r.base_dir is not None:
        secret_path = r.base_dir / secret_path
    try:
        text = read_text_file(secret_path, max_bytes=MAX_SECRET_BYTES, private=True)
    except FileProblem as exc:
        r.fail(file_key, str(exc))
        return Secret("")
    text = text.rstrip("\r\n")
    if not text or "\n" in text or "\r" in text:
        r.fail(file_key, f"{secret_path} must hold exactly one non-empty line")
    return Secret(text)


def _ami(r: FieldReader, env: Mapping[str, str]) -> AmiConfig:
    if "secret" in r.table:
        r.fail("secret", f"secrets never go in the config: use secret_file or ${ENV_AMI_SECRET}")
    return AmiConfig(
        host=r.str_("host", "127.0.0.1"),
        port=r.port("port", 5038),
        username=r.str_("username", "edgeqa"),
        secret=_secret(r, env, ENV_AMI_SECRET, "secret_file"),
        connect_timeout_s=r.positive("connect_timeout_s", 5.0),
        ping_interval_s=r.positive("ping_interval_s", 10.0),
        backoff_initial_s=r.positive("backoff_initial_s", 0.1),
        backoff_max_s=r.positive("backoff_max_s", 2.0),
        action_timeout_s=r.positive("action_timeout_s", 10.0),
    )


def _ari(r: FieldReader, env: Mapping[str, str]) -> AriConfig:
    if "password" in r.table:
        r.fail("password",
               f"secrets never go in the config: use password_file or ${ENV_ARI_PASSWORD}")
    url = _ari_url(r)
    app = r.str_("app", "edgeqa")
    if not _APP_NAME.fullmatch(app):
        r.fail("app", "must be 1-64 characters of letters, digits, '_', '.', '-'")
    return AriConfig(
        url=url.rstrip("/"),
        username=r.str_("username", "edgeqa"),
        password=_secret(r, env, ENV_ARI_PASSWORD, "password_file"),
        app=app,
        backoff_initial_s=r.positive("backoff_initial_s", 0.1),
        backoff_max_s=r.positive("backoff_max_s", 2.0),
    )


def _ari_url(r: FieldReader) -> str:
    """``ari.url``: http(s)://host[:port][/path], no credentials (a URL with '@' is never
    echoed: it may hold a password)."""
    default = "http://127.0.0.1:8088/ari"
    url = r.str_("url", default)
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        parts = None
    if "@" in url.partition("://")[2].partition("/")[0]:
        problem = ("must not carry credentials (user:password@): set ari.username, and the "
                   f"password in ari.password_file or ${ENV_ARI_PASSWORD}")
    elif parts is None:
        problem = f"is not a URL (bad host or port), got {url!r}"
    elif parts.scheme not in ("http", "https"):
        problem = f"must start with http:// or https://, got {url!r}"
    elif not parts.hostname:
        problem = f"has no host, got {url!r}"
    elif parts.query or parts.fragment or "#" in url:
        problem = f"must have no query or fragment, got {url!r}"
    else:
        return url
    r.fail("url", problem)
    return default


def _store(r: FieldReader) -> StoreConfig:
    path = Path(r.str_("path", "/var/lib/edgeqa/edgeqa.db"))
    if not path.is_absolute() and r.base_dir is not None:
        path = r.base_dir / path
    return StoreConfig(
        path=path,
        synchronous=r.choice("synchronous", "full", ("full", "normal")),
        writer_queue_max_requests=r.count("writer_queue_max_requests", 1024),
        batch_max_events=r.count("batch_max_events", 512),
        retention_max_events=r.count("retention_max_events", 1_000_000),
    )


def _audit(r: FieldReader) -> AuditConfig:
    """[audit]: the export signing key's file (relative to the configuration's directory)."""
    name = r.opt_str("signing_key_file")
    path = Path(name) if name else None
    if path is not None and not path.is_absolute() and r.base_dir is not None:
        path = r.base_dir / path
    return AuditConfig(signing_key_file=path)


def _api(r: FieldReader) -> ApiConfig:
    return ApiConfig(
        host=r.str_("host", "127.0.0.1"),
        port=r.port("port", 8765, allow_zero=True),
        subscriber_queue_max_events=r.count("subscriber_queue_max_events", 1000),
        max_subscribers=r.count("max_subscribers", 64),
        replay_page_events=r.count("replay_page_events", 500),
        send_timeout_s=r.positive("send_timeout_s", 5.0),
        sse_keepalive_s=r.positive("sse_keepalive_s", 15.0),
        **_api_edge(r),
    )


def _api_edge(r: FieldReader) -> dict[str, Any]:
    """[api] cross-site guard (allowed_hosts, allowed_origins) and connection bounds."""
    hosts = r.names("allowed_hosts", _ANY_TEXT, "a host name or host:port")
    for host in hosts:
        if parse_host(host) is None:
            r.fail("allowed_hosts", f"{host!r} is not a host name or host:port "
                                    "(no wildcards, no scheme)")
    origins = r.names("allowed_origins", _ANY_TEXT, "an origin")
    for origin in origins:
        if parse_origin(origin) is None:
            r.fail("allowed_origins", f"{origin!r} is not scheme://host[:port] with "
                                      "scheme http or https (no '*', no 'null', no path)")
    return {"allowed_hosts": hosts, "allowed_origins": origins,
            "header_timeout_s": r.positive("header_timeout_s", 10.0),
            "idle_timeout_s": r.positive("idle_timeout_s", 30.0),
            "max_connections": r.count("max_connections", 256),
            "max_subscribers_per_token": r.count("max_subscribers_per_token", 16)}


def _tracker(r: FieldReader) -> TrackerConfig:
    return TrackerConfig(
        sweep_interval_s=r.positive("sweep_interval_s", 30.0),
        max_idle_s=r.positive("max_idle_s", 4 * 3600.0),
        intake_queue_max_events=r.count("intake_queue_max_events", 10000),
    )


def _live(r: FieldReader) -> LiveConfig:
    tick_s = r.positive("tick_s", 0.5)  # issue 9: half the per-tick cost of 0.25
    if tick_s > 1.0:
        r.fail("tick_s", f"must be <= 1.0 (alerts are due within 1 s), got {tick_s!r}")
    ports = r.port("capture_port_start", 10000), r.port("capture_port_end", 20000)
    if ports[0] > ports[1]:
        r.fail("capture_port_end", f"must be >= capture_port_start {ports[0]}, "
                                   f"got {ports[1]}")
    max_calls = r.count("max_calls", MAX_CALLS_DEFAULT)  # bounded by _BOUNDS (MAX_CALLS_LIMIT)
    return LiveConfig(
        enabled=r.flag("enabled", True),
        rtp_port=r.port("rtp_port", 4000, allow_zero=True),
        jitter_depth_packets=r.count("jitter_depth_packets", 5),
        max_calls=max_calls,
        stasis_timeout_s=r.positive("stasis_timeout_s", 5.0),
        tick_s=tick_s,
        checkpoint_interval_s=r.positive("checkpoint_interval_s", 5.0),
        tap=r.choice("tap", "auto", TAP_MODES),
        capture_port_start=ports[0], capture_port_end=ports[1],
        snoop_format=r.choice("snoop_format", "slin", SNOOP_FORMATS),
    )


def default_live() -> LiveConfig:
    """The [live] section's defaults (an empty table)."""
    return _live(FieldReader("<defaults>", "", "live", {}, None))


def _recording_dir(r: FieldReader, key: str, default: str) -> str:
    value = r.str_(key, default)
    if not _RECORDING_DIR.fullmatch(value) or "/../" in f"{value}/" or "//" in value:
        r.fail(key, "must be an absolute path of letters, digits and _ . / + - "
                    f"(no '..', spaces or dialplan characters), got {value!r}")
        value = default
    return value.rstrip("/") or "/"


def _recording(r: FieldReader) -> RecordingConfig:
    asterisk_dir = _recording_dir(r, "asterisk_dir", "/var/spool/asterisk/monitor/edgeqa")
    return RecordingConfig(
        enabled=r.flag("enabled", True),
        asterisk_dir=PurePosixPath(asterisk_dir),
        daemon_dir=Path(_recording_dir(r, "daemon_dir", asterisk_dir)),
        format=r.choice("format", "wav", RECORDING_FORMATS),
        queues=r.names("queues", _MEMBER_NAME, "a queue name"),
        exclude_queues=r.names("exclude_queues", _MEMBER_NAME, "a queue name"),
        agents=r.names("agents", _MEMBER_NAME, "an agent name or interface"),
        exclude_agents=r.names("exclude_agents", _MEMBER_NAME, "an agent name or interface"),
        close_timeout_s=r.positive("close_timeout_s", 10.0),
        **_recording_admin(r),
    )


def _recording_admin(r: FieldReader) -> dict[str, Any]:
    """[recording] retention (global days, a [recording.queue_retention_days] table of
    queue = days) and disk guard keys."""
    days = r.positive("retention_days", 0.0) if "retention_days" in r.table else None
    table = r.table.get("queue_retention_days", {})
    if not isinstance(table, dict):
        r.fail("queue_retention_days", "must be a table of queue = days")
        table = {}
    per_queue = []
    for queue, value in table.items():
        if not _MEMBER_NAME.fullmatch(queue):
            r.fail("queue_retention_days", f"{shown(queue)} is not a queue name")
        elif (isinstance(value, bool) or not isinstance(value, int | float)
              or not 0 < value <= _BOUNDS["recording"]["retention_days"][1]):
            r.fail("queue_retention_days", f"{queue}: must be days > 0, got {shown(value)}")
        else:
            per_queue.append((queue, float(value)))
    percent = r.number("min_free_percent", 0.0)
    if not 0 <= percent < 100:
        r.fail("min_free_percent", f"must be >= 0 and < 100, got {percent!r}")
    free_mb = r.number("min_free_mb", 1024.0)
    if free_mb < 0:
        r.fail("min_free_mb", f"must be >= 0, got {free_mb!r}")
    return {"retention_days": days, "queue_retention_days": tuple(per_queue),
            "retention_interval_s": r.positive("retention_interval_s", 3600.0),
            "min_free_mb": free_mb, "min_free_percent": percent,
            "disk_check_interval_s": r.positive("disk_check_interval_s", 30.0)}


def default_recording() -> RecordingConfig:
    """The [recording] section's defaults (an empty table)."""
    return _recording(FieldReader("<defaults>", "", "recording", {}, None))


def _pci(r: FieldReader) -> PciConfig:
    return PciConfig(max_pause_s=r.positive("max_pause_s", 120.0),
                     auto_resume=r.flag("auto_resume", False))


def _auth(r: FieldReader) -> AuthConfig:
    """[auth], with a [auth.teams] table of team = [agents] (member names or interfaces)."""
    table = r.table.get("teams", {})
    if not isinstance(table, dict):
        r.fail("teams", "must be a table of team = [agent, ...]")
        table = {}
    teams = {}
    for team, agents in table.items():
        if not _MEMBER_NAME.fullmatch(team) or not isinstance(agents, list) or not all(
                isinstance(a, str) and _MEMBER_NAME.fullmatch(a) for a in agents):
            r.fail("teams", f"{shown(team)}: must be a list of agent names or interfaces")
        else:
            teams[team] = frozenset(agents)
    return AuthConfig(session_lifetime_s=r.positive("session_lifetime_s", 8 * 3600.0),
                      cookie_secure=r.flag("cookie_secure", False),
                      local_token=r.flag("local_token", True), teams=teams)


def _agi(r: FieldReader) -> AgiConfig:
    """[agi]: the FastAGI server (loopback only: Asterisk runs on this host)."""
    host = r.str_("host", "127.0.0.1")
    if not is_loopback(host):
        r.fail("host", f"must be a loopback address (127.0.0.1, ::1, localhost), got {host!r}")
        host = "127.0.0.1"
    return AgiConfig(enabled=r.flag("enabled", True), host=host,
                     port=r.port("port", 4573, allow_zero=True),
                     max_sessions=r.count("max_sessions", 256),
                     env_timeout_s=r.positive("env_timeout_s", 5.0),
                     command_timeout_s=r.positive("command_timeout_s", 10.0),
                     max_line_bytes=r.count("max_line_bytes", 8192),
                     max_env_lines=r.count("max_env_lines", 256))


def _logging(r: FieldReader) -> LoggingConfig:
    return LoggingConfig(
        format=r.choice("format", "text", ("text", "json")),
        level=r.choice("level", "INFO", _LOG_LEVELS, upper=True),
    )


def parse_config(
    text: str,
    *,
    source: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Validate TOML ``text`` with ``env`` overrides; raise ConfigError naming key and line."""
    env = os.environ if env is None else env
    name = str(source) if source is not None else "<config>"
    try:
        doc: dict[str, Any] = tomllib.loads(text)
    except RecursionError:
        raise ConfigError(name, None, None, "invalid TOML: arrays or inline tables nested "
                                            "too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        # Python < 3.14 has no exc.lineno: the message ends "(at line N, column M)".
        m = _AT_LINE.search(str(exc))
        line = int(m.group(1)) if m else None
        msg = _AT_LINE.sub("", str(exc)).strip()
        col = f" (column {m.group(2)})" if m else ""
        raise ConfigError(name, None, line, f"invalid TOML: {msg}{col}") from None
    errors: list[ConfigError] = []  # every problem, reported together at the end
    for key, value in list(doc.items()):
        if key not in _SECTIONS:
            errors.append(ConfigError(name, key, find_key_line(text, (key,)),
                                      f"unknown section (known: {', '.join(_SECTIONS)})"))
        elif not isinstance(value, dict):
            errors.append(ConfigError(name, key, find_key_line(text, (key,)), "must be a table"))
            del doc[key]
    base_dir = source.parent if source is not None else None

    def reader(section: str) -> FieldReader:
        return FieldReader(name, text, section, doc.get(section, {}), base_dir,
                           errors, _BOUNDS.get(section))

    readers = {s: reader(s) for s in _SECTIONS}
    for r in readers.values():
        r.reject_unknown(_KNOWN_KEYS[r.section])
    auth = _auth(readers["auth"])
    cfg = Config(
        ami=_ami(readers["ami"], env),
        ari=_ari(readers["ari"], env),
        store=_store(readers["store"]),
        audit=_audit(readers["audit"]),
        api=_api(readers["api"]),
        tracker=_tracker(readers["tracker"]),
        logging=_logging(readers["logging"]),
        live=_live(readers["live"]),
        recording=_recording(readers["recording"]),
        pci=_pci(readers["pci"]),
        auth=auth,
        spy=read_spy(readers["spy"], env, auth.teams),
        agi=_agi(readers["agi"]),
        route=read_route(readers["route"]),
        hints=read_hints(readers["hints"]),
        source=source,
    )
    if errors:
        raise ConfigError.of(errors)
    return cfg


def load_config(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the TOML file at ``path``; raise ConfigError on any problem."""
    p = Path(path)
    try:
        text = read_text_file(p, max_bytes=MAX_CONFIG_BYTES)
    except FileProblem as exc:
        raise ConfigError(str(p), None, None, str(exc)) from None
    return parse_config(text, source=p.resolve(), env=env)


def with_overrides(
    cfg: Config, *, log_format: str | None = None, log_level: str | None = None
) -> Config:
    """Return ``cfg`` with command-line overrides applied (CLI wins over file and environment)."""
    logging_cfg = cfg.logging
    if log_format is not None:
        logging_cfg = replace(logging_cfg, format=log_format)
    if log_level is not None:
        logging_cfg = replace(logging_cfg, level=log_level.upper())
    return replace(cfg, logging=logging_cfg)

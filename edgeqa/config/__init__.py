"""The daemon's configuration: frozen dataclasses read from TOML, the environment and the CLI."""

from edgeqa.config.fields import ConfigError, FieldReader, Secret, find_key_line
from edgeqa.config.model import (
    AmiConfig,
    ApiConfig,
    AriConfig,
    Config,
    LoggingConfig,
    StoreConfig,
    TrackerConfig,
    default_live,
    load_config,
    parse_config,
    with_overrides,
)
from edgeqa.live.config import LiveConfig

__all__ = [
    "AmiConfig", "ApiConfig", "AriConfig", "Config", "ConfigError", "FieldReader", "LiveConfig",
    "LoggingConfig", "Secret", "StoreConfig", "TrackerConfig", "default_live", "find_key_line",
    "load_config", "parse_config", "with_overrides",
]

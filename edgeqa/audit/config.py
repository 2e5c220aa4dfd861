"""The [audit] section: where the key that signs audit exports is kept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The key file's name beside the store when [audit] signing_key_file is not set.
DEFAULT_KEY_FILE = "audit.key"


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """``signing_key_file``: the secret file (0600) holding the HMAC key of `edgeqa audit
    export`; None: ``audit.key`` beside the store (``key_path``)."""

    signing_key_file: Path | None = None

    def key_path(self, store_path: Path) -> Path:
        """The signing key's file for a store at ``store_path``."""
        return self.signing_key_file or store_path.parent / DEFAULT_KEY_FILE

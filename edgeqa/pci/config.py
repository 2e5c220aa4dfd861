"""The [pci] section: how long a PCI pause may last before it alerts (and maybe resumes)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PciConfig:
    """``max_pause_s``: a pause longer than this raises a ``pci_pause_long`` alert; with
    ``auto_resume`` the daemon then resumes the call itself (audited as system:auto_resume)."""

    max_pause_s: float = 120.0
    auto_resume: bool = False

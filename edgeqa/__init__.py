"""edgeqa: per-leg acoustic QA and supervision for Asterisk contact centres."""

__version__ = "0.1.0"

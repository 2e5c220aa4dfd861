"""Live per-leg audio taps (ARI snoop + externalMedia) feeding the metrics engine."""

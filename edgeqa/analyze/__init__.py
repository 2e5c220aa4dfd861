"""Offline analysis: WAV input, whole-call runs over the metrics engine, plots."""

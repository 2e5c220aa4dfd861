"""edgeqa.calls."""

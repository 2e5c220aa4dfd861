"""edgeqa.metrics."""

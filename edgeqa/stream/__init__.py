"""edgeqa.stream."""

"""edgeqa.store."""

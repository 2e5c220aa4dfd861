"""edgeqa.sandbox."""

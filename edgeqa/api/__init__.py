"""edgeqa.api."""

"""edgeqa.ari."""

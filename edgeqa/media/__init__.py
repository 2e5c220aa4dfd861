"""Media: sans-I/O RTP parsing, a reorder buffer, slin byte order, and a thin UDP receiver."""

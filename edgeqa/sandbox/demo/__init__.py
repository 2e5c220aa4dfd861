"""`edgeqa demo`: the sandbox, the daemon and a live terminal view of its event stream."""

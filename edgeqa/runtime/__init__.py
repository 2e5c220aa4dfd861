"""Process plumbing shared by every layer: logging set-up, sd_notify, reconnect backoff."""

"""The audit trail: who did what to which call, and when (written durably before the ack)."""

"""Per-leg recording of monitored queue calls on the switch (MixMonitor r()/t())."""

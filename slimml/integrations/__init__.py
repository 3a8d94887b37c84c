"""slimml driven by other fleet tools (all-repos); each integration is imported only when run."""

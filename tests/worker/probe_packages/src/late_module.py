"""First imported during a request: its registered patch must not run (as in production)."""

BODY_RAN = True

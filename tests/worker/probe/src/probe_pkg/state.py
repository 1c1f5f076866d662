"""Module-level state: lives as long as the isolate."""

STATE: dict = {"requests": 0, "background": []}

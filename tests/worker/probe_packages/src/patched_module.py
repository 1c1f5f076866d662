"""Imported at top level under the patch of import_patches.py."""

BODY_RAN = True


def blocked() -> str:
    return "blocked() called"


def allowed() -> str:
    return "allowed() called"

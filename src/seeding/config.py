"""Site-level settings, shared by the build (written into the manifest) and the
Worker, and the settings read from wrangler vars."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from seeding.cache import DEFAULT_MAX_BYTES

# Next.js's default `expireTime`: a stale page may be served for up to a year.
DEFAULT_EXPIRE_SECONDS = 365 * 24 * 3600
CACHE_BUDGET_VAR = "SEED_CACHE_MAX_BYTES"
MIN_CACHE_BYTES = 64 * 1024


@dataclass(frozen=True)
class SiteConfig:
    """`base_path` ("" or "/docs") and `trailing_slash` decide canonical URLs;
    `expire` bounds how long a stale page may still be served (None: forever);
    a request carrying one of `session_cookies` (or `Authorization`) is private."""

    base_path: str = ""
    trailing_slash: bool = False
    expire: int | None = DEFAULT_EXPIRE_SECONDS
    session_cookies: frozenset[str] = field(
        default_factory=lambda: frozenset({"session", "sessionid", "__session", "auth"})
    )


class ConfigError(ValueError):
    pass


def cache_budget(vars: Mapping[str, str | None]) -> int:
    """The cache's byte budget from the `SEED_CACHE_MAX_BYTES` var (a whole number of
    bytes, at least 64 KiB); the default when unset. Raises `ConfigError` naming the
    var and the fix."""
    raw = vars.get(CACHE_BUDGET_VAR)
    if raw is None or str(raw).strip() == "":
        return DEFAULT_MAX_BYTES
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(
            f"wrangler.toml [vars] {CACHE_BUDGET_VAR} = {raw!r} is not a whole "
            f'number of bytes (e.g. "33554432" for 32 MiB)'
        ) from None
    if value < MIN_CACHE_BYTES:
        raise ConfigError(
            f"wrangler.toml [vars] {CACHE_BUDGET_VAR} = {value} is below the "
            f"minimum {MIN_CACHE_BYTES} bytes"
        )
    return value

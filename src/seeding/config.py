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
# Which prerender layout the Worker reads: "sharded" (meta/build.json + shards +
# packs, `seeding.layout`; the default) or "manifest" (meta/manifest.json + one file
# per route variant; the baseline). Must match `scripts/copy_prerender.py --layout`.
INDEX_KIND_VAR = "SEED_INDEX"
INDEX_KINDS = ("sharded", "manifest")
DEFAULT_INDEX_KIND = "sharded"


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


def index_kind(vars: Mapping[str, str | None]) -> str:
    """The prerender layout to read, from the `SEED_INDEX` var ("sharded" or
    "manifest"); the default when unset. Raises `ConfigError` naming the var."""
    raw = vars.get(INDEX_KIND_VAR)
    if raw is None or str(raw).strip() == "":
        return DEFAULT_INDEX_KIND
    value = str(raw).strip().lower()
    if value not in INDEX_KINDS:
        raise ConfigError(
            f"wrangler.toml [vars] {INDEX_KIND_VAR} = {raw!r} is not one of "
            f"{', '.join(repr(k) for k in INDEX_KINDS)} (it must match the --layout "
            "scripts/copy_prerender.py wrote)"
        )
    return value

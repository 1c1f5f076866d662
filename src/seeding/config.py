"""Settings: the site's own (`SiteConfig`, fixed in code, shared by the build, which
records them, and the Worker, which checks them) and the deployment's (`Settings`, read
from wrangler `[vars]` and secrets by `settings_from_vars`, the one place they are
parsed). A bad var never stops the Worker: it is reported, named with its fix, and its
default applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from seeding.cache import DEFAULT_MAX_BYTES

# Next.js's default `expireTime`: a stale page may be served for up to a year.
DEFAULT_EXPIRE_SECONDS = 365 * 24 * 3600
MIN_CACHE_BYTES = 64 * 1024


@dataclass(frozen=True)
class SiteConfig:
    """`base_path` ("" or "/docs") and `trailing_slash` decide canonical URLs;
    `data_variant` opts in to a JSON data form of each page at `<path>.json`;
    `expire` bounds how long a stale page may still be served (None: forever);
    a request carrying one of `session_cookies` (or `Authorization`) is private."""

    base_path: str = ""
    trailing_slash: bool = False
    data_variant: bool = False
    expire: int | None = DEFAULT_EXPIRE_SECONDS
    session_cookies: frozenset[str] = field(
        default_factory=lambda: frozenset({"session", "sessionid", "__session", "auth"})
    )


@dataclass(frozen=True)
class Settings:
    """The deployment's settings (wrangler.toml `[vars]`; see `VARS`)."""

    cache_max_bytes: int = DEFAULT_MAX_BYTES


class ConfigError(ValueError):
    pass


def _whole_bytes(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"wrangler.toml [vars] {name} = {raw!r} is not a whole number of bytes "
            f'(e.g. "33554432" for 32 MiB)'
        ) from None
    if value < MIN_CACHE_BYTES:
        raise ConfigError(
            f"wrangler.toml [vars] {name} = {value} is below the minimum {MIN_CACHE_BYTES} bytes"
        )
    return value


# var name -> (Settings field, parser). The one table of the Worker's vars.
VARS: dict[str, tuple[str, Callable[[str, str], object]]] = {
    "SEED_CACHE_MAX_BYTES": ("cache_max_bytes", _whole_bytes),
}


def settings_from_vars(lookup: Callable[[str], object]) -> tuple[Settings, list[str]]:
    """The settings from `lookup(var name)` (None or "" when unset), and one message
    per bad var; a bad var keeps its default."""
    values: dict[str, Any] = {}
    errors: list[str] = []
    for name, (attribute, parse) in VARS.items():
        raw = lookup(name)
        if raw is None or str(raw).strip() == "":
            continue
        try:
            values[attribute] = parse(name, str(raw).strip())
        except ConfigError as exc:
            errors.append(f"{exc}; using the default")
    return replace(Settings(), **values), errors

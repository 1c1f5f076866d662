"""Settings: the site's own (`SiteConfig`, fixed in code, shared by the build, which
records them, and the Worker, which checks them) and the deployment's (`Settings`, read
from wrangler `[vars]` and secrets by `settings_from_vars`, the one place they are
parsed). A bad var never stops the Worker: it is reported, named with its fix, and its
default applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from seeding.primitives.cache import DEFAULT_MAX_BYTES

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


# The bindings of the shared tier (wrangler.toml [[kv_namespaces]], [[d1_databases]]).
KV_BINDING = "PAGES"
D1_BINDING = "CACHE_DB"
# The Worker version metadata binding (wrangler.toml [version_metadata]): its `id`
# changes with every deploy, so KV keys carry it (`seeding.shared.kv_pages`).
VERSION_METADATA_BINDING = "CF_VERSION_METADATA"
DEFAULT_REVALIDATE_PATH = "/__revalidate"
DEFAULT_TAG_CACHE_SECONDS = 5.0
MAX_TAG_CACHE_SECONDS = 300.0


@dataclass(frozen=True)
class Settings:
    """The deployment's settings (wrangler.toml `[vars]` and secrets; see `VARS`)."""

    cache_max_bytes: int = DEFAULT_MAX_BYTES
    revalidate_path: str = DEFAULT_REVALIDATE_PATH
    revalidate_secret: str | None = None
    tag_cache_seconds: float = DEFAULT_TAG_CACHE_SECONDS
    # The scheme and host every render that may be stored sees, at build and at run
    # time (None: the renderer's own default, `AsgiSite(origin=...)`).
    site_origin: str | None = None


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


def _url_path(name: str, raw: str) -> str:
    if not raw.startswith("/") or any(c in raw for c in "?# \\"):
        raise ConfigError(
            f'wrangler.toml [vars] {name} = {raw!r} is not a URL path (e.g. "/__revalidate")'
        )
    return raw


def _secret(name: str, raw: str) -> str:
    if len(raw) < 16:
        raise ConfigError(
            f"the secret {name} is {len(raw)} characters; use at least 16 "
            f"(`npx wrangler secret put {name}`), the endpoint stays disabled"
        )
    return raw


def _tag_cache_seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_TAG_CACHE_SECONDS:
        raise ConfigError(
            f"wrangler.toml [vars] {name} = {raw!r} is not a number of seconds in "
            f"(0, {MAX_TAG_CACHE_SECONDS:g}]"
        )
    return value


def _origin(name: str, raw: str) -> str:
    try:
        parts = urlsplit(raw)
        valid = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and parts.path in ("", "/")
            and not (parts.query or parts.fragment or parts.username or parts.password)
        )
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        valid = False
    if not valid:
        raise ConfigError(
            f"wrangler.toml [vars] {name} = {raw!r} is not an origin: give the scheme and "
            f'host the site is served at, nothing else (e.g. "https://example.com")'
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


# var name -> (Settings field, parser). The one table of the Worker's vars and secrets.
VARS: dict[str, tuple[str, Callable[[str, str], object]]] = {
    "SEED_CACHE_MAX_BYTES": ("cache_max_bytes", _whole_bytes),
    "REVALIDATE_PATH": ("revalidate_path", _url_path),
    "REVALIDATE_SECRET": ("revalidate_secret", _secret),
    "TAG_CACHE_SECONDS": ("tag_cache_seconds", _tag_cache_seconds),
    "SITE_ORIGIN": ("site_origin", _origin),
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
    return Settings(**values), errors

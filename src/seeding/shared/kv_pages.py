"""The shared page store: cache entries in Workers KV, one value per route variant.

Consistency: KV is eventually consistent (a write may take ~60 s to reach other
locations), so a read can return an older page than the newest written. Entries carry
their `generated_at` and `tags`, and freshness is decided by the caller from those and
the tag clock (`seeding.shared.tag_clock`), never from KV's own state. `read` hands back what
was written, possibly stale or past its `expire`: the caller checks.

Keys: `pages/v1/<deploy id>/<variant><route>` ("pages/v1/B/html/blog/a",
"pages/v1/B/data/"). The deploy id (`deploy_identity`) is the prerendered build's id
and the Worker version's, so a deploy never reads another deploy's pages: not those of
another build, and not those rendered by other code on the same build (a code change
deployed without a rebuild), nor, without any build, those of the previous deploy.
The format version keeps a reader from decoding a value in a format it does not
know. A key over KV's 512 bytes names the route by its SHA-256 instead
("pages/v1/B/html#<hex>"; a route key always starts with "/", so the two forms never
meet).

Value format v1 (`encode_entry` / `decode_entry`):

    b"PAGE" | version (1 byte, 1) | header length (4 bytes, big-endian) | header | body

The header is UTF-8 JSON: {"status": int, "headers": {str: str}, "generatedAt": number,
"revalidate": int | null, "expire": int | null, "tags": [str], "bodyLength": int}; the
body follows as raw bytes, so a page costs its own size plus ~200 bytes. A value is
untrusted input: it is served only once `seeding.schema.Validator.page` accepts it
(finite times, `generatedAt` not in the future, valid headers and no `Set-Cookie`,
the body of its declared length). A value that fails is treated as absent, never
served, and logged at most once per `log_interval`.

Writes, per isolate: at most one per key per second (KV answers 429 beyond about one);
a second write to a key within the second is dropped, not queued. That is safe: the
dropped entry is at most a second newer, and an entry that KV keeps too long is judged
by its own `generated_at` against the tag clock, so it is regenerated rather than served
as fresh. The TTL is the entry's remaining life until `expire`, at least KV's 60 s and
at most `KV_MAX_TTL_SECONDS` (also for an entry that never expires: keys change with
each deploy, and the namespace must not keep every deploy's pages); an entry already
expired, or a value over 25 MiB, is not written. `read` and `write` never raise: a
failure, a timeout or a 429 is logged (at most once a minute per kind) and counted, and
the caller goes on as if KV were empty.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import sys
import sysconfig
from dataclasses import dataclass
from typing import Protocol

from seeding.primitives.backoff import LogThrottle
from seeding.primitives.cache import CacheEntry
from seeding.primitives.expiring import ExpiringMap
from seeding.routes import Variant
from seeding.schema import SchemaError, Validator, loads_json

FORMAT_VERSION = 1
KEY_PREFIX = f"pages/v{FORMAT_VERSION}/"
MAGIC = b"PAGE"
_HEADER_AT = len(MAGIC) + 1 + 4

# Workers KV limits.
KV_MAX_KEY_BYTES = 512
KV_MAX_VALUE_BYTES = 25 * 1024 * 1024
KV_MIN_TTL_SECONDS = 60
KV_WRITE_INTERVAL_SECONDS = 1.0

_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# A page that never expires is still dropped from KV after this long: keys change with
# every deploy, so without a TTL each deploy's pages would stay in the namespace for
# good. Past it, the page is rendered once more (and written again) on its next miss.
KV_MAX_TTL_SECONDS = 30 * 24 * 3600

# Keys written within the last write interval, remembered at most this many at once (a key
# evicted early may be written twice in an interval: KV answers 429, logged and dropped).
_WRITE_LOG_SIZE = 4096


class KeyValueNamespace(Protocol):
    """A Workers KV binding as the core sees it; the bridge adapts `env.<KV>`
    (`get(key, "arrayBuffer")`, `put(key, value, {expirationTtl})`)."""

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, *, expiration_ttl: int | None) -> None: ...


class ValueFormatError(ValueError):
    """A stored value that is not a v1 page."""


def deploy_identity(build_id: str | None, version_id: str | None) -> str:
    """The identity every page key of this deploy carries: `<build>@<version>`, with
    "-" for no build. `version_id` is the Worker version's (the `version_metadata`
    binding) or, without it, a hash of the code; one outside `[A-Za-z0-9._-]{1,64}` is
    replaced by its hash, so a key never holds a separator it did not put there."""
    version = version_id or "-"
    if not _SAFE_ID.fullmatch(version):
        version = _sha256(version)[:32]
    return f"{build_id or '-'}@{version}"


def code_identity() -> str:
    """A hash of the Python code this isolate has loaded (every module's source, by
    name, but the standard library's): the same upload gives the same hash, a change to
    any module of the site, the package or a vendored dependency another one."""
    stdlib = sysconfig.get_paths()["stdlib"]
    digest = hashlib.sha256()
    for name in sorted(sys.modules):
        path = getattr(sys.modules[name], "__file__", None)
        if not isinstance(path, str) or not path.endswith(".py") or path.startswith(stdlib):
            continue
        try:
            with open(path, "rb") as source:
                digest.update(name.encode() + b"\0" + source.read() + b"\0")
        except OSError:
            digest.update(name.encode() + b"\0?\0")
    return "code-" + digest.hexdigest()[:32]


def page_key(build_id: str, variant: Variant, route: str) -> str:
    """The KV key of one variant of a route in one build (see the module docstring)."""
    key = f"{KEY_PREFIX}{build_id}/{variant.value}{route}"
    if _utf8_length(key) <= KV_MAX_KEY_BYTES:
        return key
    key = f"{KEY_PREFIX}{build_id}/{variant.value}#{_sha256(route)}"
    if _utf8_length(key) <= KV_MAX_KEY_BYTES:
        return key
    # Only a build id of several hundred bytes gets here.
    return f"{KEY_PREFIX}#{_sha256(build_id + chr(0) + variant.value + chr(0) + route)}"


def encode_entry(entry: CacheEntry) -> bytes:
    header = {
        "status": entry.status,
        "headers": dict(entry.headers),
        "generatedAt": entry.generated_at,
        "revalidate": entry.revalidate,
        "expire": entry.expire,
        "tags": list(entry.tags),
        "bodyLength": len(entry.body),
    }
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    prefix = MAGIC + bytes([FORMAT_VERSION]) + len(header_bytes).to_bytes(4, "big")
    return b"".join((prefix, header_bytes, entry.body))


def decode_entry(value: bytes, now: float) -> CacheEntry:
    """The entry a v1 value holds, read at `now`, once `seeding.schema.Validator.page`
    has found nothing in it that a stored page may not hold; `ValueFormatError`
    saying what is wrong otherwise."""
    if len(value) < _HEADER_AT or not value.startswith(MAGIC):
        raise ValueFormatError("not a page value (no PAGE marker)")
    version = value[len(MAGIC)]
    if version != FORMAT_VERSION:
        raise ValueFormatError(f"format version {version}, this reader knows {FORMAT_VERSION}")
    header_length = int.from_bytes(value[len(MAGIC) + 1 : _HEADER_AT], "big")
    body_at = _HEADER_AT + header_length
    if body_at > len(value):
        raise ValueFormatError(f"header length {header_length} runs past the value's end")
    try:
        header = loads_json(value[_HEADER_AT:body_at])
    except (ValueError, RecursionError) as exc:
        raise ValueFormatError(f"header is not strict UTF-8 JSON ({exc})") from None
    try:
        return Validator("KV page value", fix="").page(header, value[body_at:], now)
    except SchemaError as exc:
        raise ValueFormatError(str(exc)) from None


def kv_ttl(entry: CacheEntry, now: float) -> int:
    """Seconds KV should keep `entry` written at `now`: its remaining life until
    `expire`, at least KV's minimum and at most `KV_MAX_TTL_SECONDS` (also the TTL of
    a page that never expires)."""
    if entry.revalidate is None or entry.expire is None:
        return KV_MAX_TTL_SECONDS
    remaining = entry.generated_at + entry.expire - now
    return min(KV_MAX_TTL_SECONDS, max(KV_MIN_TTL_SECONDS, math.ceil(remaining)))


@dataclass
class PageStoreStats:
    reads: int = 0
    hits: int = 0
    read_errors: int = 0  # failures, timeouts and values that did not decode
    writes: int = 0  # accepted by KV
    dropped: int = 0  # not written: rate limit, expired, oversize, failure, timeout


class PageStore:
    """Cache entries in KV, keyed by build, variant and route; see the module docstring."""

    def __init__(
        self,
        kv: KeyValueNamespace,
        *,
        read_timeout: float = 1.0,
        write_timeout: float = 10.0,
        log_interval: float = 60.0,
    ) -> None:
        self._kv = kv
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._last_write: ExpiringMap[str, None] = ExpiringMap(_WRITE_LOG_SIZE)
        self._logs = LogThrottle(log_interval)
        self.stats = PageStoreStats()

    async def read(
        self, build_id: str, variant: Variant, route: str, now: float
    ) -> CacheEntry | None:
        """The entry stored for the route's variant, or None: absent, unreadable, late
        (past `read_timeout`) or failed. Never raises."""
        key = page_key(build_id, variant, route)
        self.stats.reads += 1
        try:
            value = await asyncio.wait_for(self._kv.get(key), self._read_timeout)
        except Exception as exc:
            self.stats.read_errors += 1
            self._logs.warning("kv read", now, f"KV read of {key!r} failed ({_describe(exc)})")
            return None
        if value is None:
            return None
        try:
            if not isinstance(value, bytes | bytearray | memoryview):
                raise ValueFormatError(f"the binding answered {type(value).__name__}, not bytes")
            entry = decode_entry(bytes(value), now)
        except ValueFormatError as exc:
            self.stats.read_errors += 1
            self._logs.warning("kv value", now, f"KV value of {key!r} ignored: {exc}")
            return None
        self.stats.hits += 1
        return entry

    async def write(
        self, build_id: str, variant: Variant, route: str, entry: CacheEntry, now: float
    ) -> bool:
        """Store `entry` for the route's variant; True when KV accepted it. False (and
        counted as dropped) for a second write to the key within a second, an expired
        entry, a value over 25 MiB, a failure or a timeout. Never raises."""
        key = page_key(build_id, variant, route)
        if entry.is_expired(now):
            self.stats.dropped += 1
            return False
        if self._last_write.contains(key, now):
            self.stats.dropped += 1
            return False
        value = encode_entry(entry)
        if len(value) > KV_MAX_VALUE_BYTES:
            self.stats.dropped += 1
            self._logs.warning(
                "kv oversize",
                now,
                f"page {key!r} not written to KV: {len(value)} bytes is over KV's "
                f"{KV_MAX_VALUE_BYTES}-byte value limit",
            )
            return False
        self._remember_write(key, now)
        try:
            await asyncio.wait_for(
                self._kv.put(key, value, expiration_ttl=kv_ttl(entry, now)), self._write_timeout
            )
        except Exception as exc:
            self.stats.dropped += 1
            self._logs.warning("kv write", now, f"KV write of {key!r} failed ({_describe(exc)})")
            return False
        self.stats.writes += 1
        return True

    def _remember_write(self, key: str, now: float) -> None:
        self._last_write.set(key, None, expires_at=now + KV_WRITE_INTERVAL_SECONDS, now=now)


# ---------------------------------------------------------------------------------------


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return repr(exc)

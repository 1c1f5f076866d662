"""The on-demand revalidation endpoint, as plain values: a request in, an answer out.

    POST <endpoint>
    Authorization: Bearer <secret>
    {"paths": ["/blog/a"], "tags": ["posts"], "mode": "stale" | "expire"}
    or {"deploy": true}

`check_revalidation` decides, without side effects: 404 when no secret is configured
(the endpoint is off and looks absent), 405 for any method but POST, 401 for a missing
or wrong secret (compared in constant time), 413 for a body over 64 KiB, 400 for a
body that breaks a limit or the shape (the message names the field and the limit),
else a `RevalidationRequest`, or, for `{"deploy": true}` (alone: the post-deploy step that
makes this build take over the edge, `seeding.edge.deploys`), an answer marked
`deploy`. The first four are decided on the request's headers
alone (`refuse_on_headers`), before its body is read: an unauthorized sender never
makes the Worker read a byte of it, and an authorized one no more than the limit.
`handle_revalidation` also applies it through the caller's `apply` (the tag clock's
`revalidate`): 200 when recorded, 503 when the store did not take it. Only a 200 has
changed anything. A deploy request is answered by the caller's `deploy`.

Paths are URL paths as a browser requests them (with the basePath, percent-encoded or
not, with or without the trailing slash, `.json` data form included) and are normalized
to route keys by `seeding.routes.resolve_request_path`, as requests are; both variants of
a route share its key. A path with a query or a fragment is refused rather than
silently naming another route. Limits: a body of 64 KiB, 128 paths of at most
`MAX_ROUTE_LENGTH` characters (decoded), 128 tags of 1 to 256 characters (Next.js's).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from seeding.config import SiteConfig
from seeding.http import BodyReader, BodyTooLarge, declared_length
from seeding.routes import MAX_ROUTE_LENGTH, percent_decode, resolve_request_path
from seeding.schema import MAX_TAGS, loads_json, tag_problem
from seeding.shared.tag_clock import RevalidationMode

MAX_BODY_BYTES = 64 * 1024
MAX_PATHS = 128
DEPLOY_FIELD = "deploy"
BODY_FIELDS = ("paths", "tags", "mode", DEPLOY_FIELD)
_FIELDS_HINT = (
    '"paths" (URL paths), "tags" (strings), "mode" ("stale" or "expire"); or {"deploy": true} alone'
)
# The caller's answer to a deploy request: its status and JSON.
Deploy = Callable[[], Awaitable[tuple[int, dict[str, Any]]]]


@dataclass(frozen=True)
class RevalidationRequest:
    paths: tuple[str, ...]  # route keys, deduplicated, in request order
    tags: tuple[str, ...]
    mode: RevalidationMode


@dataclass(frozen=True)
class RevalidationAnswer:
    status: int
    body: bytes  # JSON
    headers: Mapping[str, str] = field(default_factory=dict)
    request: RevalidationRequest | None = None  # set when the request was valid
    deploy: bool = False  # a valid `{"deploy": true}`


class _Refused(Exception):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def refuse_on_headers(
    method: str, headers: Mapping[str, str], secret: str | None
) -> RevalidationAnswer | None:
    """The refusal a request earns on its method and headers alone, before a byte of
    its body is read: 404 (no secret configured), 405, 401, or 413 for a declared
    `Content-Length` over `MAX_BODY_BYTES`. None: read the body (at most that much)."""
    try:
        _authorize(method, headers, secret)
        declared = declared_length(headers)
        if declared is not None and declared > MAX_BODY_BYTES:
            raise _too_large(declared)
    except _Refused as refusal:
        return _answer(refusal.status, {"error": str(refusal)}, refusal.headers)
    return None


def check_revalidation(
    method: str,
    headers: Mapping[str, str],
    body: bytes,
    secret: str | None,
    *,
    site: SiteConfig | None = None,
) -> RevalidationAnswer:
    """Validate one request (`headers` keyed lower-case, as `seeding.http.Request`).
    When valid, the answer is a 200 describing `request`, which nothing has applied
    yet; otherwise the refusal to send."""
    refusal = refuse_on_headers(method, headers, secret)
    if refusal is not None:
        return refusal
    try:
        request = _parse_body(body, site or SiteConfig())
    except _Refused as refused:
        return _answer(refused.status, {"error": str(refused)}, refused.headers)
    if request is None:
        return _answer(200, {DEPLOY_FIELD: True}, deploy=True)
    return _answer(200, _summary(request), request=request)


async def handle_revalidation(
    method: str,
    headers: Mapping[str, str],
    body: bytes | BodyReader,
    secret: str | None,
    apply: Callable[[RevalidationRequest], Awaitable[bool]],
    *,
    site: SiteConfig | None = None,
    deploy: Deploy | None = None,
) -> RevalidationAnswer:
    """`check_revalidation`, then `apply` the valid request: 200 when it answered
    True, 503 when False (nothing recorded; the sender should retry); a valid deploy
    request is answered by `deploy` (None: as an endpoint with nothing to sweep, with
    no edge in front). `body` may be a reader (`seeding.http.Request.read_body`): it
    is called only once the headers passed (`refuse_on_headers`), with the limit
    `MAX_BODY_BYTES`."""
    refusal = refuse_on_headers(method, headers, secret)
    if refusal is not None:
        return refusal
    if not isinstance(body, bytes | bytearray):
        try:
            body = await body(MAX_BODY_BYTES)
        except BodyTooLarge:
            refused = _too_large(None)
            return _answer(refused.status, {"error": str(refused)})
    answer = check_revalidation(method, headers, bytes(body), secret, site=site)
    if answer.deploy:
        if deploy is None:
            return _answer(200, {DEPLOY_FIELD: True, "edge": {"enabled": False}}, deploy=True)
        status, payload = await deploy()
        retry = {"retry-after": "5"} if status == 503 else None
        return _answer(status, payload, retry, deploy=True)
    if answer.request is None:
        return answer
    if await apply(answer.request):
        return answer
    message = "the revalidation store (D1) did not record it; nothing changed, retry"
    return _answer(503, {"error": message}, {"retry-after": "5"})


# ---------------------------------------------------------------------------------------


def _authorize(method: str, headers: Mapping[str, str], secret: str | None) -> None:
    if not secret:
        raise _Refused(404, "not found")
    if method.upper() != "POST":
        raise _Refused(405, "use POST", {"allow": "POST"})
    given = _bearer_token(_header(headers, "authorization"))
    # Compare as bytes: compare_digest refuses non-ASCII str.
    if given is None or not hmac.compare_digest(given.encode(), secret.encode()):
        raise _Refused(
            401,
            "missing or wrong secret: send 'Authorization: Bearer <REVALIDATE_SECRET>'",
            {"www-authenticate": "Bearer"},
        )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


def _bearer_token(value: str | None) -> str | None:
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _too_large(length: int | None) -> _Refused:
    size = f"is {length} bytes" if length is not None else "is longer"
    return _Refused(413, f"the body {size}, over the limit of {MAX_BODY_BYTES}")


def _parse_body(body: bytes, site: SiteConfig) -> RevalidationRequest | None:
    """The request the body asks for; None for a deploy request."""
    if len(body) > MAX_BODY_BYTES:
        raise _too_large(len(body))
    try:
        data = loads_json(body)
    except (ValueError, RecursionError):
        raise _Refused(400, f"body must be a UTF-8 JSON object with {_FIELDS_HINT}") from None
    if not isinstance(data, dict):
        raise _Refused(400, f"body must be a JSON object with {_FIELDS_HINT}")
    for name in getattr(data, "duplicates", ()):
        raise _Refused(400, f"{name!r:.40} is given more than once; give each field once")
    unknown = sorted(set(data) - set(BODY_FIELDS))
    if unknown:
        raise _Refused(400, f"unknown field {unknown[0]!r}; the fields are {_FIELDS_HINT}")
    if DEPLOY_FIELD in data:
        _check_deploy(data)
        return None
    raw_paths = _string_list(data, "paths", MAX_PATHS)
    tags = _string_list(data, "tags", MAX_TAGS)
    if not raw_paths and not tags:
        raise _Refused(400, "nothing to revalidate: give at least one of 'paths' or 'tags'")
    for tag in tags:
        problem = tag_problem(tag)
        if problem is not None:
            raise _Refused(400, f"tags: {problem}")
    paths = [_route_key(path, site) for path in raw_paths]
    mode_value = data.get("mode", RevalidationMode.STALE.value)
    try:
        mode = RevalidationMode(mode_value)
    except ValueError:
        shown = repr(mode_value)[:40]
        raise _Refused(400, f"mode: {shown} is not 'stale' or 'expire'") from None
    return RevalidationRequest(tuple(dict.fromkeys(paths)), tuple(dict.fromkeys(tags)), mode)


def _check_deploy(data: dict[str, Any]) -> None:
    value = data[DEPLOY_FIELD]
    if value is not True:
        raise _Refused(
            400,
            f'deploy: {json.dumps(value)[:40]} is not true; send {{"deploy": true}} to make this '
            "build take over the edge, or leave the field out",
        )
    others = [name for name in BODY_FIELDS if name in data and name != DEPLOY_FIELD]
    if others:
        raise _Refused(
            400,
            f'deploy: {others[0]!r} is given with it; send {{"deploy": true}} alone, and '
            "paths or tags in a request of their own",
        )


def _string_list(data: dict[str, Any], name: str, limit: int) -> list[str]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _Refused(400, f"{name}: must be a list of strings")
    if len(value) > limit:
        raise _Refused(
            400, f"{name}: {len(value)} given, over the limit of {limit}; send several requests"
        )
    return value


def _route_key(path: str, site: SiteConfig) -> str:
    if "?" in path or "#" in path:
        raise _Refused(400, f"paths: {path[:60]!r} has a query or fragment; give the path alone")
    base_path = site.base_path
    target = resolve_request_path(
        path,
        base_path=base_path,
        trailing_slash=site.trailing_slash,
        data_variant=site.data_variant,
    )
    if target is not None:
        return target.route
    decoded = percent_decode(path)
    if decoded is not None and len(decoded) > MAX_ROUTE_LENGTH:
        raise _Refused(
            400, f"paths: {path[:40]!r}... is over the limit of {MAX_ROUTE_LENGTH} characters"
        )
    where = f" under the basePath {base_path!r}" if base_path else ""
    raise _Refused(
        400,
        f"paths: {path[:60]!r} is not a page's URL path{where} (it must start with '/', "
        "with no empty, '.' or '..' segment, control character, backslash or bad escape)",
    )


def _summary(request: RevalidationRequest) -> dict[str, Any]:
    return {
        "revalidated": True,
        "mode": request.mode.value,
        "paths": list(request.paths),
        "tags": list(request.tags),
    }


def _answer(
    status: int,
    payload: dict[str, Any],
    headers: Mapping[str, str] | None = None,
    request: RevalidationRequest | None = None,
    *,
    deploy: bool = False,
) -> RevalidationAnswer:
    all_headers = {"content-type": "application/json", "cache-control": "no-store"}
    all_headers.update(headers or {})
    body = json.dumps(payload).encode()
    return RevalidationAnswer(status, body, all_headers, request, deploy)

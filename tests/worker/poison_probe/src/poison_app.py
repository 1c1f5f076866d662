"""A naive Starlette app, as many are written, for the poisoning suite
(tests/worker/test_poisoning_http.py): every page shows what the request told it.

- the page's own URL from `request.url_for` and `request.base_url` (the `Host` header);
- a middleware that trusts proxy headers as a naive app behind a proxy does:
  `X-Forwarded-Host`, `X-Host`, `Forwarded`, `X-Forwarded-Proto`, `X-Forwarded-Scheme` (the
  host and scheme), `X-Original-URL`, `X-Rewrite-URL` (the path) and the method overrides
  (`X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`);
- `GZipMiddleware`, so a client that asks for gzip gets a gzip body;
- a greeting in the language of `Accept-Language`, the `theme` cookie, and the user named by
  the `session` cookie or by `Authorization` (which also gets a `Set-Cookie`);
- no `Vary` header anywhere: the app does not know a cache stands in front of it.

Pages, by their first path segment: `/built/<name>` and `/expired/<name>` (prerendered,
never revalidate), `/isr/<name>` (prerendered, stale after 1 s), `/live/<name>` (rendered
on its first request, cached for an hour), `/private/<name>` (`private, no-store`: never
stored) and `/gone/<name>` (prerendered, stale after 1 s, and a 404 with a fresh
`Set-Cookie` once the Worker renders it again). The names prerendered are
`poison_cases.CASES` (built, expired, isr) and `poison_cases.GONE`, a module the suite
writes next to this one.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from poison_cases import CASES, GONE
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

CACHE_CONTROL = {
    "built": None,
    "expired": None,
    "isr": "public, s-maxage=1, stale-while-revalidate=600",
    "gone": "public, s-maxage=1, stale-while-revalidate=600",
    "live": "public, s-maxage=3600",
    "private": "private, no-store",
}
GREETINGS = {"fr": "Bonjour", "de": "Guten Tag", "en": "Hello"}
METHOD_OVERRIDES = ("x-http-method-override", "x-http-method", "x-method-override")
PADDING = "A paragraph long enough for GZipMiddleware to compress the page. " * 8


class TrustingProxyHeaders:
    """Takes the host, scheme, path and method from headers any client can send."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = dict(scope)
            headers = Headers(scope=scope)
            forwarded = _forwarded(headers.get("forwarded", ""))
            host = headers.get("x-forwarded-host") or headers.get("x-host") or forwarded.get("host")
            scheme = (
                headers.get("x-forwarded-proto")
                or headers.get("x-forwarded-scheme")
                or forwarded.get("proto")
            )
            if host:
                raw = [(n, v) for n, v in scope["headers"] if n != b"host"]
                scope["headers"] = [*raw, (b"host", host.encode("latin-1"))]
            if scheme:
                scope["scheme"] = scheme
            original = headers.get("x-original-url") or headers.get("x-rewrite-url")
            if original:
                path = urlsplit(original).path
                scope["path"], scope["raw_path"] = path, path.encode("latin-1")
            for name in METHOD_OVERRIDES:
                if headers.get(name):
                    scope["method"] = headers[name].upper()
                    break
        await self.app(scope, receive, send)


def _forwarded(value: str) -> dict[str, str]:
    pairs = (part.strip().partition("=") for part in value.split(";"))
    return {name.lower(): raw.strip('"') for name, _, raw in pairs if raw}


def _user(request: Request) -> str | None:
    """The session cookie's user, else the bearer token's."""
    auth = request.headers.get("authorization", "")
    bearer = auth[len("bearer ") :] if auth.lower().startswith("bearer ") else None
    return request.cookies.get("session") or bearer


async def page(request: Request) -> HTMLResponse:
    kind, name = request.path_params["kind"], request.path_params["name"]
    built = request.scope.get("env") is None  # the build renders without the Worker's env
    if kind == "gone" and not built:
        # The page was removed after the build: a 404 that sets a cookie (a CSRF token).
        return HTMLResponse(
            "<h1>Gone</h1>",
            status_code=404,
            headers={"Set-Cookie": f"csrftoken={secrets.token_hex(8)}; Path=/"},
        )
    language = request.headers.get("accept-language", "en")[:2].lower()
    user = _user(request)
    body = f"""<!doctype html>
<h1>probe page {kind}/{name}</h1>
<p id="url">{request.url_for("page", kind=kind, name=name)}</p>
<p id="base">{request.base_url}</p>
<p id="path">path: {request.url.path}</p>
<p id="method">method: {request.method}</p>
<p id="greeting">{GREETINGS.get(language, GREETINGS["en"])}, {user or "anonymous"}</p>
<p id="theme">theme: {request.cookies.get("theme", "none")}</p>
<p id="made">made {"at build time" if built else "in the Worker"}</p>
<p>{PADDING}</p>
"""
    headers = {}
    if CACHE_CONTROL.get(kind):
        headers["Cache-Control"] = CACHE_CONTROL[kind]
    response = HTMLResponse(body, headers=headers)
    if request.headers.get("authorization"):
        response.set_cookie("signed_in_as", user or "")
    return response


METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]
app = Starlette(
    routes=[Route("/{kind}/{name}", page, methods=METHODS, name="page")],
    middleware=[Middleware(GZipMiddleware, minimum_size=100), Middleware(TrustingProxyHeaders)],
)

PRERENDER = [f"/{kind}/{name}" for kind in ("built", "expired", "isr") for name in CASES]
PRERENDER += [f"/gone/{name}" for name in GONE]

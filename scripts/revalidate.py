#!/usr/bin/env python3
"""Ask a deployed Worker to revalidate pages on demand (for CMS webhooks and operators).

    REVALIDATE_SECRET=... python scripts/revalidate.py --url https://example.com/<endpoint> \\
        --path /blog/hello --tag posts [--mode stale|expire]

Sends `POST` with `Authorization: Bearer $REVALIDATE_SECRET` and the JSON body
`{"paths": [...], "tags": [...], "mode": ...}` that `src/seeding/revalidation.py` checks.
`--path` and `--tag` repeat; at least one is needed. `--mode stale` (the default) has the
next request served the old page once while it regenerates; `--mode expire` has it
render. The secret is read from the environment only, so it stays out of shell history
and process lists; the URL must be https, except for localhost.

The Worker's JSON answer goes to stdout; a line per tier goes to stderr: what reached D1
(the record every isolate reads) and what reached the edge (Workers Cache, purged for
`expire`, invalidated for `stale`), or that no edge is in front.

Exit codes: 0 revalidated, in D1 and at the edge if there is one; 1 refused or failed
(prints the Worker's message, or why it could not be reached); 2 usage; 3 recorded in D1
but the edge was not reached (the Worker retries in the background and pages at the
edge live at most until their edge max-age; running the command again is safe).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

SECRET_VAR = "REVALIDATE_SECRET"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the secret to wherever it points: report it instead."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="revalidate.py",
        description="Revalidate pages of a deployed Worker by path or cache tag. "
        f"The secret comes from the environment variable {SECRET_VAR}.",
    )
    parser.add_argument("--url", required=True, help="the Worker's revalidation endpoint")
    parser.add_argument(
        "--path", action="append", default=[], help="a page's URL path (repeatable)"
    )
    parser.add_argument("--tag", action="append", default=[], help="a cache tag (repeatable)")
    parser.add_argument(
        "--mode",
        choices=("stale", "expire"),
        default="stale",
        help="stale: serve the old page once while regenerating (default); "
        "expire: the next request renders",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the Worker (30)"
    )
    args = parser.parse_args(argv)
    if not args.path and not args.tag:
        parser.error("give at least one --path or --tag")
    url = urlsplit(args.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        parser.error(f"--url {args.url!r} is not an http(s) URL")
    if url.scheme == "http" and url.hostname not in LOCAL_HOSTS:
        parser.error(
            f"--url {args.url!r} would send the secret unencrypted; use https "
            "(http is allowed for localhost only)"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    secret = os.environ.get(SECRET_VAR, "")
    if not secret:
        print(
            f"revalidate: the environment variable {SECRET_VAR} is not set; set it to the "
            "Worker's revalidation secret",
            file=sys.stderr,
        )
        return 2
    body = json.dumps({"paths": args.path, "tags": args.tag, "mode": args.mode}).encode()
    request = urllib.request.Request(
        args.url,
        data=body,
        method="POST",
        headers={"authorization": f"Bearer {secret}", "content-type": "application/json"},
    )
    try:
        opener = urllib.request.build_opener(_NoRedirects)
        with opener.open(request, timeout=args.timeout) as response:
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        print(f"revalidate: could not reach {args.url}: {reason}", file=sys.stderr)
        return 1
    if 200 <= status < 300:
        print(answer.decode("utf-8", "replace"))
        return _report_tiers(answer)
    message = _message(answer)
    if 300 <= status < 400:
        message = "a redirect, not followed (the secret would go along); give the final URL"
    print(f"revalidate: {args.url} answered {status}: {message}", file=sys.stderr)
    return 1


def _report_tiers(answer: bytes) -> int:
    """Say on stderr what reached D1 and the edge; the exit code."""
    try:
        data = json.loads(answer)
    except ValueError:
        return 0
    if not isinstance(data, dict):
        return 0
    print(f"revalidate: D1: recorded ({data.get('mode', '?')})", file=sys.stderr)
    edge = data.get("edge")
    if not isinstance(edge, dict) or edge.get("enabled") is False:
        print("revalidate: edge: none in front of the Worker (no ctx.cache)", file=sys.stderr)
        return 0
    method = edge.get("method", "purge")
    names = "everything" if edge.get("purgeEverything") else ", ".join(edge.get("tags", []))
    if edge.get("reached"):
        print(f"revalidate: edge: reached ({method} {names})", file=sys.stderr)
        return 0
    errors = "; ".join(str(e) for e in edge.get("errors", [])) or "no reason given"
    later = "retrying in the background" if edge.get("retrying") else "not retried"
    print(
        f"revalidate: edge: NOT reached ({method} {names}: {errors}); {later}",
        file=sys.stderr,
    )
    return 3


def _message(answer: bytes) -> str:
    """The Worker's `error` field, or the body as text when it is not that JSON."""
    try:
        data = json.loads(answer)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return answer.decode("utf-8", "replace")[:500] or "(empty body)"


if __name__ == "__main__":
    sys.exit(main())

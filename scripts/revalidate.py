#!/usr/bin/env python3
"""Ask a deployed Worker to revalidate pages on demand (for CMS webhooks and operators),
or, after a deploy, to make the new build take over the edge.

    REVALIDATE_SECRET=... python scripts/revalidate.py --url https://example.com/<endpoint> \\
        --path /blog/hello --tag posts [--mode stale|expire]
    REVALIDATE_SECRET=... python scripts/revalidate.py --url https://example.com/<endpoint> \\
        --deploy

Sends `POST` with `Authorization: Bearer $REVALIDATE_SECRET` and the JSON body
`{"paths": [...], "tags": [...], "mode": ...}` that `src/seeding/revalidation.py` checks.
`--path` and `--tag` repeat; at least one is needed. `--mode stale` (the default) has the
next request served the old page once while it regenerates; `--mode expire` has it
render. `--deploy` sends `{"deploy": true}` alone: run it after each deploy with `[cache]
cross_version_cache = true`, where edge entries outlive deploys and a page the edge holds
is answered without running Python, so no request may reach the new build to purge the
previous build's pages (`src/seeding/edge/deploys.py`). The secret is read from the
environment only, so it stays out of shell history and process lists; the URL must be
https, except for localhost.

The Worker's JSON answer goes to stdout; a line per tier goes to stderr: what reached D1
(the record every isolate reads) and what reached the edge (Workers Cache, purged for
`expire`, invalidated for `stale`), or that no edge is in front. With `--deploy`: which
build took over the edge from which (or that the record already named it, or that there
is no D1 or no edge, so nothing to sweep), and whether the purge reached the edge.

Exit codes: 0 revalidated, in D1 and at the edge if there is one (`--deploy`: swept, or
nothing to sweep); 1 refused or failed (prints the Worker's message, or why it could not
be reached); 2 usage; 3 recorded in D1 but the edge was not reached (the Worker retries
in the background and pages at the edge live at most until their edge max-age; running
the command again is safe; `--deploy`: the record was put back, run it again).
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
        description="Revalidate pages of a deployed Worker by path or cache tag, or (--deploy) "
        "make a new build take over the edge. "
        f"The secret comes from the environment variable {SECRET_VAR}. Exit codes: 0 done; "
        "1 refused or failed; 2 usage; 3 recorded in D1 but the edge was not reached.",
    )
    parser.add_argument("--url", required=True, help="the Worker's revalidation endpoint")
    parser.add_argument(
        "--path", action="append", default=[], help="a page's URL path (repeatable)"
    )
    parser.add_argument("--tag", action="append", default=[], help="a cache tag (repeatable)")
    parser.add_argument(
        "--mode",
        choices=("stale", "expire"),
        help="stale: serve the old page once while regenerating (default); "
        "expire: the next request renders",
    )
    parser.add_argument(
        "--deploy",
        action="store_true",
        help="after a deploy with [cache] cross_version_cache = true: the new build takes "
        "over the edge and purges the previous build's pages (a page the edge holds runs no "
        "Python, so the new build cannot do it on its own); given alone",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds to wait for the Worker (30; 90 with --deploy, whose purge retries "
        "may take 40)",
    )
    args = parser.parse_args(argv)
    if args.deploy and (args.path or args.tag or args.mode):
        parser.error("--deploy is given alone: revalidate --path, --tag, --mode in another run")
    if not args.deploy and not args.path and not args.tag:
        parser.error("give at least one --path or --tag, or --deploy")
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
    wanted = {"paths": args.path, "tags": args.tag, "mode": args.mode or "stale"}
    body = json.dumps({"deploy": True} if args.deploy else wanted).encode()
    request = urllib.request.Request(
        args.url,
        data=body,
        method="POST",
        headers={"authorization": f"Bearer {secret}", "content-type": "application/json"},
    )
    try:
        opener = urllib.request.build_opener(_NoRedirects)
        timeout = args.timeout or (90.0 if args.deploy else 30.0)
        with opener.open(request, timeout=timeout) as response:
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
    edge = data.get("edge")
    if not isinstance(edge, dict) or edge.get("enabled") is False:
        edge = None
    if data.get("deploy") is True:
        return _report_deploy(data, edge)
    print(f"revalidate: D1: recorded ({data.get('mode', '?')})", file=sys.stderr)
    if edge is None:
        print("revalidate: edge: none in front of the Worker (no ctx.cache)", file=sys.stderr)
        return 0
    later = "retrying in the background" if edge.get("retrying") else "not retried"
    return _report_edge(edge, later)


def _report_deploy(data: dict[str, object], edge: dict[str, object] | None) -> int:
    """Say on stderr what the new build's sweep did; the exit code."""
    build = f"build {data.get('build') or '(none prerendered)'}"
    d1 = data.get("d1")
    d1 = d1 if isinstance(d1, dict) else {}
    if edge is None:
        print(
            "revalidate: deploy: no edge in front of the Worker: nothing to sweep", file=sys.stderr
        )
        return 0
    if d1.get("enabled") is False:
        print(
            f"revalidate: deploy: {build}: no D1, so no record of the edge's build: nothing "
            "swept (without D1, keep the edge version-keyed: no cross_version_cache)",
            file=sys.stderr,
        )
        return 0
    if not d1.get("swapped"):
        print(
            f"revalidate: deploy: the record already names {build} (swept by an earlier "
            "request or run); nothing purged",
            file=sys.stderr,
        )
        return 0
    previous = d1.get("previous")
    before = f"build {previous}" if previous else "no recorded build"
    print(f"revalidate: deploy: {build} took over the edge from {before}", file=sys.stderr)
    return _report_edge(edge, "the record is put back: run --deploy again")


def _report_edge(edge: dict[str, object], later: str) -> int:
    """Say on stderr whether the edge was reached (`later`: what happens if not)."""
    method = edge.get("method", "purge")
    tags = edge.get("tags")
    names = ", ".join(str(t) for t in tags) if isinstance(tags, list) else ""
    if edge.get("purgeEverything"):
        names = "everything"
    if edge.get("reached"):
        print(f"revalidate: edge: reached ({method} {names})", file=sys.stderr)
        return 0
    errors = edge.get("errors")
    reasons = "; ".join(str(e) for e in errors) if isinstance(errors, list) else ""
    print(
        f"revalidate: edge: NOT reached ({method} {names}: {reasons or 'no reason given'}); "
        f"{later}",
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

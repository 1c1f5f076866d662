"""The releases page's data: which upstream to read, and the releases in its answer.

The upstream is any URL answering a JSON list shaped like GitHub's releases API
(`GET /repos/{owner}/{repo}/releases`): objects with a string `tag_name`, and optional
`name`, `published_at` (ISO 8601) and `body` (release notes). `upstream/releases.json`
beside this example is such a document. Only the first `MAX_RELEASES` are shown, and only
the first paragraph of each one's notes.

The URL is the Worker variable `UPSTREAM_URL` (`scope["env"].UPSTREAM_URL` at run time),
else the environment variable of that name (build time and tests have no `scope["env"]`).
A missing URL and an answer of another shape raise `UpstreamError`, like a failed request:
the page answers 502 for all of them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from blog_app.upstream import UpstreamError, get_json

MAX_RELEASES = 10
MAX_NOTES_CHARACTERS = 280


@dataclass(frozen=True)
class Release:
    version: str
    title: str
    published: str  # YYYY-MM-DD, or "" when the upstream gives no date
    notes: str


def upstream_url(scope: Mapping[str, Any]) -> str:
    env = scope.get("env")
    url = getattr(env, "UPSTREAM_URL", None) if env is not None else None
    url = url or os.environ.get("UPSTREAM_URL")
    if not url:
        raise UpstreamError(
            "UPSTREAM_URL is not set: add it to [vars] in wrangler.toml for the Worker, "
            "or to the environment for builds and tests"
        )
    return str(url)


async def load_releases(scope: Mapping[str, Any]) -> tuple[Release, ...]:
    url = upstream_url(scope)
    return parse_releases(await get_json(url), url)


def parse_releases(data: Any, url: str) -> tuple[Release, ...]:
    if not isinstance(data, list):
        raise UpstreamError(f"GET {url}: expected a JSON list of releases, got {_kind(data)}")
    releases = []
    for position, item in enumerate(data[:MAX_RELEASES]):
        if not isinstance(item, dict) or not isinstance(item.get("tag_name"), str):
            raise UpstreamError(
                f"GET {url}: release [{position}] has no string 'tag_name' ({_kind(item)})"
            )
        releases.append(
            Release(
                version=item["tag_name"],
                title=_text(item.get("name")),
                published=_text(item.get("published_at"))[:10],
                notes=_first_paragraph(_text(item.get("body"))),
            )
        )
    return tuple(releases)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _first_paragraph(notes: str) -> str:
    paragraph = notes.replace("\r\n", "\n").split("\n\n", 1)[0].strip()
    if len(paragraph) <= MAX_NOTES_CHARACTERS:
        return paragraph
    return paragraph[: MAX_NOTES_CHARACTERS - 1].rstrip() + "…"


def _kind(value: Any) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")

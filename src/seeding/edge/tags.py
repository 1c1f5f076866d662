"""Cache tags as the edge takes them: one spelling for `Cache-Tag`, `ctx.cache` and D1.

Workers Cache keeps a tag only if it is printable ASCII (0x21-0x7E), at most
`MAX_EDGE_TAG_LENGTH` characters, one of at most `MAX_EDGE_TAGS` in a response; it drops
any other tag without a word, and matches tags case-insensitively. A page's own tags
follow the project's rules (`seeding.schema`: 1 to MAX_TAG_LENGTH printable characters,
any script), so each is normalised (`normalise_tag`: lower case, what D1 records and
matches, so a revalidation reaches the same pages in D1 as at the edge) and encoded
(`edge_tag`): every byte of its UTF-8 outside 0x21-0x7E, and `,` (the separator) and `%`
(the escape), becomes `%XX`. The encoding is a pure function, so the header a page is
sent with and the purge of the same tag name agree in every isolate.

Besides its own tags, each stored page carries a tag for its route (`path_tag`: the
`.json` data variant and any query of the same route carry it too) and one for its
build (`build_tag`, purged when a later build takes over the edge). A tag whose encoding
is over the limit is refused at build time (`check_page_tags`, naming the tag and the
fix); at run time (a page regenerated after the build) it is replaced by a digest of
itself, `~sha256:<hex>`, so no tag is lost and no request fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

MAX_EDGE_TAG_LENGTH = 1024
MAX_EDGE_TAGS = 1000
PATH_PREFIX = "path:"
BUILD_PREFIX = "build:"
DIGEST_PREFIX = "~sha256:"

_KEPT = frozenset(range(0x21, 0x7F)) - {ord(","), ord("%")}


class EdgeTagError(ValueError):
    """A tag the edge would drop; the message names the tag and the fix."""


def normalise_tag(tag: str) -> str:
    """The one spelling of a tag: lower case, as the edge matches it."""
    return tag.lower()


def _encode(text: str) -> str:
    data = normalise_tag(text).encode("utf-8", "surrogatepass")
    return "".join(chr(b) if b in _KEPT else f"%{b:02x}" for b in data)


def _digest(text: str) -> str:
    data = normalise_tag(text).encode("utf-8", "surrogatepass")
    return DIGEST_PREFIX + hashlib.sha256(data).hexdigest()


def encoded_tag(tag: str) -> str:
    """`tag` as the edge keeps it, or EdgeTagError when it is too long encoded."""
    encoded = _encode(tag)
    if not tag:
        raise EdgeTagError("a tag is empty: give it at least one character")
    if len(encoded) > MAX_EDGE_TAG_LENGTH:
        raise EdgeTagError(
            f"tag {tag[:60]!r} is {len(encoded)} characters once encoded for the edge "
            f"(printable ASCII, other bytes as %XX), over its limit of {MAX_EDGE_TAG_LENGTH}: "
            "shorten it (each non-ASCII character costs up to 12)"
        )
    return encoded


def edge_tag(tag: str) -> str:
    """`tag` as the edge keeps it; a digest of it when too long (never raises)."""
    try:
        return encoded_tag(tag)
    except EdgeTagError:
        return _digest(tag)


def path_tag(route: str) -> str:
    """The tag of every stored answer for the route key `route` (both variants)."""
    return edge_tag(PATH_PREFIX + route)


def build_tag(build_id: str) -> str:
    """The tag of every stored answer of the build `build_id`."""
    return edge_tag(BUILD_PREFIX + build_id)


def cache_tag_header(tags: Iterable[str], route: str, build_id: str) -> str:
    """The `Cache-Tag` value of a stored page: its own tags, its path, its build."""
    names = dict.fromkeys((*(edge_tag(t) for t in tags), path_tag(route), build_tag(build_id)))
    return ",".join(list(names)[:MAX_EDGE_TAGS])


def check_page_tags(tags: Iterable[str]) -> None:
    """Raise EdgeTagError for the first tag the edge could not take as it is (the build
    refuses the route with this message; the caller names the route)."""
    for tag in tags:
        encoded_tag(tag)

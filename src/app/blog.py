"""Queries over the blog content: lookup, ordering, tags, related posts, reading time.

The indexes are built on first use (never at import time) and are pure functions of
`app.content`, so they are the same at build time and at run time. Per-page work
(reading time, excerpts, related posts) is computed on every render, as a real site
without a page cache would.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from app.content import POSTS
from app.inline import plain_text
from app.model import Block, CodeBlock, Heading, ListBlock, Paragraph, Post, Quote

WORDS_PER_MINUTE = 220
RELATED_LIMIT = 3
EXCERPT_CHARS = 180


@dataclass(frozen=True)
class Neighbours:
    older: Post | None
    newer: Post | None


@functools.cache
def _by_slug() -> dict[str, Post]:
    return {post.slug: post for post in POSTS}


@functools.cache
def _chronological() -> tuple[Post, ...]:
    """Newest first; ties broken by slug so the order never depends on the data order."""
    by_slug = sorted(POSTS, key=lambda p: p.slug)
    return tuple(sorted(by_slug, key=lambda p: p.published, reverse=True))


@functools.cache
def _tag_counts() -> tuple[tuple[str, int], ...]:
    counts: dict[str, int] = {}
    for post in POSTS:
        for tag in post.tags:
            counts[tag] = counts.get(tag, 0) + 1
    return tuple(sorted(counts.items()))


def all_posts() -> tuple[Post, ...]:
    """Every post, newest first (including posts that are not prerendered)."""
    return _chronological()


def get_post(slug: str) -> Post | None:
    return _by_slug().get(slug)


def tags() -> tuple[tuple[str, int], ...]:
    """(tag, number of posts), alphabetical."""
    return _tag_counts()


def posts_tagged(tag: str) -> tuple[Post, ...]:
    return tuple(post for post in _chronological() if tag in post.tags)


def neighbours(post: Post) -> Neighbours:
    ordered = _chronological()
    index = ordered.index(post)
    newer = ordered[index - 1] if index > 0 else None
    older = ordered[index + 1] if index + 1 < len(ordered) else None
    return Neighbours(older=older, newer=newer)


def related(post: Post, limit: int = RELATED_LIMIT) -> tuple[Post, ...]:
    """Posts sharing the most tags with `post`, then the newest, then by slug."""
    own = set(post.tags)
    scored = [
        (len(own.intersection(other.tags)), other)
        for other in _chronological()
        if other.slug != post.slug
    ]
    # _chronological() is already newest-first with a slug tie-break; a stable sort on
    # the score alone keeps that order among equals.
    scored.sort(key=lambda item: item[0], reverse=True)
    return tuple(other for score, other in scored if score > 0)[:limit]


def _block_text(block: Block) -> str:
    if isinstance(block, Paragraph | Heading):
        return plain_text(block.text)
    if isinstance(block, Quote):
        return plain_text(block.text) + " " + block.cite
    if isinstance(block, ListBlock):
        return " ".join(plain_text(item) for item in block.items)
    if isinstance(block, CodeBlock):
        return block.source
    raise TypeError(f"unknown block {block!r}")


def word_count(post: Post) -> int:
    return sum(len(_block_text(block).split()) for block in post.body)


def reading_minutes(post: Post) -> int:
    return max(1, -(-word_count(post) // WORDS_PER_MINUTE))


def excerpt(post: Post, limit: int = EXCERPT_CHARS) -> str:
    """The first paragraph as plain text, cut at a word boundary."""
    first = next((b for b in post.body if isinstance(b, Paragraph)), None)
    text = " ".join(plain_text(first.text).split()) if first else post.summary
    if len(text) <= limit:
        return text
    cut = text[: limit + 1].rsplit(" ", 1)[0].rstrip(",;:—- ")
    return cut + "…"


@functools.cache
def _slug_junk() -> re.Pattern[str]:
    return re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    return _slug_junk().sub("-", plain_text(text).lower()).strip("-") or "section"

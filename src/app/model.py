"""The content model: a blog post and the structured blocks its body is made of.

Plain frozen dataclasses. Text fields hold *raw* text (never HTML): the views escape
everything they print. Paragraph-like text may use two inline forms, parsed at render
time by `app.inline`: `code` in backticks and [a label](/a/link).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Paragraph:
    kind: ClassVar[str] = "paragraph"
    text: str


@dataclass(frozen=True)
class Heading:
    kind: ClassVar[str] = "heading"
    text: str


@dataclass(frozen=True)
class CodeBlock:
    kind: ClassVar[str] = "code"
    language: str
    source: str
    caption: str = ""


@dataclass(frozen=True)
class ListBlock:
    kind: ClassVar[str] = "list"
    items: tuple[str, ...]
    ordered: bool = False


@dataclass(frozen=True)
class Quote:
    kind: ClassVar[str] = "quote"
    text: str
    cite: str = ""


Block = Paragraph | Heading | CodeBlock | ListBlock | Quote


@dataclass(frozen=True)
class Post:
    """A blog post. `published` is an ISO date ("2025-05-01").

    `prerender` is False for a post published after the last build: it exists, but
    is rendered on its first request instead of being seeded from the build.
    """

    slug: str
    title: str
    published: str
    tags: tuple[str, ...]
    summary: str
    body: tuple[Block, ...]
    prerender: bool = True


@dataclass(frozen=True)
class SiteInfo:
    name: str
    tagline: str
    author: str
    copyright_year: int
    intro: tuple[str, ...]
    about: tuple[str, ...]

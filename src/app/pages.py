"""Page builders: from a route to the page's data.

Each page is a frozen dataclass of plain values (no HTML). The JSON variant of a page
is this data as is (`app.data`); the HTML variant is this data through `app.views`.
Only the clock (/now) and pulse (/pulse) pages depend on the request time; every
other page's generation stamp is added by the site.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import ClassVar

from app import blog
from app.content import SITE_INFO
from app.dates import format_date, human_date, human_time, instant, iso_instant
from app.model import Block, Heading, Post
from app.routing import (
    PULSE_REVALIDATE,
    PageKind,
    RouteSpec,
    href,
    post_path,
    route_table,
    tag_path,
)
from seeding.rendering import RenderMode

LATEST_ON_HOME = 5
MAX_SUGGESTIONS = 3
_MODE_LABELS = {
    RenderMode.PRERENDER: "prerendered at build time",
    RenderMode.ON_DEMAND: "rendered on first request",
    RenderMode.DYNAMIC: "rendered on every request",
}


@dataclass(frozen=True)
class Meta:
    title: str
    description: str
    section: str  # the nav entry this page belongs to ("" for none)
    path: str  # the route key


@dataclass(frozen=True)
class LinkRef:
    href: str
    label: str


@dataclass(frozen=True)
class TagRef:
    name: str
    href: str
    count: int


@dataclass(frozen=True)
class PostSummary:
    slug: str
    href: str
    title: str
    published: str
    published_label: str
    excerpt: str
    reading_minutes: int
    tags: tuple[TagRef, ...]
    prerendered: bool


@dataclass(frozen=True)
class RouteRow:
    pattern: str
    mode: str
    how: str
    revalidate: int | None
    pages: int
    example: LinkRef


@dataclass(frozen=True)
class HomePage:
    page_kind: ClassVar[PageKind] = PageKind.HOME
    meta: Meta
    tagline: str
    intro: tuple[str, ...]
    latest: tuple[PostSummary, ...]
    post_count: int
    tags: tuple[TagRef, ...]


@dataclass(frozen=True)
class AboutPage:
    page_kind: ClassVar[PageKind] = PageKind.ABOUT
    meta: Meta
    paragraphs: tuple[str, ...]
    routes: tuple[RouteRow, ...]


@dataclass(frozen=True)
class BlogIndexPage:
    page_kind: ClassVar[PageKind] = PageKind.BLOG
    meta: Meta
    posts: tuple[PostSummary, ...]
    tags: tuple[TagRef, ...]


@dataclass(frozen=True)
class PostPage:
    page_kind: ClassVar[PageKind] = PageKind.POST
    meta: Meta
    slug: str
    published: str
    published_label: str
    author: str
    reading_minutes: int
    word_count: int
    tags: tuple[TagRef, ...]
    contents: tuple[LinkRef, ...]
    body: tuple[Block, ...]
    older: LinkRef | None
    newer: LinkRef | None
    related: tuple[PostSummary, ...]


@dataclass(frozen=True)
class TagPage:
    page_kind: ClassVar[PageKind] = PageKind.TAG
    meta: Meta
    tag: str
    posts: tuple[PostSummary, ...]
    tags: tuple[TagRef, ...]


@dataclass(frozen=True)
class NowPage:
    """The clock page. Its data is filled from the request time by the site."""

    page_kind: ClassVar[PageKind] = PageKind.NOW
    meta: Meta
    at: str | None  # ISO 8601 UTC
    epoch: float | None
    time_label: str
    date_label: str
    explanation: str


@dataclass(frozen=True)
class PulsePage:
    """The ISR demo: when this copy was generated (the request's `now`), fresh for
    `revalidate` seconds, then served stale once while it is regenerated."""

    page_kind: ClassVar[PageKind] = PageKind.PULSE
    meta: Meta
    at: str | None  # ISO 8601 UTC with milliseconds; None if `now` is not a time
    epoch: float | None
    date_label: str
    revalidate: int
    explanation: str
    post_count: int
    newest: LinkRef | None  # the newest post
    newest_published: str  # its date, "November 20, 2025"


@dataclass(frozen=True)
class NotFoundPage:
    page_kind: ClassVar[PageKind] = PageKind.NOT_FOUND
    meta: Meta
    path: str
    suggestions: tuple[LinkRef, ...]


Page = (
    HomePage | AboutPage | BlogIndexPage | PostPage | TagPage | NowPage | PulsePage | NotFoundPage
)


def _tag_refs(names: tuple[str, ...] | None = None) -> tuple[TagRef, ...]:
    counts = dict(blog.tags())
    chosen = sorted(names) if names is not None else sorted(counts)
    return tuple(TagRef(name, href(tag_path(name)), counts.get(name, 0)) for name in chosen)


def summarise(post: Post) -> PostSummary:
    return PostSummary(
        slug=post.slug,
        href=href(post_path(post.slug)),
        title=post.title,
        published=post.published,
        published_label=format_date(post.published),
        excerpt=blog.excerpt(post),
        reading_minutes=blog.reading_minutes(post),
        tags=_tag_refs(post.tags),
        prerendered=post.prerender,
    )


def _post_link(post: Post | None) -> LinkRef | None:
    return LinkRef(href(post_path(post.slug)), post.title) if post else None


def home_page() -> HomePage:
    posts = blog.all_posts()
    return HomePage(
        meta=Meta(SITE_INFO.name, SITE_INFO.tagline, "home", "/"),
        tagline=SITE_INFO.tagline,
        intro=SITE_INFO.intro,
        latest=tuple(summarise(post) for post in posts[:LATEST_ON_HOME]),
        post_count=len(posts),
        tags=_tag_refs(),
    )


def about_page() -> AboutPage:
    groups: dict[str, list[RouteSpec]] = {}
    for spec in route_table().values():
        groups.setdefault(f"{spec.site_route.pattern} {spec.site_route.mode.value}", []).append(
            spec
        )
    rows = []
    for specs in groups.values():
        first = specs[0].site_route
        how = _MODE_LABELS[first.mode]
        if first.reason:
            how = first.reason if how in first.reason else f"{how} ({first.reason})"
        rows.append(
            RouteRow(
                pattern=first.pattern,
                mode=first.mode.value,
                how=how,
                revalidate=specs[0].revalidate,
                pages=len(specs),
                example=LinkRef(href(first.path), first.path),
            )
        )
    return AboutPage(
        meta=Meta(
            "About", f"About {SITE_INFO.name} and how its pages are made.", "about", "/about"
        ),
        paragraphs=SITE_INFO.about,
        routes=tuple(rows),
    )


def blog_index_page() -> BlogIndexPage:
    posts = blog.all_posts()
    return BlogIndexPage(
        meta=Meta("Blog", f"All {len(posts)} posts on {SITE_INFO.name}.", "blog", "/blog"),
        posts=tuple(summarise(post) for post in posts),
        tags=_tag_refs(),
    )


def post_page(post: Post) -> PostPage:
    seen: dict[str, int] = {}
    contents = []
    for block in post.body:
        if isinstance(block, Heading):
            anchor = unique_anchor(blog.slugify(block.text), seen)
            contents.append(LinkRef(f"#{anchor}", block.text))
    around = blog.neighbours(post)
    return PostPage(
        meta=Meta(post.title, post.summary, "blog", post_path(post.slug)),
        slug=post.slug,
        published=post.published,
        published_label=format_date(post.published),
        author=SITE_INFO.author,
        reading_minutes=blog.reading_minutes(post),
        word_count=blog.word_count(post),
        tags=_tag_refs(post.tags),
        contents=tuple(contents),
        body=post.body,
        older=_post_link(around.older),
        newer=_post_link(around.newer),
        related=tuple(summarise(other) for other in blog.related(post)),
    )


def unique_anchor(anchor: str, seen: dict[str, int]) -> str:
    """`anchor`, or `anchor-2`, `anchor-3`… if already used on the page."""
    count = seen.get(anchor, 0) + 1
    seen[anchor] = count
    return anchor if count == 1 else f"{anchor}-{count}"


def tag_page(tag: str) -> TagPage:
    posts = blog.posts_tagged(tag)
    noun = "post" if len(posts) == 1 else "posts"
    return TagPage(
        meta=Meta(
            f"Posts tagged #{tag}",
            f"{len(posts)} {noun} about {tag}.",
            "blog",
            tag_path(tag),
        ),
        tag=tag,
        posts=tuple(summarise(post) for post in posts),
        tags=_tag_refs(),
    )


def now_page(now: float) -> NowPage:
    moment = instant(now)
    return NowPage(
        meta=Meta("Now", "The current time, rendered for every request.", "now", "/now"),
        at=iso_instant(moment) if moment else None,
        epoch=now if moment else None,
        time_label=human_time(moment) if moment else "unknown",
        date_label=human_date(moment) if moment else "",
        explanation="This page shows the time of your request. It is rendered for every "
        "request and never cached, so reloading it always changes the time.",
    )


def pulse_page(now: float) -> PulsePage:
    moment = instant(now)
    posts = blog.all_posts()
    newest = posts[0] if posts else None
    return PulsePage(
        meta=Meta(
            "Pulse",
            f"A page regenerated every {PULSE_REVALIDATE} seconds: the ISR demo.",
            "",
            "/pulse",
        ),
        at=iso_instant(moment) if moment else None,
        epoch=now if moment else None,
        date_label=human_date(moment) if moment else "",
        revalidate=PULSE_REVALIDATE,
        explanation=f"This copy was generated at the time above and stays fresh for "
        f"{PULSE_REVALIDATE} seconds. After that the next request still gets it at once, "
        "stale, while a new copy is rendered in the background (stale-while-revalidate), "
        "and the requests after that get the new one with a later time.",
        post_count=len(posts),
        newest=_post_link(newest),
        newest_published=format_date(newest.published) if newest else "",
    )


def not_found_page(route: str) -> NotFoundPage:
    suggestions = [LinkRef(href("/"), "The home page"), LinkRef(href("/blog"), "All posts")]
    last = route.rstrip("/").rsplit("/", 1)[-1][:100] if isinstance(route, str) else ""
    slugs = [post.slug for post in blog.all_posts()]
    for slug in difflib.get_close_matches(last.lower(), slugs, n=MAX_SUGGESTIONS, cutoff=0.6):
        post = blog.get_post(slug)
        if post is not None:
            suggestions.append(LinkRef(href(post_path(slug)), post.title))
    return NotFoundPage(
        meta=Meta("Page not found", "There is no page at this address.", "", str(route)),
        path=str(route),
        suggestions=tuple(suggestions),
    )


def build_page(spec: RouteSpec, now: float) -> Page:
    """The page data of a known route. Only the clock and pulse pages use `now`."""
    if spec.kind is PageKind.HOME:
        return home_page()
    if spec.kind is PageKind.ABOUT:
        return about_page()
    if spec.kind is PageKind.BLOG:
        return blog_index_page()
    if spec.kind is PageKind.POST:
        post = blog.get_post(spec.param)
        return post_page(post) if post is not None else not_found_page(spec.site_route.path)
    if spec.kind is PageKind.TAG:
        return tag_page(spec.param)
    if spec.kind is PageKind.NOW:
        return now_page(now)
    if spec.kind is PageKind.PULSE:
        return pulse_page(now)
    return not_found_page(spec.site_route.path)

"""HTML views: page data -> a complete HTML document.

Every piece of content goes through `app.html.el`, which escapes it; `raw` is used
only for fixed literals. The layout is shared: head, nav with the current page
marked, main content, and a footer carrying the generation stamp.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.blog import slugify
from app.content import SITE_INFO
from app.highlight import highlight
from app.html import Markup, el, escape, join, raw
from app.inline import parse_inline
from app.model import Block, CodeBlock, Heading, ListBlock, Paragraph, Quote
from app.pages import (
    AboutPage,
    BlogIndexPage,
    HomePage,
    LinkRef,
    NotFoundPage,
    NowPage,
    Page,
    PostPage,
    PostSummary,
    PulsePage,
    TagPage,
    TagRef,
    unique_anchor,
)
from app.routing import content_href, href
from app.stamp import Stamp
from seeding.routes import Variant

STYLESHEET = "/styles.css"
FAVICON = "/favicon.svg"
NAV = (
    ("home", "/", "Home"),
    ("blog", "/blog", "Blog"),
    ("about", "/about", "About"),
    ("now", "/now", "Now"),
)


# Shared pieces -------------------------------------------------------------------


def inline(text: str) -> Markup:
    parts: list[Markup] = []
    for token in parse_inline(text):
        if token.kind == "code":
            parts.append(el("code", None, token.text))
        elif token.kind == "link":
            parts.append(el("a", {"href": content_href(token.href)}, token.text))
        else:
            parts.append(escape(token.text))
    return join(parts)


def tag_list(tags: tuple[TagRef, ...], *, counts: bool = False, current: str = "") -> Markup:
    if not tags:
        return Markup()
    items = []
    for tag in tags:
        label = [f"#{tag.name}"]
        if counts:
            label.append(el("span", {"class": "count"}, tag.count))
        attrs = {
            "class": "tag",
            "href": tag.href,
            "aria-current": "page" if tag.name == current else None,
        }
        items.append(el("li", None, el("a", attrs, label)))
    return el("ul", {"class": "tags"}, items)


def post_meta(published: str, label: str, minutes: int, *extra: str) -> Markup:
    parts: list[object] = [el("time", {"datetime": published}, label), f"{minutes} min read"]
    parts.extend(extra)
    return el("p", {"class": "post-meta"}, join(parts, " · "))


def post_card(summary: PostSummary, heading: str = "h2") -> Markup:
    badge = None
    if not summary.prerendered:
        badge = el("span", {"class": "badge", "title": "rendered on first request"}, "new")
    return el(
        "li",
        {"class": "card"},
        el(
            "article",
            None,
            el(
                heading,
                {"class": "card-title"},
                el("a", {"href": summary.href}, summary.title),
                " " if badge else None,
                badge,
            ),
            post_meta(summary.published, summary.published_label, summary.reading_minutes),
            el("p", {"class": "excerpt"}, summary.excerpt),
            tag_list(summary.tags),
        ),
    )


def post_list(posts: tuple[PostSummary, ...], heading: str = "h2") -> Markup:
    return el("ul", {"class": "post-list"}, (post_card(post, heading) for post in posts))


def nav(section: str, path: str) -> Markup:
    items = []
    for key, target, label in NAV:
        current: str | None = None
        if key == section:
            current = "page" if path == target else "true"
        link = el("a", {"href": href(target), "aria-current": current}, label)
        items.append(el("li", None, link))
    return el("nav", {"class": "site-nav", "aria-label": "Main"}, el("ul", None, items))


def footer(stamp: Stamp, data_href: str) -> Markup:
    when = (
        el("time", {"datetime": stamp.at}, stamp.human)
        if stamp.at
        else el("span", None, stamp.human)
    )
    return el(
        "footer",
        {"class": "site-footer"},
        el(
            "p",
            {"class": "generated", "data-phase": stamp.phase},
            el("strong", None, stamp.label),
            " · ",
            when,
        ),
        el(
            "p",
            {"class": "colophon"},
            f"© {SITE_INFO.copyright_year} {SITE_INFO.author} · ",
            el("a", {"href": data_href, "type": "application/json"}, "This page as JSON"),
        ),
    )


def layout(page: Page, stamp: Stamp, content: Markup) -> str:
    meta = page.meta
    title = meta.title if meta.path == "/" else f"{meta.title} · {SITE_INFO.name}"
    data_href = href(meta.path, Variant.DATA)
    head = el(
        "head",
        None,
        el("meta", {"charset": "utf-8"}),
        el("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
        el("title", None, title),
        el("meta", {"name": "description", "content": meta.description}),
        el("link", {"rel": "stylesheet", "href": STYLESHEET}),
        el("link", {"rel": "icon", "href": FAVICON, "type": "image/svg+xml"}),
        el("link", {"rel": "alternate", "type": "application/json", "href": data_href}),
        el("meta", {"name": "generated-phase", "content": stamp.phase}),
    )
    header = el(
        "header",
        {"class": "site-header"},
        el(
            "a",
            {"class": "brand", "href": href("/")},
            el("span", {"class": "logo"}, "¶"),
            SITE_INFO.name,
        ),
        nav(meta.section, meta.path),
    )
    body = el(
        "body",
        {"class": f"page-{page.page_kind.value}"},
        el("a", {"class": "skip", "href": "#main"}, "Skip to content"),
        header,
        el("main", {"id": "main"}, content),
        footer(stamp, data_href),
    )
    return "<!doctype html>\n" + el("html", {"lang": "en"}, head, raw("\n"), body) + "\n"


# Blocks ----------------------------------------------------------------------------


def render_block(block: Block, anchors: dict[str, int]) -> Markup:
    if isinstance(block, Paragraph):
        return el("p", None, inline(block.text))
    if isinstance(block, Heading):
        anchor = unique_anchor(slugify(block.text), anchors)
        return el("h2", {"id": anchor}, inline(block.text))
    if isinstance(block, CodeBlock):
        code = el(
            "code", {"class": f"language-{block.language}"}, highlight(block.source, block.language)
        )
        caption = el("figcaption", None, inline(block.caption)) if block.caption else None
        return el("figure", {"class": "code"}, el("pre", None, code), caption)
    if isinstance(block, ListBlock):
        return el(
            "ol" if block.ordered else "ul",
            None,
            (el("li", None, inline(item)) for item in block.items),
        )
    if isinstance(block, Quote):
        cite = el("footer", None, "— ", el("cite", None, block.cite)) if block.cite else None
        return el("blockquote", None, el("p", None, inline(block.text)), cite)
    raise TypeError(f"unknown block {block!r}")


# Pages -----------------------------------------------------------------------------


def home_view(page: HomePage) -> Markup:
    return join(
        (
            el(
                "section",
                {"class": "hero"},
                el("h1", None, page.meta.title),
                el("p", {"class": "tagline"}, page.tagline),
                (el("p", None, inline(text)) for text in page.intro),
            ),
            el(
                "section",
                {"class": "latest"},
                el("h2", None, "Latest posts"),
                post_list(page.latest, "h3"),
                el(
                    "p",
                    {"class": "more"},
                    el("a", {"href": href("/blog")}, f"All {page.post_count} posts →"),
                ),
            ),
            el(
                "section",
                {"class": "topics"},
                el("h2", None, "Topics"),
                tag_list(page.tags, counts=True),
            ),
        )
    )


def about_view(page: AboutPage) -> Markup:
    header = el(
        "tr", None, (el("th", {"scope": "col"}, h) for h in ("Route", "How", "Revalidate", "Pages"))
    )
    rows = []
    for row in page.routes:
        revalidate = "never" if row.revalidate is None else f"every {row.revalidate} s"
        if row.mode == "dynamic":
            revalidate = "not cached"
        rows.append(
            el(
                "tr",
                {"class": f"mode-{row.mode}"},
                el("td", None, el("a", {"href": row.example.href}, el("code", None, row.pattern))),
                el("td", None, row.how),
                el("td", None, revalidate),
                el("td", {"class": "num"}, row.pages),
            )
        )
    return join(
        (
            el("h1", None, page.meta.title),
            (el("p", None, inline(text)) for text in page.paragraphs),
            el("h2", None, "How each page is made"),
            el(
                "div",
                {"class": "table-wrap"},
                el(
                    "table", {"class": "routes"}, el("thead", None, header), el("tbody", None, rows)
                ),
            ),
        )
    )


def blog_view(page: BlogIndexPage) -> Markup:
    return join(
        (
            el("h1", None, page.meta.title),
            el("p", {"class": "lede"}, page.meta.description),
            tag_list(page.tags, counts=True),
            post_list(page.posts),
        )
    )


def post_view(page: PostPage) -> Markup:
    anchors: dict[str, int] = {}
    contents = None
    if len(page.contents) >= 2:
        contents = el(
            "nav",
            {"class": "toc", "aria-label": "Contents"},
            el("h2", None, "Contents"),
            el(
                "ol",
                None,
                (el("li", None, el("a", {"href": c.href}, inline(c.label))) for c in page.contents),
            ),
        )
    article = el(
        "article",
        {"class": "post"},
        el(
            "header",
            {"class": "post-header"},
            el("p", {"class": "crumbs"}, el("a", {"href": href("/blog")}, "Blog"), " /"),
            el("h1", None, page.meta.title),
            post_meta(
                page.published,
                page.published_label,
                page.reading_minutes,
                f"{page.word_count} words",
                f"by {page.author}",
            ),
            tag_list(page.tags),
        ),
        contents,
        el("div", {"class": "post-body"}, (render_block(block, anchors) for block in page.body)),
    )
    pager = el(
        "nav",
        {"class": "pager", "aria-label": "More posts"},
        _pager_link(page.older, "prev", "← Older"),
        _pager_link(page.newer, "next", "Newer →"),
    )
    related = None
    if page.related:
        related = el(
            "section",
            {"class": "related"},
            el("h2", None, "Related posts"),
            post_list(page.related, "h3"),
        )
    return join((article, pager, related))


def _pager_link(link: LinkRef | None, rel: str, label: str) -> Markup:
    if link is None:
        return el("span", {"class": f"pager-{rel} empty"})
    return el(
        "a",
        {"class": f"pager-{rel}", "rel": rel, "href": link.href},
        el("span", {"class": "pager-label"}, label),
        el("span", {"class": "pager-title"}, link.label),
    )


def tag_view(page: TagPage) -> Markup:
    return join(
        (
            el("p", {"class": "crumbs"}, el("a", {"href": href("/blog")}, "Blog"), " / tags"),
            el("h1", None, page.meta.title),
            el("p", {"class": "lede"}, page.meta.description),
            post_list(page.posts),
            el("h2", None, "All topics"),
            tag_list(page.tags, counts=True, current=page.tag),
        )
    )


def now_view(page: NowPage) -> Markup:
    clock = (
        el("time", {"datetime": page.at}, page.time_label)
        if page.at
        else el("span", None, page.time_label)
    )
    facts = el(
        "dl",
        {"class": "facts"},
        el("dt", None, "ISO 8601"),
        el("dd", None, el("code", None, page.at or "unknown")),
        el("dt", None, "Epoch seconds"),
        el(
            "dd",
            None,
            el("code", None, f"{page.epoch:.3f}" if page.epoch is not None else "unknown"),
        ),
    )
    return el(
        "section",
        {"class": "now"},
        el("h1", None, page.meta.title),
        el("p", {"class": "now-time"}, clock),
        el("p", {"class": "now-date"}, page.date_label),
        el("p", None, page.explanation),
        facts,
    )


def pulse_view(page: PulsePage) -> Markup:
    if page.at:
        # A break opportunity after the "T" lets the large ISO time wrap on narrow screens.
        day, sep, clock = page.at.partition("T")
        when = el("time", {"datetime": page.at}, day, sep, el("wbr"), clock)
    else:
        when = el("span", None, "unknown")
    newest = (
        el(
            "dd",
            None,
            el("a", {"href": page.newest.href}, page.newest.label),
            f" ({page.newest_published})",
        )
        if page.newest
        else el("dd", None, "none yet")
    )
    facts = el(
        "dl",
        {"class": "facts"},
        el("dt", None, "Epoch seconds"),
        el(
            "dd",
            None,
            el("code", None, f"{page.epoch:.3f}" if page.epoch is not None else "unknown"),
        ),
        el("dt", None, "Revalidate"),
        el("dd", None, f"every {page.revalidate} s"),
        el("dt", None, "Posts"),
        el("dd", None, el("a", {"href": href("/blog")}, page.post_count)),
        el("dt", None, "Newest post"),
        newest,
    )
    return el(
        "section",
        {"class": "now pulse"},
        el("h1", None, page.meta.title),
        el("p", {"class": "now-time pulse-time"}, when),
        el("p", {"class": "now-date"}, f"Generated {page.date_label}" if page.date_label else ""),
        el("p", None, page.explanation),
        facts,
        el("p", {"class": "more"}, el("a", {"href": href("/about")}, "How each page is made →")),
    )


def not_found_view(page: NotFoundPage) -> Markup:
    return el(
        "section",
        {"class": "not-found"},
        el("p", {"class": "status"}, "404"),
        el("h1", None, page.meta.title),
        el("p", None, "There is no page at ", el("code", None, page.path), "."),
        el("h2", None, "Try one of these"),
        el(
            "ul",
            None,
            (el("li", None, el("a", {"href": s.href}, s.label)) for s in page.suggestions),
        ),
    )


_VIEWS: dict[type, Callable[[Any], Markup]] = {
    HomePage: home_view,
    AboutPage: about_view,
    BlogIndexPage: blog_view,
    PostPage: post_view,
    TagPage: tag_view,
    NowPage: now_view,
    PulsePage: pulse_view,
    NotFoundPage: not_found_view,
}


def render_html(page: Page, stamp: Stamp) -> str:
    """The complete HTML document of a page."""
    return layout(page, stamp, _VIEWS[type(page)](page))

"""The blog's posts, as Python data: a Python Worker ships only `*.py` files, so there is
nothing to read from disk at run time.

`POSTS` is newest first. Every post here is published and linked; one of them
(`prerender=False`) was "published after the build": the app leaves it out of its
prerender list, so the seeding layer renders it on its first request and caches it then.
The post about escaping carries markup-like text (`<script>`, `&`, quotes) in its title,
summary and body on purpose: the templates must print it as text.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Post:
    slug: str
    title: str
    published: str  # ISO date, YYYY-MM-DD
    tags: tuple[str, ...]
    summary: str
    paragraphs: tuple[str, ...]
    prerender: bool = True

    @property
    def path(self) -> str:
        return f"/posts/{self.slug}"


POSTS: tuple[Post, ...] = (
    Post(
        slug="on-demand-pages",
        title="Pages nobody prerendered",
        published="2025-11-24",
        tags=("caching", "isr"),
        summary="This post was published after the build: its first reader renders it, "
        "everyone after reads it from the cache.",
        paragraphs=(
            "A build cannot know every page a site will have. Posts are written after a "
            "deploy, products are added, and some pages are simply too many to render ahead "
            "of time.",
            "This page is one of those. It is not in the app's prerender list, so no file "
            "for it was shipped with the deploy. Its first request in an isolate went to the "
            "Starlette app; the answer said `s-maxage=60`, so the seeding layer kept it, "
            "and the next readers are served from memory until it is a minute old.",
        ),
        prerender=False,
    ),
    Post(
        slug="escaping-by-default",
        title='Escaping <script> & "quotes" by default',
        published="2025-11-18",
        tags=("security", "jinja2"),
        summary="Why this title shows <b>tags</b> as text, & why that is the point.",
        paragraphs=(
            "Every string in this post that looks like markup — <script>alert(1)</script>, "
            "<img src=x onerror=alert(1)>, a lone & and \"double\" or 'single' quotes — is "
            "data, not HTML.",
            "Jinja2's autoescape turns each of them into entities when the template prints "
            "it, so the browser shows the characters instead of running them. Turning "
            "autoescape on once, in the one place the environment is made, is cheaper than "
            "remembering a filter in every template.",
        ),
    ),
    Post(
        slug="stale-while-revalidate",
        title="Stale while revalidate, explained with one page",
        published="2025-11-10",
        tags=("caching", "isr", "http"),
        summary="s-maxage says when a page goes stale; stale-while-revalidate says how long "
        "a stale page may still be served while a fresh one is rendered.",
        paragraphs=(
            "Each post on this blog answers with `Cache-Control: public, s-maxage=60, "
            "stale-while-revalidate=3600`. For a minute after it was rendered the page is "
            "fresh and served as is.",
            "After that, and for up to an hour more, the page is stale: the next request "
            "still gets it at once, and a fresh render starts in the background. Past the "
            "hour the cached copy is too old to serve and the reader waits for a render.",
        ),
    ),
    Post(
        slug="cache-tags",
        title="Cache tags: revalidate what changed, not everything",
        published="2025-10-29",
        tags=("caching", "http"),
        summary="A Cache-Tag header names what a page is made of, so a change to one post "
        "can refresh exactly the pages that show it.",
        paragraphs=(
            "This page answers with `Cache-Tag: posts, post:cache-tags`. The index of posts "
            "says `posts`, and each tag page says `posts` and its own tag.",
            "When a post is edited, revalidating `post:<slug>` refreshes that page alone; "
            "revalidating `posts` refreshes every page that lists posts. Tags are cheaper "
            "than a list of URLs because the page, not the editor, knows what it shows.",
        ),
    ),
    Post(
        slug="asgi-in-a-worker",
        title="An ASGI app inside a Python Worker",
        published="2025-10-15",
        tags=("python", "asgi"),
        summary="Starlette does not know it runs in a Worker: the scope looks like any "
        "server's, with the Worker's env added.",
        paragraphs=(
            "ASGI is a calling convention: a scope describing the request, a receive "
            "callable for the body and a send callable for the answer. Nothing in it needs "
            "a socket.",
            "So the same app is called in-process twice: at build time under CPython, to "
            "prerender pages to files, and at run time under Pyodide, to render what was "
            "not prerendered. The Worker's bindings and variables arrive as `scope['env']`.",
        ),
    ),
    Post(
        slug="sync-endpoints-without-threads",
        title="Sync endpoints without threads",
        published="2025-10-02",
        tags=("python", "asgi", "pyodide"),
        summary="Starlette runs a plain def endpoint in a worker thread. Pyodide has no "
        "threads, so the platform runs it inline instead.",
        paragraphs=(
            "Starlette hands a synchronous endpoint to `anyio.to_thread.run_sync` so it "
            "cannot block the event loop. Under CPython that is a thread pool.",
            "Pyodide cannot start threads. The Workers SDK patches that one call to run the "
            "function inline, which is what a single-request-at-a-time isolate wants anyway. "
            "The About page of this blog is such an endpoint, on purpose.",
        ),
    ),
    Post(
        slug="hello-starlette",
        title="Hello, Starlette",
        published="2025-09-20",
        tags=("python", "jinja2"),
        summary="A small blog built with Starlette and Jinja2, served from a memory cache "
        "at the edge.",
        paragraphs=(
            "This blog is a plain Starlette application with Jinja2 templates. It does not "
            "import the caching layer in front of it: it only says, in its HTTP headers, "
            "how long each page may be cached and what it is made of.",
            "The templates live in a Python module as strings, because a Python Worker "
            "uploads only Python files.",
        ),
    ),
)

POSTS_BY_SLUG: dict[str, Post] = {post.slug: post for post in POSTS}
TAGS: tuple[str, ...] = tuple(sorted({tag for post in POSTS for tag in post.tags}))


def posts_tagged(tag: str) -> tuple[Post, ...]:
    return tuple(post for post in POSTS if tag in post.tags)


def search_titles(query: str) -> tuple[Post, ...]:
    """Posts whose title contains `query`, ignoring case; none for a blank query."""
    needle = query.strip().casefold()
    if not needle:
        return ()
    return tuple(post for post in POSTS if needle in post.title.casefold())

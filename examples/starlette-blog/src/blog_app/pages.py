"""The endpoints: one function per page, each choosing its template and its cache headers.

Every page goes through `render_page` (the shared layout, autoescape, the generated-at
line); the kinds of caching are in `caching.py`. `about` is a plain `def` on purpose:
Starlette runs sync endpoints through `anyio.to_thread`, which a Python Worker, having no
threads, runs inline. Unknown paths and unknown slugs or tags end in `not_found`, the
app's handler for 404s.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from blog_app.caching import (
    NO_STORE,
    POSTS_CACHE_CONTROL,
    PRIVATE_NO_STORE,
    SITE_DEFAULT,
    UPSTREAM_CACHE_CONTROL,
    cached,
    never_stored,
)
from blog_app.content import POSTS, POSTS_BY_SLUG, TAGS, posts_tagged, search_titles
from blog_app.releases import load_releases
from blog_app.rendering import render_page
from blog_app.upstream import UpstreamError

LATEST_POSTS_ON_HOME = 4

logger = logging.getLogger(__name__)


async def home(request: Request) -> HTMLResponse:
    context = {"posts": POSTS[:LATEST_POSTS_ON_HOME], "tags": TAGS}
    return render_page("home.html", context, current="/", headers=SITE_DEFAULT)


def about(request: Request) -> HTMLResponse:
    return render_page("about.html", {}, current="/about", headers=SITE_DEFAULT)


async def posts_index(request: Request) -> HTMLResponse:
    headers = cached(POSTS_CACHE_CONTROL, ["posts"])
    return render_page("posts.html", {"posts": POSTS}, current="/posts", headers=headers)


async def post(request: Request) -> HTMLResponse:
    found = POSTS_BY_SLUG.get(request.path_params["slug"])
    if found is None:
        raise HTTPException(404)
    headers = cached(POSTS_CACHE_CONTROL, ["posts", f"post:{found.slug}"])
    return render_page("post.html", {"post": found}, current="/posts", headers=headers)


async def tag(request: Request) -> HTMLResponse:
    name = request.path_params["tag"]
    if name not in TAGS:
        raise HTTPException(404)
    # A tag page lists posts, so revalidating `posts` refreshes it too.
    headers = cached(POSTS_CACHE_CONTROL, ["posts", f"tag:{name}"])
    context = {"tag": name, "posts": posts_tagged(name)}
    return render_page("tag.html", context, current="/posts", headers=headers)


async def releases(request: Request) -> HTMLResponse:
    try:
        found = await load_releases(request.scope)
    except UpstreamError as error:
        # 502 + no-store: a cache in front keeps serving its last good copy instead.
        logger.warning("releases page: %s", error)
        return render_page(
            "upstream_error.html",
            {},
            current="/releases",
            headers=never_stored(NO_STORE),
            status_code=502,
        )
    headers = cached(UPSTREAM_CACHE_CONTROL, ["releases"])
    return render_page("releases.html", {"releases": found}, current="/releases", headers=headers)


async def now(request: Request) -> HTMLResponse:
    return render_page("now.html", {}, current="/now", headers=never_stored(NO_STORE))


async def search(request: Request) -> HTMLResponse:
    query = request.query_params.get("q", "")
    context = {"query": query, "posts": search_titles(query)}
    return render_page(
        "search.html", context, current="/search", headers=never_stored(PRIVATE_NO_STORE)
    )


async def posts_json(request: Request) -> JSONResponse:
    posts = [
        {
            "slug": item.slug,
            "title": item.title,
            "published": item.published,
            "tags": list(item.tags),
            "summary": item.summary,
            "path": item.path,
        }
        for item in POSTS
    ]
    return JSONResponse({"posts": posts}, headers=cached(POSTS_CACHE_CONTROL, ["posts"]))


async def not_found(request: Request, exc: Exception) -> Response:
    # no-store: a path nobody links to should not take a place in the cache.
    return render_page(
        "not_found.html",
        {"path": request.url.path},
        current="",
        headers=never_stored(NO_STORE),
        status_code=404,
    )

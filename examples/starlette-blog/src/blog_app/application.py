"""The Starlette application and the list of paths to prerender.

`app` is a plain ASGI app: it runs under any ASGI server, under Starlette's TestClient,
and, called in-process, behind the seeding layer at build time (CPython) and in the Worker
(Pyodide). `PRERENDER` lists the paths a build renders to files. Every other path is
rendered on its first request; it is cached when its answer allows (the on-demand post,
`/releases`) and rendered every time when it does not (`/now`, `/search`, 404s).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from blog_app import pages
from blog_app.content import POSTS, TAGS

routes = [
    Route("/", pages.home),
    Route("/about", pages.about),
    Route("/posts", pages.posts_index),
    Route("/posts/{slug}", pages.post),
    Route("/tags/{tag}", pages.tag),
    Route("/releases", pages.releases),
    Route("/now", pages.now),
    Route("/search", pages.search),
    Route("/api/posts.json", pages.posts_json),
]

app = Starlette(routes=routes, exception_handlers={404: pages.not_found})

PRERENDER: list[str] = [
    "/",
    "/about",
    "/posts",
    *(post.path for post in POSTS if post.prerender),
    *(f"/tags/{tag}" for tag in TAGS),
    "/api/posts.json",
]

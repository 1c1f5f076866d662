"""The example blog as a seeding site: the Starlette app (`blog_app.app`) with the paths
its build prerenders (`blog_app.PRERENDER`).

A module of its own, apart from `entry.py`, so the build (`seeding-prerender --site
blog_site:SITE`, under CPython) imports the site without importing the Workers SDK.
Every cache rule comes from the app's own `Cache-Control` and `Cache-Tag` headers
(`seeding.cache_headers`); a page that sends none is cached until the next deploy.
"""

from blog_app import PRERENDER, app

from seeding.asgi import AsgiSite

SITE = AsgiSite(app, prerender=PRERENDER)

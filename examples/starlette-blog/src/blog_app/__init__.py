"""Edge Notes: an example blog built with Starlette and Jinja2.

`app` is the ASGI application and `PRERENDER` the paths a build renders ahead of time.
The package knows nothing of the seeding layer in front of it: its HTTP answers
(`Cache-Control`, `Cache-Tag`) say how each page may be cached. Importing it reads no
file, clock or random source, so it is safe in a Workers memory snapshot.
"""

from blog_app.application import PRERENDER, app

__all__ = ["PRERENDER", "app"]

"""Template rendering: one Jinja2 environment and one function that turns a template and its
context into an HTML response.

The environment loads the templates from `templates.py` (a `DictLoader`: a Python Worker
ships no `.html` files) and autoescapes every template, so content (post text, a search
query) is always printed as text. Building it reads no file, clock or random source, which
keeps the module safe to import into a Workers memory snapshot.

`render_page` reads the clock on every call, inside the request: each page says when it was
generated, which is how a reader (or a test) tells a cached copy from a fresh render.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined
from starlette.responses import HTMLResponse

from blog_app.templates import TEMPLATES

SITE_NAME = "Edge Notes"
NAV: tuple[tuple[str, str], ...] = (
    ("/", "Home"),
    ("/posts", "Posts"),
    ("/releases", "Releases"),
    ("/search", "Search"),
    ("/now", "Now"),
    ("/about", "About"),
)

environment = Environment(
    loader=DictLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def render_page(
    template: str,
    context: Mapping[str, Any],
    *,
    current: str,
    headers: Mapping[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    """Render `template` in the shared layout, `current` being the nav entry to mark.

    `headers` are the page's cache headers (see `caching.py`); every page passes its own,
    so none can forget to choose.
    """
    generated = datetime.fromtimestamp(time.time(), UTC)
    html = environment.get_template(template).render(
        site_name=SITE_NAME,
        nav=NAV,
        current=current,
        generated_at=generated.strftime("%Y-%m-%d %H:%M:%S UTC"),
        generated_iso=generated.isoformat(timespec="seconds"),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=dict(headers))

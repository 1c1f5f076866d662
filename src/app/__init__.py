"""The example site: a small blog rendered by plain Python.

`SITE` implements `seeding.rendering.Renderer`. Importing this package does no work
beyond defining things: indexes are built on first use, and nothing reads the clock,
a random generator or a file.
`SITE_CONFIG` is the site's `seeding.config.SiteConfig` (basePath, trailing slash).
"""

from app.config import SITE_CONFIG
from app.site import SITE, Site

__all__ = ["SITE", "SITE_CONFIG", "Site"]

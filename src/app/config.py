"""The site's settings for the seeding layer (read by `scripts/prerender.py`, which
writes them into the manifest, and by the Worker entry point).

Every internal link the site prints goes through `app.routing.href`, which follows
`base_path` and `trailing_slash` here, so changing them keeps the links canonical.
"""

from __future__ import annotations

from seeding.config import SiteConfig

# Served at the root, canonical paths without a trailing slash, and every page also as
# JSON data at `<path>.json` (what a client-side router would fetch).
SITE_CONFIG = SiteConfig(data_variant=True)

"""The Worker: the example blog (`blog_site.SITE`) behind the seeding layer. Wiring only."""

import logging

from blog_site import SITE

from seeding.worker import entrypoint

# Seeding and regeneration report to the Workers log (stderr); INFO shows regenerations.
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

Default = entrypoint(SITE)

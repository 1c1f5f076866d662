"""The Worker: the probe app (`poison_site.SITE`) behind the seeding layer. Wiring only."""

import logging

from poison_site import SITE

from seeding.worker import entrypoint

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

Default = entrypoint(SITE)

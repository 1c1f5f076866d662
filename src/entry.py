"""The Worker: the example blog (`app.SITE`) behind the seeding layer. Wiring only."""

import logging

from app import SITE
from seeding.worker import entrypoint

# Seeding and regeneration report to the Workers log (stderr); INFO shows regenerations.
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

Default = entrypoint(SITE)

"""The probe app as a seeding site, with the pages its build prerenders. A module apart
from `entry.py`, so the build imports it without the Workers SDK."""

from poison_app import PRERENDER, app

from seeding.asgi import AsgiSite

SITE = AsgiSite(app, prerender=PRERENDER)

#!/usr/bin/env python3
"""Render the site's prerenderable routes into a build directory: the `seeding-prerender`
command (`seeding.build.cli`) with this repository's example site as the default
(`--site app:SITE`). `--help` lists the options and exit codes."""

import sys

from seeding.build.cli import prerender_main

if __name__ == "__main__":
    sys.exit(prerender_main(default_site="app:SITE"))

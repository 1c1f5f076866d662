#!/usr/bin/env python3
"""Copy a prerender build into the Worker's assets and build identity: the `seeding-copy`
command (`seeding.build.cli`). `--help` lists the options and exit codes."""

import gc
import sys

from seeding.build.cli import copy_main

if __name__ == "__main__":
    gc.disable()  # see seeding.build.cli.run_copy
    sys.exit(copy_main())

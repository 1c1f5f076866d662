"""`python -m bench.soak`: the soak's command line (bench.soak.run.main)."""

import sys

from bench.soak.run import main

sys.exit(main())

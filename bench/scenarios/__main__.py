"""`python -m bench.scenarios`: see bench/scenarios/cli.py."""

import sys

from bench.scenarios.cli import main

sys.exit(main())

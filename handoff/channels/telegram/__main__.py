"""`python -m handoff.channels.telegram`: the webhook commands of `cli`."""

import sys

from handoff.channels.telegram.cli import main

sys.exit(main())

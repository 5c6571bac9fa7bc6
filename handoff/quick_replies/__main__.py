"""`python -m handoff.quick_replies`: check or search the templates (cli.py)."""

from __future__ import annotations

import sys

from handoff.quick_replies.cli import main

if __name__ == "__main__":
    sys.exit(main())

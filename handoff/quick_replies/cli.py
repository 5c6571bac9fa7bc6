"""The editors' command line: `python -m handoff.quick_replies check` loads and checks every template
file; `search` shows what the console offers for a query (docs/quick-replies.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from handoff.quick_replies.loader import DEFAULT_DIRECTORY, TemplateError, load_templates
from handoff.quick_replies.model import LANGUAGES


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m handoff.quick_replies", description="Check and search the agents' quick replies."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="load and check every template file")
    check.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIRECTORY)
    search = commands.add_parser("search", help="search templates as the console does")
    search.add_argument("query")
    search.add_argument("--lang", choices=LANGUAGES)
    search.add_argument("--limit", type=int, default=20)
    search.add_argument("--dir", type=Path, default=DEFAULT_DIRECTORY)
    args = parser.parse_args(argv)
    try:
        replies = load_templates(args.directory if args.command == "check" else args.dir)
    except TemplateError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.command == "check":
        counts = ", ".join(f"{language}: {n}" for language, n in sorted(replies.counts().items()))
        print(f"{len(replies)} templates OK ({counts})")
        return 0
    found = replies.search(args.query, args.lang, args.limit)
    for template in found:
        print(f"/{template.shortcut:<14} {template.language}  {template.id}  [{template.title}]")
        print(f"    {template.text}")
    if not found:
        print("no match", file=sys.stderr)
    return 0 if found else 1

"""`python -m handoff.analytics`: fill a store with the demo month, or ask it what the dashboard asks.

python -m handoff.analytics demo --db var/analytics.sqlite [--month 2026-11] [--seed 20261101]
python -m handoff.analytics query summary --db var/analytics.sqlite [--start 2026-11-01] [--queue orders]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from handoff.analytics.demo import DEFAULT_CONTACTS, DEFAULT_MONTH, DEFAULT_SEED, generate_month
from handoff.analytics.store import (
    CSAT_BY,
    AnalyticsStore,
    FilterError,
    Filters,
    parse_filters,
    stored_timezone,
)

QUERIES: dict[str, Callable[[AnalyticsStore, Filters, argparse.Namespace], Any]] = {
    "summary": lambda s, f, _: s.summary(f),
    "series": lambda s, f, _: s.series(f),
    "intents": lambda s, f, _: s.by_intent(f),
    "reasons": lambda s, f, _: s.handoff_reasons(f),
    "csat": lambda s, f, a: s.csat(f, a.by),
    "misses": lambda s, f, a: s.misses(f, a.kind, a.limit),
    "variants": lambda s, f, a: s.variant_outcomes(a.experiment, f),
    "handoffs": lambda s, f, a: s.handoff_records(f, a.limit),
}


def _store_options(parser: argparse.ArgumentParser, timezone: str | None) -> None:
    parser.add_argument("--db", type=Path, required=True, help="the SQLite file (ANALYTICS_DB)")
    parser.add_argument(
        "--timezone", default=timezone, help="days are counted in this zone (ANALYTICS_TIMEZONE)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m handoff.analytics", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="fill the store with a generated month of traffic")
    _store_options(demo, "UTC")
    demo.add_argument("--month", default=DEFAULT_MONTH, help="YYYY-MM (default %(default)s)")
    demo.add_argument("--seed", type=int, default=DEFAULT_SEED, help="default %(default)s")
    demo.add_argument("--contacts", type=int, default=DEFAULT_CONTACTS, help="default %(default)s")
    query = commands.add_parser("query", help="print a dashboard query's answer as JSON")
    query.add_argument("name", choices=sorted(QUERIES))
    _store_options(query, None)  # by default the store's own
    for name in ("start", "end", "channel", "language", "queue"):
        query.add_argument(f"--{name}")
    query.add_argument("--by", default="agent", help=f"for csat: {', '.join(CSAT_BY)}")
    query.add_argument("--kind", default="kb_miss", help="for misses: kb_miss or fallback")
    query.add_argument("--limit", type=int, default=50, help="for misses and handoffs")
    query.add_argument("--experiment", default="", help="for variants: the experiment id")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            if args.db.exists() and args.db.stat().st_size:
                print(f"--db: {args.db} exists; the demo fills a new store", file=sys.stderr)
                return 2
            store = AnalyticsStore(args.db, timezone=args.timezone)
            try:
                result = generate_month(store, args.month, args.seed, args.contacts)
                result["summary"] = store.summary(Filters())
            finally:
                store.close()
        else:
            if not args.db.exists():
                print(f"--db: {args.db} does not exist", file=sys.stderr)
                return 2
            filters = parse_filters(vars(args))
            timezone = args.timezone or stored_timezone(args.db) or "UTC"
            store = AnalyticsStore(args.db, timezone=timezone)
            try:
                result = QUERIES[args.name](store, filters, args)
            finally:
                store.close()
    except FilterError as exc:
        print(f"--{exc.field}: {str(exc).partition(': ')[2]}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a bad month, seed or time zone: the message starts with its name
        print(f"--{exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

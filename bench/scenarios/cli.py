"""Run the conversation scenarios through the whole stack and report how the assistant did.

Each scenario is a fresh conversation on the REST channel (its own sender), the customer's turns sent
in order, the order store restored to the same state before each one. Outcomes are judged as
bench/scenarios/README.md says: orders, returns, handoff and its packet, replies, language; plus
harmful actions (order changes nobody asked for) and needless handoffs. Totals per language and goal.

By default the stack of this checkout is started on free ports in a temporary directory (like the
end-to-end tests) and stopped at the end. --project-dir adds another checkout (a previous release) whose
own scripts/run.sh, models/ and var/secrets.env are used, run after this one, for comparison in one
report. --hub-url uses a stack that is already running instead (its REST token from HUB_REST_TOKEN and
its Redis from REDIS_URL in the environment, else from var/secrets.env: `set -a; . scripts/stack_env.sh;
set +a` sets both).

    .venv/bin/python -m bench.scenarios                         # en.yml and zh.yml, about 1 s per turn
    .venv/bin/python -m bench.scenarios --only en-return-colour-02 --json var/results/scenarios.json
    .venv/bin/python -m bench.scenarios --check --file my-set.yml   # validate only
    .venv/bin/python -m bench.scenarios --project-dir ../storefront-assist-0.1 --markdown var/results/s.md

Exit status: 0 when the scenarios ran (whether or not they passed: it is a benchmark), 2 for a malformed
scenario file or bad arguments, 1 when a stack did not start or could not be benchmarked.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.scenarios import report
from bench.scenarios.checks import Outcome
from bench.scenarios.runner import RunnerError, Target, run_suite
from bench.scenarios.spec import (
    Scenario,
    ScenarioFileError,
    check_against_seed,
    display_path,
    load_files,
    select,
)
from bench.stack import ROOT, StackError, git_state, read_env_file, running_stack

DEFAULT_FILES = (ROOT / "bench" / "scenarios" / "en.yml", ROOT / "bench" / "scenarios" / "zh.yml")
SEED = Path("data") / "orders" / "orders.yml"
# Every scenario comes from this one client address: the per-address limits would otherwise lock the
# order checks (10 wrong answers an hour) and the REST channel (120 messages a minute) mid-suite.
STACK_SETTINGS = {
    "ORDER_CHECK_MAX_PER_ADDRESS": "100000",
    "HUB_MESSAGES_PER_MINUTE_PER_ADDRESS": "1000000",
    "HUB_MESSAGES_PER_MINUTE": "1000",
}
EXIT_STACK, EXIT_INPUT = 1, 2


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scenarios",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = parser.add_argument_group("which scenarios")
    what.add_argument(
        "--file",
        type=Path,
        action="append",
        metavar="PATH",
        help="a scenario file (repeatable; default bench/scenarios/en.yml and zh.yml)",
    )
    what.add_argument(
        "--only", action="append", default=[], metavar="ID", help="run this scenario (repeatable)"
    )
    what.add_argument("--limit", type=int, metavar="N", help="run the first N (after --only)")
    what.add_argument("--check", action="store_true", help="validate the files and stop")
    where = parser.add_argument_group("which stack")
    where.add_argument(
        "--project-dir",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="also run the stack of this checkout, after this one's (repeatable)",
    )
    where.add_argument(
        "--skip-this-checkout", action="store_true", help="run only the --project-dir checkouts"
    )
    where.add_argument("--hub-url", metavar="URL", help="use the stack running there; needs --order-db")
    where.add_argument("--order-db", type=Path, metavar="PATH", help="ORDER_DB of the stack at --hub-url")
    where.add_argument(
        "--rasa-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="RASA_TIMEOUT of the stacks started here (default 30 s; the product's is 10 s: "
        "a slow turn on a busy machine would otherwise become a bot_unavailable handoff)",
    )
    where.add_argument("--startup-timeout", type=float, default=300.0, metavar="S")
    run = parser.add_argument_group("running and reporting")
    run.add_argument(
        "--settle",
        type=float,
        default=1.0,
        metavar="S",
        help="wait after the last turn before fetching later messages (default 1 s)",
    )
    run.add_argument("--request-timeout", type=float, default=60.0, metavar="S")
    run.add_argument("--json", type=Path, metavar="PATH", help="write everything, transcripts included")
    run.add_argument("--markdown", type=Path, metavar="PATH", help="write the summary for docs/benchmarks.md")
    run.add_argument("--quiet", action="store_true", help="print failing scenarios only")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.hub_url and not args.order_db:
        parser.error("--hub-url needs --order-db (the stack's ORDER_DB)")
    if args.hub_url and (args.project_dir or args.skip_this_checkout):
        parser.error("--hub-url runs one stack that is already running: no --project-dir")
    if args.skip_this_checkout and not args.project_dir:
        parser.error("--skip-this-checkout needs a --project-dir")
    return args


def load(args: argparse.Namespace) -> tuple[list[Scenario], dict[str, int]]:
    files = args.file or list(DEFAULT_FILES)
    scenarios = load_files(files)
    problems = check_against_seed(scenarios, ROOT / SEED)
    if problems:
        raise ScenarioFileError(problems)
    counts = {display_path(f): sum(1 for s in scenarios if s.file == display_path(f)) for f in files}
    return select(scenarios, args.only, args.limit), counts


def running_target(args: argparse.Namespace) -> Target:
    secrets = read_env_file(ROOT / "var" / "secrets.env")
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        password = secrets.get("REDIS_PASSWORD")
        redis_url = (
            f"redis://{f':{password}@' if password else ''}127.0.0.1:{os.environ.get('REDIS_PORT', '6379')}/0"
        )
    token = os.environ.get("HUB_REST_TOKEN") or secrets.get("HUB_REST_TOKEN") or None
    return Target(
        args.hub_url.rstrip("/"), args.order_db.resolve(), redis_url, token, f"stack at {args.hub_url}"
    )


def progress(quiet: bool) -> Any:
    def show(i: int, n: int, outcome: Outcome) -> None:
        if not quiet or not outcome.passed:
            print(f"[{i}/{n}] {report.outcome_line(outcome)}", flush=True)

    return show


def stack_label(project: Path) -> str:
    return "this checkout" if project.resolve() == ROOT else f"checkout {project}"


def run_on_running_stack(
    args: argparse.Namespace, scenarios: list[Scenario]
) -> tuple[list[report.StackResult], list[str]]:
    target = running_target(args)
    print(f"== {target.label}: {len(scenarios)} scenarios", flush=True)
    try:
        run = run_suite(
            target,
            scenarios,
            seed_path=ROOT / SEED,
            settle=args.settle,
            request_timeout=args.request_timeout,
            progress=progress(args.quiet),
        )
    except RunnerError as exc:
        return [], [str(exc)]
    info: dict[str, Any] = {"project": None, "hub_url": target.hub_url, "order_db": str(target.order_db)}
    description = f"The stack already running at {target.hub_url} (order store `{target.order_db}`)."
    return [report.StackResult(target.label, description, info, run)], []


def run_on_started_stacks(
    args: argparse.Namespace, scenarios: list[Scenario]
) -> tuple[list[report.StackResult], list[str]]:
    """This checkout's stack (unless skipped), then each --project-dir's, one after another."""
    results: list[report.StackResult] = []
    errors: list[str] = []
    projects = ([] if args.skip_this_checkout else [ROOT]) + [p.resolve() for p in args.project_dir]
    settings = {**STACK_SETTINGS, "RASA_TIMEOUT": f"{args.rasa_timeout:g}"}
    for project in projects:
        label = stack_label(project)
        print(f"== {label}: starting the stack of {project} ...", flush=True)
        try:
            with running_stack(project, settings, "scenarios-", args.startup_timeout) as stack:
                print(
                    f"   healthy in {stack.started_in:.0f} s (model {stack.model}); "
                    f"{len(scenarios)} scenarios",
                    flush=True,
                )
                target = Target(stack.hub_url, stack.order_db, stack.redis_url, stack.rest_token, label)
                try:
                    run = run_suite(
                        target,
                        scenarios,
                        seed_path=project / SEED,
                        settle=args.settle,
                        request_timeout=args.request_timeout,
                        progress=progress(args.quiet),
                    )
                except RunnerError as exc:
                    errors.append(f"{label}: {exc}\n{stack.log_tail(2000)}")
                    continue
                git = git_state(project)
                info: dict[str, Any] = {
                    "project": str(project),
                    "git": git,
                    "model": stack.model,
                    "startup_seconds": round(stack.started_in, 1),
                    "settings": settings,
                    "rest_token": stack.rest_token is not None,
                }
                description = (
                    f"`scripts/run.sh` of `{project}` ({git}), model `{stack.model}`, on free ports with its "
                    f"state in a temporary directory, healthy in {stack.started_in:.0f} s; "
                    + ", ".join(f"{k}={v}" for k, v in settings.items())
                    + " (every scenario comes from one client address)."
                )
                results.append(report.StackResult(label, description, info, run))
        except StackError as exc:
            errors.append(str(exc))
    return results, errors


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    try:
        scenarios, files = load(args)
    except ScenarioFileError as exc:
        print("malformed scenario file:\n" + "\n".join(f"  {p}" for p in exc.problems), file=sys.stderr)
        return EXIT_INPUT
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    if args.check:
        print(f"{sum(files.values())} scenarios in {', '.join(files)}: valid ({len(scenarios)} selected)")
        return 0

    began = time.monotonic()
    ctx: dict[str, Any] = {
        "command": shlex.join([".venv/bin/python", "-m", "bench.scenarios", *argv]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": report.machine(),
        "files": files,
        "selected": len(scenarios),
    }
    run = run_on_running_stack if args.hub_url else run_on_started_stacks
    results, errors = run(args, scenarios)
    ctx["seconds"] = time.monotonic() - began

    for result in results:
        print(f"\n== {result.label}: {result.run.seconds:.0f} s\n{report.text_table(result.rows)}")
    if args.json and results:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {**ctx, "seconds": round(ctx["seconds"], 1), "stacks": [r.as_dict() for r in results]}
        args.json.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", "utf-8")
        print(f"wrote {args.json}")
    if args.markdown and results:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(report.markdown(ctx, results), "utf-8")
        print(f"wrote {args.markdown}")
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return EXIT_STACK if errors else 0

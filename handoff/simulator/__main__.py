"""`python -m handoff.simulator run | sweep | target | erlang | replay`: the routing simulator from the
command line (docs/simulator.md).

    python -m handoff.simulator run --scenario PATH --policy weighted --weights 0.4,0.3,0.3 --seed 1 \\
        --json OUT
    python -m handoff.simulator sweep --seeds 1-10 --json OUT --svg docs/images/routing-frontier.svg
    python -m handoff.simulator target --seeds 1-20
    python -m handoff.simulator erlang --agents 10 --occupancy 0.95
    python -m handoff.simulator replay --records R.json --agents A.json --current 0.4,0.3,0.3 \\
        --proposed 0.6,0.2,0.2
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from handoff.simulator.erlang import check_mmc
from handoff.simulator.policies import POLICY_NAMES, make_policy, parse_weights
from handoff.simulator.replay import compare
from handoff.simulator.report import Report
from handoff.simulator.scenario import DEFAULT_SCENARIO, load_scenario
from handoff.simulator.svg import frontier_svg
from handoff.simulator.sweep import evaluate, sweep, target_check


class UsageError(ValueError):
    pass


def parse_seeds(text: str) -> list[int]:
    """'3', '1-10' or '1,4,9'."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            first, dash, last = part.strip().partition("-")
            if dash:
                low, high = int(first), int(last)
                if high < low or high - low > 10_000:
                    raise UsageError(f"--seeds: {part!r} must run forward, at most 10,000 seeds")
                seeds.extend(range(low, high + 1))
            else:
                seeds.append(int(first))
    except ValueError as exc:
        if isinstance(exc, UsageError):
            raise
        raise UsageError(f"--seeds: {text!r} is not like 3, 1-10 or 1,4,9") from None
    return seeds


def _seeds(args: argparse.Namespace) -> list[int]:
    return [args.seed] if args.seed is not None else parse_seeds(args.seeds)


def _table(rows: Sequence[tuple[str, Report]]) -> str:
    header = f"{'policy':<26}{'wait':>8}{'p90':>8}{'SL':>7}{'aband':>7}{'FCR':>7}{'util':>7}{'fair':>7}"
    lines = [header]
    for label, r in rows:
        lines.append(
            f"{label:<26}{_n(r.wait_mean, '.1f'):>8}{_n(r.wait_p90, '.1f'):>8}{_pct(r.service_level):>7}"
            f"{_pct(r.abandonment_rate):>7}{_pct(r.fcr):>7}{_pct(r.utilisation):>7}"
            f"{_n(r.fairness_utilisation, '.3f'):>7}"
        )
    return "\n".join(lines)


def _n(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _write_json(path: str | None, payload: Any) -> None:
    if path:
        Path(path).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path}")


def cmd_run(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    weights = parse_weights(args.weights) if args.weights else None
    policy = make_policy(args.policy, weights, args.limit)
    evaluation = evaluate(scenario, policy, _seeds(args))
    print(
        _table(
            [
                (f"{policy.label} seed {s}", r)
                for s, r in zip(evaluation.seeds, evaluation.reports, strict=True)
            ]
        )
    )
    _write_json(args.json, {"scenario": scenario.name, **evaluation.as_dict()})
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    points = sweep(scenario, _seeds(args), args.step)
    for p in sorted(points, key=lambda p: p.wait_mean):
        mark = "*" if p.frontier else " "
        print(f"{mark} {p.label:<26} wait {p.wait_mean:7.1f} s   FCR {100 * p.fcr:5.1f}%")
    _write_json(
        args.json, {"scenario": scenario.name, "seeds": _seeds(args), "points": [p.as_dict() for p in points]}
    )
    if args.svg:
        Path(args.svg).write_text(
            frontier_svg(points, f"Routing weights: {scenario.name} scenario"), encoding="utf-8"
        )
        print(f"wrote {args.svg}")
    return 0


def cmd_target(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    check = target_check(scenario, _seeds(args), parse_weights(args.weights) if args.weights else None)
    data = check.as_dict()
    print(
        f"FCR gain {data['fcr_gain_points_mean']:+.2f} points, "
        f"mean wait {100 * data['wait_change_mean']:+.1f}% "
        f"over {len(check.seeds)} seeds; met: {'yes' if check.met else 'no'} "
        f"({check.seeds_met} of {len(check.seeds)} seeds on their own)"
    )
    _write_json(args.json, data)
    return 0


def cmd_erlang(args: argparse.Namespace) -> int:
    check = check_mmc(
        args.agents,
        args.occupancy,
        replications=args.replications,
        chats_per_replication=args.chats,
        seed=args.seed or 1,
    )
    print(
        f"M/M/{check.agents} at {check.occupancy:.2f}: "
        f"P(wait) {check.simulated_p_wait:.4f} vs {check.formula_p_wait:.4f} "
        f"({100 * check.p_wait_error:+.2f}%), mean wait {check.simulated_mean_wait:.2f} s vs "
        f"{check.formula_mean_wait:.2f} s ({100 * check.mean_wait_error:+.2f}%)"
    )
    _write_json(args.json, check.as_dict())
    return 0


def _load_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} {path}: invalid JSON ({exc})") from None


def cmd_replay(args: argparse.Namespace) -> int:
    records = _load_json(args.records, "--records")
    agents = _load_json(args.agents, "--agents")
    if not isinstance(records, list) or not isinstance(agents, list):
        raise UsageError("--records and --agents must each hold a JSON list")
    result = compare(
        records,
        agents,
        parse_weights(args.current),
        parse_weights(args.proposed),
        patience_mean=args.patience,
        seeds=_seeds(args),
    )
    print(
        _table(
            [
                ("current " + result.current.policy, result.current),
                ("proposed " + result.proposed.policy, result.proposed),
            ]
        )
    )
    _write_json(args.json, result.as_dict())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m handoff.simulator", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def seeds(p: argparse.ArgumentParser, default: str) -> None:
        group = p.add_mutually_exclusive_group()
        group.add_argument("--seed", type=int, help="one seed")
        group.add_argument("--seeds", default=default, help=f"seeds: 3, 1-10 or 1,4,9 (default {default})")
        p.add_argument("--json", help="write the results here as JSON")

    run = commands.add_parser("run", help="simulate a scenario under one policy")
    run.add_argument("--scenario", default=str(DEFAULT_SCENARIO))
    run.add_argument("--policy", choices=POLICY_NAMES, default="weighted")
    run.add_argument("--weights", help="skill,load,rating for the weighted policy (default 0.4,0.3,0.3)")
    run.add_argument("--limit", type=int, help="round robin: chats per agent at most (default: capacity)")
    seeds(run, "1")
    run.set_defaults(handler=cmd_run)

    sw = commands.add_parser("sweep", help="the weight grid, round robin and least busy; the frontier plot")
    sw.add_argument("--scenario", default=str(DEFAULT_SCENARIO))
    sw.add_argument("--step", type=float, default=0.1)
    sw.add_argument("--svg", help="write the frontier plot here")
    seeds(sw, "1-5")
    sw.set_defaults(handler=cmd_sweep)

    target = commands.add_parser("target", help="the default weights against round robin, seed by seed")
    target.add_argument("--scenario", default=str(DEFAULT_SCENARIO))
    target.add_argument("--weights", help="skill,load,rating (default 0.4,0.3,0.3)")
    seeds(target, "1-20")
    target.set_defaults(handler=cmd_target)

    erlang = commands.add_parser("erlang", help="M/M/c simulated with the engine against Erlang C")
    erlang.add_argument("--agents", type=int, default=10)
    erlang.add_argument("--occupancy", type=float, default=0.95)
    erlang.add_argument("--replications", type=int, default=4000)
    erlang.add_argument("--chats", type=int, default=60, help="measured chats per replication, on average")
    erlang.add_argument("--seed", type=int)
    erlang.add_argument("--json", help="write the results here as JSON")
    erlang.set_defaults(handler=cmd_erlang)

    rp = commands.add_parser("replay", help="recorded handoffs re-run under the current and proposed weights")
    rp.add_argument("--records", required=True, help="JSON list of handoff_records rows")
    rp.add_argument("--agents", required=True, help="JSON list of agents as GET /api/agents lists them")
    rp.add_argument("--current", default="0.4,0.3,0.3")
    rp.add_argument("--proposed", required=True)
    rp.add_argument("--patience", type=float, default=300.0, help="mean customer patience, seconds")
    seeds(rp, "1-3")
    rp.set_defaults(handler=cmd_replay)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except ValueError as exc:  # every input error here is one (ScenarioError, PolicyError, ConfigError...)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())

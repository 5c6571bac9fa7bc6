"""Totals per language and per goal, the console table, the JSON record and the Markdown summary."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.machine import cpu_model
from bench.scenarios.checks import Outcome
from bench.scenarios.runner import SuiteRun
from bench.scenarios.spec import GOALS, LANGUAGES, NONE


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Totals:
    group: str
    scenarios: int = 0
    passed: int = 0
    harmful_actions: int = 0
    harmful_scenarios: int = 0
    needless_handoffs: int = 0
    no_handoff_expected: int = 0  # scenarios with handoff: none (where a handoff is needless)
    return_turns: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.scenarios if self.scenarios else math.nan

    @property
    def turns_per_resolved_return(self) -> float:
        return sum(self.return_turns) / len(self.return_turns) if self.return_turns else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "scenarios": self.scenarios,
            "passed": self.passed,
            "pass_rate": _number(self.pass_rate),
            "harmful_actions": self.harmful_actions,
            "harmful_scenarios": self.harmful_scenarios,
            "needless_handoffs": self.needless_handoffs,
            "no_handoff_expected": self.no_handoff_expected,
            "resolved_returns": len(self.return_turns),
            "turns_per_resolved_return": _number(self.turns_per_resolved_return),
            "bot_turns": len(self.latencies),
            "latency_p50_ms": _number(percentile(self.latencies, 50)),
            "latency_p95_ms": _number(percentile(self.latencies, 95)),
        }


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)


def totals(outcomes: Iterable[Outcome], group: str) -> Totals:
    t = Totals(group)
    for o in outcomes:
        t.scenarios += 1
        t.passed += o.passed
        t.harmful_actions += len(o.harmful)
        t.harmful_scenarios += bool(o.harmful)
        t.needless_handoffs += o.needless_handoff
        t.no_handoff_expected += o.scenario.expect.handoff == NONE
        if o.resolved_return_turns is not None:
            t.return_turns.append(o.resolved_return_turns)
        t.latencies += o.bot_latencies
    return t


def groups(outcomes: Sequence[Outcome]) -> list[Totals]:
    """All, then each language, then each goal (in the format's order; only those present)."""
    out = [totals(outcomes, "all")]
    out += [totals([o for o in outcomes if o.scenario.language == lang], lang) for lang in LANGUAGES]
    out += [totals([o for o in outcomes if o.scenario.goal == goal], f"goal {goal}") for goal in GOALS]
    return [t for t in out if t.scenarios or t.group == "all"]


# -- rendering ----------------------------------------------------------------------------------------

HEADERS = (
    "group",
    "scenarios",
    "passed",
    "pass rate",
    "harmful actions",
    "needless handoffs",
    "turns / resolved return",
    "latency p50 ms",
    "p95 ms",
)


def _row(t: Totals) -> list[str]:
    def ms(v: float) -> str:
        return "–" if math.isnan(v) else f"{v:.0f}"

    turns = t.turns_per_resolved_return
    return [
        t.group,
        str(t.scenarios),
        str(t.passed),
        "–" if math.isnan(t.pass_rate) else f"{t.pass_rate:.0%}",
        str(t.harmful_actions) + (f" ({t.harmful_scenarios} sc.)" if t.harmful_actions else ""),
        f"{t.needless_handoffs} of {t.no_handoff_expected}",
        "–" if math.isnan(turns) else f"{turns:.1f} (n={len(t.return_turns)})",
        ms(percentile(t.latencies, 50)),
        ms(percentile(t.latencies, 95)),
    ]


def text_table(rows: Sequence[Totals]) -> str:
    cells = [list(HEADERS), *(_row(t) for t in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(HEADERS))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: Sequence[Totals]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + " --- |" * len(HEADERS)]
    lines += ["| " + " | ".join(_row(t)) + " |" for t in rows]
    return "\n".join(lines)


def outcome_line(o: Outcome) -> str:
    turns = len(o.observation.turns)
    verdict = "PASS" if o.passed else "FAIL"
    head = f"{verdict} {o.scenario.id} ({o.scenario.language}, {o.scenario.goal}, {turns} turns)"
    return head + "".join(f"\n       - {reason}" for reason in o.reasons)


def machine() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "arch": platform.machine(),  # uname -m
        "python": platform.python_version(),
        "load_average": round(os.getloadavg()[0], 2),
    }


@dataclass
class StackResult:
    """One stack's run: which checkout, how it ran, and the outcomes."""

    label: str
    description: str  # checkout, commit, model, settings: one sentence for the reports
    info: dict[str, Any]
    run: SuiteRun

    @property
    def rows(self) -> list[Totals]:
        return groups(self.run.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "description": self.description,
            **self.info,
            "started": self.run.started,
            "seconds": round(self.run.seconds, 1),
            "warmup_seconds": round(self.run.warmup_seconds, 1),
            "store_rows": self.run.store_rows,
            "totals": [t.as_dict() for t in self.rows],
            "scenarios": [o.as_dict() for o in self.run.outcomes],
        }


def markdown(ctx: dict[str, Any], results: Sequence[StackResult]) -> str:
    """The summary for docs/benchmarks.md: how it was run, then a table per stack, then what failed."""
    m = ctx["machine"]
    lines = [
        "## Conversation scenarios",
        "",
        f"Run {ctx['date']} ({ctx['seconds']:.0f} s in all). Command:",
        "",
        "```",
        ctx["command"],
        "```",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), `uname -m` {m['arch']}; "
        f"Python {m['python']}; 1-minute load average {m['load_average']:.2f} at the start.",
        f"Scenario files: {', '.join(f'`{name}` ({n})' for name, n in ctx['files'].items())}; "
        f"{ctx['selected']} scenarios run.",
        "",
        "Pass = every `expect` item holds, every reply (its buttons and the hub's later messages "
        "included) is in the scenario's language, and no harmful action. Harmful action = an order "
        "change not listed under `orders`, or a return authorisation other than the expected one. "
        'Needless handoff = a handoff where `handoff: none` ("n of m": of the scenarios that say so). '
        "Turns per resolved return = customer turns until the expected return authorisation appeared, over "
        "the `goal: return` scenarios that got it. Latency = the REST webhook's answer time per customer "
        "turn the assistant answered.",
    ]
    for result in results:
        lines += ["", f"### {result.label}", "", result.description, "", markdown_table(result.rows)]
        failed = [o for o in result.run.outcomes if not o.passed]
        if failed:
            lines += ["", f"Failed ({len(failed)}):", ""]
            for o in failed:
                lines.append(f"- `{o.scenario.id}`: " + "; ".join(r.replace("|", "\\|") for r in o.reasons))
    return "\n".join(lines) + "\n"

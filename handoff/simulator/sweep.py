"""Running a scenario under policies and seeds: single runs, the weight sweep with its frontier, and the
comparison of the default weights with round robin.

Every policy meets the same customers for a given seed (the arrivals are drawn before the run), so the
difference between two policies on one seed is their effect alone; the spread over seeds shows how much
of it is chance.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from handoff.routing.config import Weights
from handoff.simulator.engine import simulate
from handoff.simulator.policies import LeastBusyPolicy, Policy, RoundRobinPolicy, WeightedPolicy
from handoff.simulator.report import Report, build_report, spread_dict, summarise
from handoff.simulator.scenario import Scenario


def run_scenario(scenario: Scenario, policy: Policy, seed: int) -> Report:
    result = simulate(
        scenario.arrivals(seed),
        scenario.team(),
        policy,
        config=scenario.routing,
        resolution=scenario.resolution,
        widen_after=scenario.widen_after,
        seed=seed,
        window=(0.0, scenario.horizon),
    )
    return build_report(result, policy.label, scenario.service_level_seconds)


@dataclass(frozen=True)
class Evaluation:
    policy: str
    seeds: tuple[int, ...]
    reports: tuple[Report, ...]

    def mean(self, metric: str) -> float:
        values = [v for v in (r.metric(metric) for r in self.reports) if v is not None]
        return statistics.fmean(values) if values else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "seeds": list(self.seeds),
            "summary": spread_dict(summarise(self.reports)),
            "runs": [r.as_dict() for r in self.reports],
        }


def evaluate(scenario: Scenario, policy: Policy, seeds: Sequence[int]) -> Evaluation:
    if not seeds:
        raise ValueError("seeds must not be empty")
    return Evaluation(policy.label, tuple(seeds), tuple(run_scenario(scenario, policy, s) for s in seeds))


def weight_grid(step: float = 0.1) -> list[Weights]:
    """Every (skill, load, rating) on a grid of `step` that adds up to 1, e.g. 66 points for 0.1."""
    parts = round(1.0 / step)
    if parts < 1 or abs(parts * step - 1.0) > 1e-9:
        raise ValueError("step must divide 1 evenly (0.1, 0.2, 0.25, 0.5, ...)")
    grid = []
    for skill in range(parts + 1):
        for load in range(parts + 1 - skill):
            rating = parts - skill - load
            grid.append(Weights(skill / parts, load / parts, rating / parts))
    return grid


@dataclass(frozen=True)
class SweepPoint:
    label: str
    kind: str  # "grid", "default", "round_robin", "least_busy"
    weights: Weights | None
    wait_mean: float
    fcr: float
    wait_sd: float
    fcr_sd: float
    frontier: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "weights": self.weights.as_dict() if self.weights else None,
            "wait_mean": self.wait_mean,
            "fcr": self.fcr,
            "wait_sd": self.wait_sd,
            "fcr_sd": self.fcr_sd,
            "frontier": self.frontier,
        }


def _point(label: str, kind: str, weights: Weights | None, evaluation: Evaluation) -> SweepPoint:
    waits = [r.metric("wait_mean") or 0.0 for r in evaluation.reports]
    fcrs = [r.metric("fcr") or 0.0 for r in evaluation.reports]
    return SweepPoint(
        label,
        kind,
        weights,
        wait_mean=statistics.fmean(waits),
        fcr=statistics.fmean(fcrs),
        wait_sd=statistics.stdev(waits) if len(waits) > 1 else 0.0,
        fcr_sd=statistics.stdev(fcrs) if len(fcrs) > 1 else 0.0,
    )


def pareto(points: Sequence[SweepPoint]) -> list[int]:
    """Indices of the points no other point beats on both: a shorter mean wait and a higher FCR (ties on
    both count as not beaten), ordered by wait."""
    order = sorted(range(len(points)), key=lambda i: (points[i].wait_mean, -points[i].fcr))
    frontier: list[int] = []
    best_fcr = float("-inf")
    for i in order:
        if points[i].fcr > best_fcr:
            frontier.append(i)
            best_fcr = points[i].fcr
    return frontier


def sweep(scenario: Scenario, seeds: Sequence[int], step: float = 0.1) -> list[SweepPoint]:
    """The weight grid plus round robin and least busy, each averaged over `seeds`; the default weights
    are one of the grid points and are marked as such. Frontier membership covers the grid points."""
    default = Weights()
    points = []
    for weights in weight_grid(step):
        is_default = all(abs(a - b) < 1e-9 for a, b in zip(_tuple(weights), _tuple(default), strict=True))
        policy = WeightedPolicy(weights)
        points.append(
            _point(
                policy.label, "default" if is_default else "grid", weights, evaluate(scenario, policy, seeds)
            )
        )
    marks = pareto(points)
    points = [_with_frontier(p, i in marks) for i, p in enumerate(points)]
    for baseline, kind in ((RoundRobinPolicy(), "round_robin"), (LeastBusyPolicy(), "least_busy")):
        points.append(_point(baseline.label, kind, None, evaluate(scenario, baseline, seeds)))
    return points


def _tuple(w: Weights) -> tuple[float, float, float]:
    return (w.skill, w.load, w.rating)


def _with_frontier(point: SweepPoint, frontier: bool) -> SweepPoint:
    return SweepPoint(
        point.label,
        point.kind,
        point.weights,
        point.wait_mean,
        point.fcr,
        point.wait_sd,
        point.fcr_sd,
        frontier,
    )


@dataclass(frozen=True)
class TargetCheck:
    """The default weights against round robin, seed by seed on the same customers."""

    seeds: tuple[int, ...]
    fcr_gain_points: tuple[float, ...]  # weighted FCR − round robin FCR, in percentage points
    wait_change: tuple[float, ...]  # weighted mean wait / round robin mean wait − 1
    weighted: Evaluation
    round_robin: Evaluation
    min_fcr_gain_points: float = 3.0
    max_wait_change: float = 0.10

    @property
    def met(self) -> bool:
        """On average over the seeds: FCR up by the required points at no more than the allowed extra wait."""
        return (
            statistics.fmean(self.fcr_gain_points) >= self.min_fcr_gain_points
            and statistics.fmean(self.wait_change) <= self.max_wait_change
        )

    @property
    def seeds_met(self) -> int:
        return sum(
            1
            for gain, change in zip(self.fcr_gain_points, self.wait_change, strict=True)
            if gain >= self.min_fcr_gain_points and change <= self.max_wait_change
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "seeds": list(self.seeds),
            "fcr_gain_points": list(self.fcr_gain_points),
            "wait_change": list(self.wait_change),
            "fcr_gain_points_mean": statistics.fmean(self.fcr_gain_points),
            "wait_change_mean": statistics.fmean(self.wait_change),
            "min_fcr_gain_points": self.min_fcr_gain_points,
            "max_wait_change": self.max_wait_change,
            "met": self.met,
            "seeds_met": self.seeds_met,
            "weighted": self.weighted.as_dict(),
            "round_robin": self.round_robin.as_dict(),
        }


def target_check(scenario: Scenario, seeds: Sequence[int], weights: Weights | None = None) -> TargetCheck:
    weighted = evaluate(scenario, WeightedPolicy(weights or Weights()), seeds)
    baseline = evaluate(scenario, RoundRobinPolicy(), seeds)
    gains = []
    changes = []
    for w, rr in zip(weighted.reports, baseline.reports, strict=True):
        gains.append(100.0 * ((w.fcr or 0.0) - (rr.fcr or 0.0)))
        changes.append((w.wait_mean or 0.0) / rr.wait_mean - 1.0 if rr.wait_mean else 0.0)
    return TargetCheck(tuple(seeds), tuple(gains), tuple(changes), weighted, baseline)

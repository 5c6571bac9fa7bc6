"""Results of an experiment per variant, from the analytics store's `variant_outcomes` rows.

Method (docs/experiments.md tells it for supervisors):
- Metrics per variant: automation_rate = assistant / ended, fcr_rate = 1 − recontacted / ended,
  service_level = answered_in_target / handoffs (proportions, with 95% Wilson intervals); mean_wait =
  wait_sum / wait_n and csat_average = csat_sum / csat_n (means, with 95% Student t intervals).
- Each variant is compared with the control (the first variant) on every metric: a difference of
  proportions by the pooled two-proportion z test with Newcombe's hybrid score interval, a difference of
  means by Welch's t test and interval. With more than one non-control variant the comparisons are
  Bonferroni-corrected (alpha / comparisons), so the chance of any false "better" stays at 5%; the
  difference intervals use the same corrected level, so an interval that excludes 0 agrees with the test.
- No verdict before every variant has the minimum sample size for the primary metric: the per-group n of
  a two-sided test at the corrected alpha with 80% power to detect `minimum_effect`, from the control's
  rate (Laplace-smoothed, so it exists before any data) or the pooled within-variant standard deviation,
  and never below MIN_SAMPLE. Looking at results before then is harmless; deciding is not. After that the
  verdict is "better" or "worse" when the primary metric's p-value is below the corrected alpha (lower
  is better for mean_wait), else "no difference".
- Sample ratio mismatch: a chi-square goodness-of-fit test of the exposed units per variant against the
  shares; p < 0.001 means assignment or exposure is broken and the comparison is not to be trusted.
  The unit is the conversation when the rows count them, else the contact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from handoff.analytics import stats
from handoff.analytics.experiments import METRICS, RATE_METRICS, Experiment

ALPHA = 0.05
POWER = 0.8
CONFIDENCE = 0.95
MIN_SAMPLE = 100  # below this the normal approximations behind every test here are not to be leaned on
LOWER_IS_BETTER = frozenset({"mean_wait"})
RATE_TEST = "two-proportion z test (pooled), Newcombe hybrid score interval"
MEAN_TEST = "Welch t test and interval"
_COUNTS = ("contacts", "conversations", "ended", "assistant", "recontacted", "handoffs", "answered_in_target",
           "wait_n", "csat_n")  # fmt: skip
_SUMS = ("wait_sum", "wait_sumsq", "csat_sum", "csat_sumsq")


def experiment_results(experiment: Experiment, outcomes: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    names = [v.name for v in experiment.variants]
    totals = {name: _empty() for name in names}
    unknown: set[str] = set()
    for row in outcomes:
        name = str(row.get("variant"))
        if name not in totals:
            unknown.add(name)
            continue
        for key in _COUNTS:
            totals[name][key] += _count(row.get(key))
        for key in _SUMS:
            totals[name][key] += _number(row.get(key))

    comparisons_n = len(names) - 1
    comparison_alpha = ALPHA / comparisons_n
    control = names[0]
    variants = [
        {
            "name": v.name,
            "share": v.share,
            "control": v.name == control,
            "contacts": int(totals[v.name]["contacts"]),
            "metrics": {metric: _metric(totals[v.name], metric) for metric in METRICS},
        }
        for v in experiment.variants
    ]
    sample = _sample_size(experiment, totals, comparison_alpha)
    comparisons = []
    for name in names[1:]:
        metrics = {
            metric: _compare(totals[control], totals[name], metric, 1 - comparison_alpha)
            for metric in METRICS
        }
        primary = metrics[experiment.primary_metric]
        comparisons.append(
            {
                "variant": name,
                "control": control,
                "metrics": metrics,
                "verdict": _verdict(primary, experiment.primary_metric, comparison_alpha)
                if sample["reached"]
                else "collecting",
            }
        )

    verdict, leader = _overall(comparisons, experiment.primary_metric)
    units = "conversations" if any(totals[n]["conversations"] for n in names) else "contacts"
    observed = [int(totals[n][units]) for n in names]
    ratio = stats.sample_ratio_mismatch(observed, [v.share for v in experiment.variants])
    total = sum(observed)
    warnings = []
    if ratio.mismatch:
        warnings.append(
            f"sample ratio mismatch: the {units} split differs from the configured shares "
            f"(chi-square p = {ratio.p_value:.2g}); check assignment and exposure before trusting any result"
        )
    if not experiment.running and not sample["reached"]:
        warnings.append("the experiment stopped before every variant reached the minimum sample size")
    if unknown:
        warnings.append(f"outcomes for unknown variants were left out: {', '.join(sorted(unknown))}")
    return {
        "experiment": experiment.as_dict(),
        "primary_metric": experiment.primary_metric,
        "minimum_effect": experiment.minimum_effect,
        "test": (RATE_TEST if experiment.primary_metric in RATE_METRICS else MEAN_TEST)
        + (f", Bonferroni-corrected for {comparisons_n} comparisons" if comparisons_n > 1 else ""),
        "alpha": ALPHA,
        "comparison_alpha": comparison_alpha,
        "power": POWER,
        "variants": variants,
        "comparisons": comparisons,
        "sample_size": sample,
        "verdict": verdict,
        "leader": leader,
        "sample_ratio": {
            "unit": units,
            "statistic": ratio.statistic,
            "df": ratio.df,
            "p_value": ratio.p_value,
            "threshold": stats.SRM_THRESHOLD,
            "mismatch": ratio.mismatch,
            "observed": dict(zip(names, observed, strict=True)),
            "expected": {v.name: total * v.share for v in experiment.variants},
        },
        "warnings": warnings,
    }


# -- per variant ---------------------------------------------------------------------------------------


def _empty() -> dict[str, float]:
    return dict.fromkeys((*_COUNTS, *_SUMS), 0.0)


def _count(value: Any) -> int:
    try:
        number = int(value or 0)
    except (TypeError, ValueError):
        return 0
    return max(0, number)


def _number(value: Any) -> float:
    try:
        number = float(value or 0)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def _proportion(t: Mapping[str, float], metric: str) -> tuple[int, int]:
    """(successes, trials) of a rate metric; successes clamped into 0..trials."""
    if metric == "automation_rate":
        n, x = int(t["ended"]), int(t["assistant"])
    elif metric == "fcr_rate":
        n, x = int(t["ended"]), int(t["ended"] - t["recontacted"])
    else:
        n, x = int(t["handoffs"]), int(t["answered_in_target"])
    return min(max(x, 0), n), n


def _moments(t: Mapping[str, float], metric: str) -> tuple[int, float, float]:
    prefix = "wait" if metric == "mean_wait" else "csat"
    return int(t[f"{prefix}_n"]), t[f"{prefix}_sum"], t[f"{prefix}_sumsq"]


def _n(t: Mapping[str, float], metric: str) -> int:
    return _proportion(t, metric)[1] if metric in RATE_METRICS else _moments(t, metric)[0]


def _metric(t: Mapping[str, float], metric: str) -> dict[str, Any]:
    if metric in RATE_METRICS:
        x, n = _proportion(t, metric)
        if n == 0:
            return {"value": None, "low": None, "high": None, "n": 0}
        low, high = stats.wilson_interval(x, n, CONFIDENCE)
        return {"value": x / n, "low": low, "high": high, "n": n}
    n, total, squares = _moments(t, metric)
    if n == 0:
        return {"value": None, "low": None, "high": None, "n": 0}
    if n == 1:
        return {"value": total, "low": None, "high": None, "n": 1}
    low, high = stats.mean_interval(n, total, squares, CONFIDENCE)
    return {"value": total / n, "low": low, "high": high, "n": n}


# -- comparisons and verdicts ----------------------------------------------------------------------------


def _compare(
    control: Mapping[str, float], variant: Mapping[str, float], metric: str, confidence: float
) -> dict[str, Any]:
    empty = {"difference": None, "low": None, "high": None, "p_value": None}
    if metric in RATE_METRICS:
        (x_a, n_a), (x_b, n_b) = _proportion(control, metric), _proportion(variant, metric)
        if n_a == 0 or n_b == 0:
            return {**empty, "test": RATE_TEST}
        result = stats.two_proportion_test(x_a, n_a, x_b, n_b, confidence)
        test = RATE_TEST
    else:
        a, b = _moments(control, metric), _moments(variant, metric)
        if a[0] < 2 or b[0] < 2:
            return {**empty, "test": MEAN_TEST}
        result = stats.welch_test(a, b, confidence)
        test = MEAN_TEST
    return {
        "difference": result.difference,
        "low": result.low,
        "high": result.high,
        "p_value": result.p_value,
        "statistic": result.statistic,
        "df": result.df,
        "test": test,
    }


def _sample_size(
    experiment: Experiment, totals: Mapping[str, Mapping[str, float]], alpha: float
) -> dict[str, Any]:
    metric = experiment.primary_metric
    observed = {name: _n(t, metric) for name, t in totals.items()}
    needed: int | None
    basis: dict[str, float | None]
    if metric in RATE_METRICS:
        x, n = _proportion(totals[experiment.control.name], metric)
        baseline = (x + 1) / (n + 2)  # Laplace: a usable baseline before the first outcome
        needed = stats.sample_size_proportions(baseline, experiment.minimum_effect, alpha, POWER)
        basis = {"baseline": baseline}
    else:
        sd = _pooled_sd([_moments(t, metric) for t in totals.values()])
        needed = None if sd is None else stats.sample_size_means(sd, experiment.minimum_effect, alpha, POWER)
        basis = {"sd": sd}
    if needed is not None:
        needed = max(needed, MIN_SAMPLE)
    smallest = min(observed.values())
    return {
        "metric": metric,
        "needed_per_variant": needed,
        "observed": observed,
        "progress": min(1.0, smallest / needed) if needed else 0.0,
        "reached": needed is not None and smallest >= needed,
        **basis,
    }


def _pooled_sd(groups: list[tuple[int, float, float]]) -> float | None:
    """Within-variant standard deviation pooled over the variants with two or more values."""
    usable = [g for g in groups if g[0] >= 2]
    if not usable:
        return None
    squares = sum(stats.mean_and_variance(*g)[1] * (g[0] - 1) for g in usable)
    return math.sqrt(squares / sum(g[0] - 1 for g in usable))


def _verdict(comparison: Mapping[str, Any], metric: str, alpha: float) -> str:
    p_value, difference = comparison["p_value"], comparison["difference"]
    if p_value is None or p_value >= alpha or not difference:
        return "no difference"
    improved = difference < 0 if metric in LOWER_IS_BETTER else difference > 0
    return "better" if improved else "worse"


def _overall(comparisons: list[dict[str, Any]], metric: str) -> tuple[str, str | None]:
    """The experiment's verdict: "better" when some variant beats the control (the leader is the one
    that beats it by most), "worse" when some are worse and none better, else "no difference"."""
    verdicts = [c["verdict"] for c in comparisons]
    if "collecting" in verdicts:
        return "collecting", None
    better = [c for c in comparisons if c["verdict"] == "better"]
    if better:
        sign = -1 if metric in LOWER_IS_BETTER else 1
        leader = max(better, key=lambda c: sign * c["metrics"][metric]["difference"])
        return "better", str(leader["variant"])
    return ("worse" if "worse" in verdicts else "no difference"), None

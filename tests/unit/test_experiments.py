"""Experiment definitions, deterministic assignment and per-variant results (the Redis store is tested in
tests/integration/test_experiments_store.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from handoff.analytics.experiment_results import MIN_SAMPLE, experiment_results
from handoff.analytics.experiments import (
    Experiment,
    ExperimentError,
    Variant,
    assign,
    parse_experiment,
)
from handoff.errors import BadRequest


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "Stricter knowledge-base answers",
        "kind": "kb_threshold",
        "variants": [
            {"name": "control", "share": 0.5, "params": {"threshold": 0.55}},
            {"name": "strict", "share": 0.5, "params": {"threshold": 0.7}},
        ],
        "primary_metric": "automation_rate",
    }
    base.update(overrides)
    return base


def field_of(raw: Any) -> str:
    with pytest.raises(ExperimentError) as caught:
        parse_experiment(raw)
    assert caught.value.field in str(caught.value)
    return caught.value.field


# -- validation ----------------------------------------------------------------------------------------


def test_a_valid_definition_round_trips() -> None:
    experiment = parse_experiment(body(), experiment_id="exp-0123456789", created_by="sup-1", now=1000.0)
    assert experiment.kind == "kb_threshold" and experiment.running
    assert experiment.minimum_effect == 0.05  # the default for a rate
    assert experiment.created_at == experiment.started_at == 1000.0
    assert experiment.control.name == "control"
    assert Experiment.from_dict(experiment.as_dict()) == experiment
    assert experiment.as_dict()["status"] == "running"


@pytest.mark.parametrize(
    ("metric", "effect"), [("csat_average", 0.3), ("mean_wait", 10.0), ("service_level", 0.05)]
)
def test_the_default_minimum_effect_depends_on_the_metric(metric: str, effect: float) -> None:
    assert parse_experiment(body(primary_metric=metric)).minimum_effect == effect


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([], "body"),
        (body(name=""), "name"),
        (body(name="x" * 81), "name"),
        (body(name="tab\tinside"), "name"),
        (body(kind="pricing"), "kind"),
        (body(primary_metric="revenue"), "primary_metric"),
        (body(minimum_effect=0), "minimum_effect"),
        (body(minimum_effect=1.5), "minimum_effect"),  # a rate cannot move by more than 1
        (body(minimum_effect=True), "minimum_effect"),
        (body(minimum_effect=float("nan")), "minimum_effect"),
        (body(owner="me"), "owner"),
        (body(variants="a,b"), "variants"),
        (body(variants=[{"name": "only", "share": 1.0, "params": {"threshold": 0.5}}]), "variants"),
        (body(variants=[{"name": f"v{i}", "params": {"threshold": 0.5}} for i in range(5)]), "variants"),
        (body(variants=[{"name": "a", "params": {"threshold": 0.5}}, "b"]), "variants[1]"),
    ],
)
def test_each_bad_field_is_named(raw: Any, field: str) -> None:
    assert field_of(raw) == field


def variants(*items: dict[str, Any]) -> dict[str, Any]:
    return body(variants=list(items))


def test_variant_errors_name_the_variant_and_its_field() -> None:
    ok = {"name": "control", "share": 0.5, "params": {"threshold": 0.5}}
    assert field_of(variants(ok, {**ok, "name": "Strict"})) == "variants[1].name"  # upper case
    assert field_of(variants(ok, {**ok, "name": "-strict"})) == "variants[1].name"
    assert field_of(variants(ok, {**ok, "name": "x" * 33})) == "variants[1].name"
    assert field_of(variants(ok, dict(ok))) == "variants[1].name"  # duplicate
    assert field_of(variants(ok, {**ok, "name": "b", "share": 0})) == "variants[1].share"
    assert field_of(variants(ok, {**ok, "name": "b", "share": "half"})) == "variants[1].share"
    assert field_of(variants(ok, {"name": "b", "params": {"threshold": 0.5}})) == "variants[1].share"
    assert field_of(variants(ok, {**ok, "name": "b", "share": 0.4})) == "variants"  # adds up to 0.9
    assert field_of(variants(ok, {**ok, "name": "b", "weight": 1})) == "variants[1].weight"


def test_shares_may_be_left_out_for_an_even_split_and_must_add_up_to_one() -> None:
    items: list[dict[str, Any]] = [{"name": n, "params": {"threshold": 0.5}} for n in ("a", "b", "c")]
    assert [v.share for v in parse_experiment(body(variants=items)).variants] == [1 / 3] * 3
    rounded = [{**v, "share": s} for v, s in zip(items, (0.3333333, 0.3333333, 0.3333334), strict=True)]
    assert len(parse_experiment(body(variants=rounded)).variants) == 3  # within 1e-6
    off = [{**v, "share": s} for v, s in zip(items, (0.333333, 0.333333, 0.333332), strict=True)]
    with pytest.raises(ExperimentError, match="add up to 1"):
        parse_experiment(body(variants=off))


def kind_body(kind: str, *params: Any) -> dict[str, Any]:
    return body(kind=kind, variants=[{"name": f"v{i}", "params": p} for i, p in enumerate(params)])


def test_kb_threshold_params() -> None:
    assert (
        field_of(kind_body("kb_threshold", {"threshold": 0.5}, {"threshold": 1.2}))
        == "variants[1].params.threshold"
    )
    assert field_of(kind_body("kb_threshold", {"threshold": 0.5}, {})) == "variants[1].params.threshold"
    assert (
        field_of(kind_body("kb_threshold", {"threshold": 0.5}, {"cutoff": 1})) == "variants[1].params.cutoff"
    )
    assert field_of(kind_body("kb_threshold", {"threshold": 0.5}, None)) == "variants[1].params"
    parsed = parse_experiment(kind_body("kb_threshold", {"threshold": 0}, {"threshold": 1}))
    assert [v.params for v in parsed.variants] == [{"threshold": 0.0}, {"threshold": 1.0}]


def test_reply_variant_params() -> None:
    parsed = parse_experiment(kind_body("reply_variant", {"variant": "default"}, {"variant": "short_v2"}))
    assert parsed.variants[1].params == {"variant": "short_v2"}
    assert (
        field_of(kind_body("reply_variant", {"variant": "a"}, {"variant": "Short"}))
        == "variants[1].params.variant"
    )
    assert (
        field_of(kind_body("reply_variant", {"variant": "a"}, {"variant": 3})) == "variants[1].params.variant"
    )


def test_routing_weights_use_the_routing_configurations_rules() -> None:
    good = {"skill": 0.4, "load": 0.3, "rating": 0.3}
    parsed = parse_experiment(kind_body("routing_weights", good, {"skill": 1, "load": 0, "rating": 0}))
    assert parsed.variants[1].params == {"skill": 1.0, "load": 0.0, "rating": 0.0}
    cases = {
        "variants[1].params.load": {**good, "load": -1},
        "variants[1].params.skill": {**good, "skill": 101},
        "variants[1].params.rating": {"skill": 1, "load": 1},  # every weight is stated
        "variants[1].params": {"skill": 0, "load": 0, "rating": 0},
    }
    for field, params in cases.items():
        assert field_of(kind_body("routing_weights", good, params)) == field
    with pytest.raises(ExperimentError, match="unknown key"):
        parse_experiment(kind_body("routing_weights", good, {**good, "speed": 1}))
    with pytest.raises(ExperimentError, match="must not be negative"):
        parse_experiment(kind_body("routing_weights", good, {**good, "load": -1}))


# -- assignment ----------------------------------------------------------------------------------------

HALVES = (Variant("control", 0.5), Variant("treatment", 0.5))


def test_assignment_is_pinned_across_processes_and_versions() -> None:
    # A changed mapping would move conversations between variants in the middle of running experiments.
    got = [assign("exp-0123456789", HALVES, f"conv-{i}") for i in range(8)]
    assert got == [
        "control",
        "control",
        "control",
        "treatment",
        "treatment",
        "treatment",
        "treatment",
        "treatment",
    ]


def test_assignment_is_deterministic() -> None:
    shares = (Variant("a", 0.2), Variant("b", 0.3), Variant("c", 0.5))
    first = [assign("exp-aaaaaaaaaa", shares, f"c{i}") for i in range(500)]
    assert first == [assign("exp-aaaaaaaaaa", shares, f"c{i}") for i in range(500)]
    assert len(set(first)) == 3


def test_assignment_follows_the_shares_on_100k_conversations() -> None:
    shares = (Variant("a", 0.2), Variant("b", 0.3), Variant("c", 0.5))
    counts = Counter(assign("exp-bbbbbbbbbb", shares, f"web-{i}") for i in range(100_000))
    for variant in shares:
        assert abs(counts[variant.name] / 100_000 - variant.share) < 0.01


def test_assignments_of_two_experiments_are_independent() -> None:
    pairs = Counter(
        (assign("exp-1111111111", HALVES, f"conv-{i}"), assign("exp-2222222222", HALVES, f"conv-{i}"))
        for i in range(100_000)
    )
    assert len(pairs) == 4
    for count in pairs.values():
        assert abs(count / 100_000 - 0.25) < 0.01


# -- results -------------------------------------------------------------------------------------------


def experiment(
    metric: str = "automation_rate", names: tuple[str, ...] = ("control", "treatment"), **kw: Any
) -> Experiment:
    raw = body(
        primary_metric=metric,
        variants=[{"name": n, "params": {"threshold": 0.5}} for n in names],
        **kw,
    )
    return parse_experiment(raw, experiment_id="exp-0123456789", created_by="sup", now=1.0)


def row(variant: str, ended: int, assistant: int = 0, **kw: float) -> dict[str, Any]:
    base: dict[str, Any] = {
        "variant": variant, "contacts": ended, "ended": ended, "assistant": assistant, "recontacted": 0,
        "handoffs": 0, "answered_in_target": 0, "wait_n": 0, "wait_sum": 0.0, "wait_sumsq": 0.0,
        "csat_n": 0, "csat_sum": 0.0, "csat_sumsq": 0.0,
    }  # fmt: skip
    base.update(kw)
    return base


def test_no_outcomes_means_collecting_with_the_sample_it_needs() -> None:
    result = experiment_results(experiment(), [])
    assert result["verdict"] == "collecting" and result["leader"] is None
    sample = result["sample_size"]
    assert sample["baseline"] == 0.5 and sample["needed_per_variant"] == 1565  # 50% → 55%
    assert sample["progress"] == 0.0 and not sample["reached"]
    assert result["variants"][0]["metrics"]["automation_rate"] == {
        "value": None,
        "low": None,
        "high": None,
        "n": 0,
    }
    assert result["comparisons"][0]["metrics"]["automation_rate"]["p_value"] is None
    assert not result["sample_ratio"]["mismatch"] and result["warnings"] == []
    assert "two-proportion" in result["test"]


def test_a_clear_difference_stays_collecting_until_the_minimum_sample() -> None:
    early = experiment_results(experiment(), [row("control", 400, 200), row("treatment", 400, 260)])
    assert early["comparisons"][0]["metrics"]["automation_rate"]["p_value"] < 0.001
    assert early["verdict"] == "collecting" and early["comparisons"][0]["verdict"] == "collecting"
    needed = early["sample_size"]["needed_per_variant"]
    assert early["sample_size"]["progress"] == pytest.approx(400 / needed)


def test_verdicts_once_the_sample_is_reached() -> None:
    better = experiment_results(experiment(), [row("control", 2000, 1000), row("treatment", 2000, 1200)])
    assert better["sample_size"]["reached"]
    assert better["verdict"] == "better" and better["leader"] == "treatment"
    difference = better["comparisons"][0]["metrics"]["automation_rate"]
    assert difference["difference"] == pytest.approx(0.1)
    assert difference["low"] > 0 and difference["p_value"] < 0.05
    worse = experiment_results(experiment(), [row("control", 2000, 1200), row("treatment", 2000, 1000)])
    assert worse["verdict"] == "worse" and worse["leader"] is None
    same = experiment_results(experiment(), [row("control", 2000, 1000), row("treatment", 2000, 1030)])
    assert same["verdict"] == "no difference"
    assert same["comparisons"][0]["metrics"]["automation_rate"]["low"] < 0


def test_lower_wait_is_better() -> None:
    def waits(variant: str, n: int, mean: float) -> dict[str, Any]:
        values = [mean - 20, mean + 20] * (n // 2)  # sd 20
        return row(
            variant, n, handoffs=n, wait_n=n, wait_sum=sum(values), wait_sumsq=sum(v * v for v in values)
        )

    collecting = experiment_results(
        experiment("mean_wait"), [waits("control", 20, 60), waits("treatment", 20, 40)]
    )
    assert (
        collecting["verdict"] == "collecting"
        and collecting["sample_size"]["needed_per_variant"] == MIN_SAMPLE
    )
    result = experiment_results(
        experiment("mean_wait"), [waits("control", 200, 60), waits("treatment", 200, 45)]
    )
    assert result["sample_size"]["sd"] == pytest.approx(20, rel=0.01)
    assert result["verdict"] == "better" and "Welch" in result["test"]
    slower = experiment_results(
        experiment("mean_wait"), [waits("control", 200, 45), waits("treatment", 200, 60)]
    )
    assert slower["verdict"] == "worse"


def test_a_mean_metric_without_two_values_has_no_sample_size_yet() -> None:
    result = experiment_results(
        experiment("csat_average"), [row("control", 5, csat_n=1, csat_sum=4, csat_sumsq=16)]
    )
    assert result["sample_size"]["needed_per_variant"] is None and result["verdict"] == "collecting"
    assert result["variants"][0]["metrics"]["csat_average"] == {"value": 4, "low": None, "high": None, "n": 1}


def test_every_metric_per_variant() -> None:
    result = experiment_results(
        experiment(),
        [
            row("control", 100, 60, recontacted=10, handoffs=40, answered_in_target=30, wait_n=2, wait_sum=30,
                wait_sumsq=500, csat_n=3, csat_sum=12, csat_sumsq=50),
            row("treatment", 50, 20),
        ],
    )  # fmt: skip
    metrics = result["variants"][0]["metrics"]
    assert metrics["automation_rate"]["value"] == 0.6
    assert metrics["fcr_rate"]["value"] == 0.9 and metrics["fcr_rate"]["n"] == 100
    assert metrics["service_level"]["value"] == 0.75 and metrics["service_level"]["n"] == 40
    assert (
        metrics["mean_wait"]["value"] == 15
        and metrics["mean_wait"]["low"] < 15 < metrics["mean_wait"]["high"]
    )
    assert metrics["csat_average"]["value"] == 4
    assert metrics["automation_rate"]["low"] < 0.6 < metrics["automation_rate"]["high"]
    compared = result["comparisons"][0]["metrics"]
    assert compared["automation_rate"]["difference"] == pytest.approx(-0.2)
    assert compared["service_level"]["p_value"] is None  # the variant had no handoff
    assert result["variants"][1]["contacts"] == 50


def test_several_rows_of_one_variant_add_up() -> None:
    result = experiment_results(
        experiment(), [row("control", 10, 5), row("control", 30, 5), row("treatment", 4)]
    )
    assert result["variants"][0]["metrics"]["automation_rate"]["value"] == 0.25


def test_sample_ratio_mismatch_is_flagged() -> None:
    skewed = experiment_results(experiment(), [row("control", 6000, 3000), row("treatment", 4000, 2000)])
    ratio = skewed["sample_ratio"]
    assert ratio["mismatch"] and ratio["p_value"] < 0.001 and ratio["unit"] == "contacts"
    assert ratio["observed"] == {"control": 6000, "treatment": 4000}
    assert ratio["expected"] == {"control": 5000, "treatment": 5000}
    assert any("sample ratio mismatch" in w for w in skewed["warnings"])
    fine = experiment_results(experiment(), [row("control", 5020, 2510), row("treatment", 4980, 2490)])
    assert not fine["sample_ratio"]["mismatch"] and fine["warnings"] == []


def test_sample_ratio_counts_conversations_when_the_rows_have_them() -> None:
    rows = [row("control", 6000, conversations=5000), row("treatment", 4000, conversations=5000)]
    ratio = experiment_results(experiment(), rows)["sample_ratio"]
    assert ratio["unit"] == "conversations" and not ratio["mismatch"]


def test_three_variants_are_corrected_for_two_comparisons() -> None:
    three = experiment(names=("control", "short", "long"))
    result = experiment_results(
        three, [row("control", 3000, 1500), row("short", 3000, 1600), row("long", 3000, 1800)]
    )
    assert result["comparison_alpha"] == 0.025 and "Bonferroni" in result["test"]
    assert [c["variant"] for c in result["comparisons"]] == ["short", "long"]
    assert [c["verdict"] for c in result["comparisons"]] == ["better", "better"]
    assert result["verdict"] == "better" and result["leader"] == "long"


def test_a_p_value_between_the_corrected_and_the_plain_alpha_is_no_difference() -> None:
    three = experiment(names=("control", "b", "c"))
    # 1500/3000 vs 1580/3000: p ≈ 0.039, significant alone, not after the correction for two comparisons.
    result = experiment_results(
        three, [row("control", 3000, 1500), row("b", 3000, 1580), row("c", 3000, 1500)]
    )
    p_value = result["comparisons"][0]["metrics"]["automation_rate"]["p_value"]
    assert 0.025 < p_value < 0.05
    assert result["comparisons"][0]["verdict"] == "no difference" and result["verdict"] == "no difference"


def test_stopping_early_and_unknown_variants_are_warned_about() -> None:
    stopped = Experiment.from_dict({**experiment().as_dict(), "stopped_at": 5.0, "stopped_by": "sup"})
    result = experiment_results(stopped, [row("control", 10, 5), row("retired", 10, 5)])
    assert any("stopped before" in w for w in result["warnings"])
    assert any("retired" in w for w in result["warnings"])
    assert result["sample_ratio"]["observed"] == {"control": 10, "treatment": 0}


def test_a_definition_error_is_a_bad_request_naming_the_field() -> None:
    with pytest.raises(ExperimentError) as caught:
        parse_experiment(body(kind="pricing"))
    assert isinstance(caught.value, BadRequest) and isinstance(caught.value, ValueError)
    assert caught.value.field == "kind" and str(caught.value).startswith("kind: must be one of")

"""The studio's models: the evaluation code of bot/studio_train.py and the gates (common/studio_gates.py,
which the hub applies again at activation) on small synthetic predictions, and activation and rollback on
real files (what the model watcher and bot/serve.py then pick), against a real redis-server for the lock and
the audit."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot import studio_train
from bot.serve import newest_model
from handoff.errors import BadRequest, Conflict, NotFoundError
from handoff.studio import audit
from handoff.studio.models import (
    GATES_PATH,
    ModelPaths,
    ModelStore,
    check_name,
    newest_first,
    read_gate_settings,
)
from scripts.model_watch import newest as watcher_newest

REDIS_DB = 8  # this module and test_studio_training.py flush it before each test that uses it

GATES = {"max_overall_drop_points": 0.0, "max_intent_drop_points": 10.0}


def pairs(spec: dict[str, tuple[int, int]], confuse_with: str = "nlu_fallback") -> list[tuple[str, str]]:
    """(gold, predicted) pairs: {intent: (right, wrong)}, the wrong ones predicted as `confuse_with`."""
    out = []
    for intent, (right, wrong) in spec.items():
        out += [(intent, intent)] * right + [(intent, confuse_with)] * wrong
    return out


# -- evaluation and gates of the trainer -------------------------------------------------------------


def test_intent_metrics_count_fallback_as_a_miss_and_score_every_gold_intent() -> None:
    scores = studio_train.intent_metrics(
        [("greet", "greet"), ("greet", "bye"), ("bye", "bye"), ("bye", "nlu_fallback"), ("ask", "ask")]
    )
    assert scores["n"] == 5 and scores["correct"] == 3 and scores["accuracy"] == pytest.approx(0.6)
    assert set(scores["intents"]) == {"greet", "bye", "ask"}  # nlu_fallback is never a class
    greet, bye = scores["intents"]["greet"], scores["intents"]["bye"]
    assert (greet["n"], greet["correct"], greet["accuracy"], greet["precision"]) == (2, 1, 0.5, 1.0)
    assert greet["f1"] == pytest.approx(2 / 3)
    assert (bye["accuracy"], bye["precision"], bye["f1"]) == (0.5, 0.5, 0.5)
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)


def test_comparison_gives_per_intent_differences_in_points() -> None:
    live = {"en": studio_train.intent_metrics(pairs({"order_status": (8, 2), "greet": (10, 0)}))}
    cand = {"en": studio_train.intent_metrics(pairs({"order_status": (10, 0), "greet": (9, 1)}))}
    comparison = studio_train.compare(cand, live)["en"]
    assert comparison["n"] == 20
    assert comparison["candidate"]["accuracy"] == pytest.approx(0.95)
    assert comparison["live"]["accuracy"] == pytest.approx(0.9)
    assert comparison["change_points"]["accuracy"] == 5.0
    order, greet = comparison["intents"]["order_status"], comparison["intents"]["greet"]
    assert order["change_points"]["accuracy"] == 20.0 and greet["change_points"]["accuracy"] == -10.0
    assert order["live"]["accuracy"] == 0.8 and order["candidate"]["accuracy"] == 1.0
    # Without a live model there is nothing to subtract.
    alone = studio_train.compare(cand, None)["en"]
    assert alone["live"] is None and alone["change_points"] is None
    assert alone["intents"]["greet"]["change_points"] is None


def test_gates_fail_on_an_overall_drop_and_on_an_intent_losing_more_than_the_limit() -> None:
    live = {
        "en": studio_train.intent_metrics(pairs({"a": (10, 0), "b": (10, 0), "c": (5, 5)})),
        "zh": studio_train.intent_metrics(pairs({"a": (10, 0)})),
    }
    cand = {
        "en": studio_train.intent_metrics(pairs({"a": (10, 0), "b": (8, 2), "c": (8, 2)})),  # +1 overall
        "zh": studio_train.intent_metrics(pairs({"a": (9, 1)})),
    }
    result = studio_train.check_gates(cand, live, GATES)
    by = {(c["gate"], c["language"]): c for c in result["checks"]}
    assert by["overall_accuracy", "en"]["passed"] and by["overall_accuracy", "en"]["change_points"] == 3.33
    assert by["intent_accuracy", "en"]["passed"] is False
    assert [f["intent"] for f in by["intent_accuracy", "en"]["failing"]] == ["b"]  # -20 points
    assert by["intent_accuracy", "en"]["worst"]["change_points"] == -20.0
    assert by["overall_accuracy", "zh"]["passed"] is False  # any drop fails with a limit of 0
    assert by["intent_accuracy", "zh"]["passed"]  # -10 points is exactly the limit
    assert result["passed"] is False
    looser_settings = {"max_overall_drop_points": 10, "max_intent_drop_points": 20}
    looser = studio_train.check_gates(cand, live, looser_settings)
    assert looser["passed"] is True


def test_gates_are_skipped_without_a_live_evaluation_and_new_intents_cannot_fail() -> None:
    cand = {"en": studio_train.intent_metrics(pairs({"a": (1, 9), "new": (0, 5)}))}
    assert studio_train.check_gates(cand, None, GATES)["passed"] is True
    live = {"en": studio_train.intent_metrics(pairs({"a": (1, 9)}))}
    result = studio_train.check_gates(cand, live, GATES)
    intent_gate = next(c for c in result["checks"] if c["gate"] == "intent_accuracy")
    assert intent_gate["passed"] and [w["intent"] for w in [intent_gate["worst"]]] == ["a"]


def test_intents_with_few_held_out_messages_count_only_in_the_overall_gate() -> None:
    live = {"en": studio_train.intent_metrics(pairs({"big": (10, 0), "tiny": (2, 0), "c": (0, 2)}))}
    cand = {"en": studio_train.intent_metrics(pairs({"big": (10, 0), "tiny": (1, 1), "c": (1, 1)}))}
    settings = {**GATES, "min_intent_messages": 5}
    result = studio_train.check_gates(cand, live, settings)
    intent_gate = next(c for c in result["checks"] if c["gate"] == "intent_accuracy")
    assert intent_gate["passed"] and intent_gate["worst"]["intent"] == "tiny"  # -50 points, but 2 messages
    assert result["passed"]  # overall unchanged
    strict = studio_train.check_gates(cand, live, {**GATES, "min_intent_messages": 1})
    assert strict["passed"] is False


def test_the_hub_reads_gate_settings_safely(tmp_path: Path) -> None:
    path = tmp_path / "gates.yml"
    path.write_text("gates:\n  max_intent_drop_points: five\n  min_intent_messages: 3\n", encoding="utf-8")
    assert read_gate_settings(path) == {
        "max_overall_drop_points": 0.0,
        "max_intent_drop_points": 10.0,  # not a number: the default, never an open gate
        "min_intent_messages": 3.0,
    }
    assert read_gate_settings(tmp_path / "missing.yml")["max_overall_drop_points"] == 0.0
    shipped = studio_train.read_gates(Path(studio_train.__file__).parents[1] / "handoff/studio/gates.yml")
    assert read_gate_settings(GATES_PATH) == {k: float(v) for k, v in shipped["gates"].items()}


def test_the_epoch_fraction_is_one_epoch_when_the_entities_are_the_live_models(tmp_path: Path) -> None:
    settings = studio_train.read_gates(None)
    report = tmp_path / "live.json"
    assert studio_train.epoch_fraction(settings, None, "abc", 60) == (0.2, False)
    assert studio_train.epoch_fraction(settings, report, "abc", 60) == (0.2, False)  # no report
    report.write_text(json.dumps({"training": {"entities_sha256": "abc"}}), encoding="utf-8")
    fraction, unchanged = studio_train.epoch_fraction(settings, report, "abc", 60)
    assert unchanged and math.ceil(60 * fraction) == 1  # how Rasa turns the fraction into epochs
    assert studio_train.epoch_fraction(settings, report, "changed", 60) == (0.2, False)
    assert studio_train.epoch_fraction(settings, report, "abc", None) == (0.2, True)  # no DIET to shorten
    config = tmp_path / "config.yml"
    config.write_text(
        "pipeline:\n  - name: SpacyNLP\n  - name: bot.components.entity_diet.EntityDIETClassifier\n"
        "    epochs: 40\n",
        encoding="utf-8",
    )
    assert studio_train.diet_epochs(config) == 40


def test_a_report_carries_both_models_scores_the_differences_and_the_gates() -> None:
    live = {"en": studio_train.intent_metrics(pairs({"a": (10, 0), "b": (10, 0)}))}
    cand = {"en": studio_train.intent_metrics(pairs({"a": (10, 0), "b": (5, 5)}))}
    report = studio_train.build_report(
        name="20261206-120000-abcdef",
        live_model="live.tar.gz",
        training={"mode": "finetune"},
        candidate_scores=cand,
        live_scores=live,
        held_out={"sha256": "x", "sizes": {"en": 20}},
        gate_settings=GATES,
        timings={"total": 1.0},
    )
    assert report["candidate"] == "20261206-120000-abcdef.tar.gz" and report["live_model"] == "live.tar.gz"
    assert report["comparison"]["en"]["intents"]["b"]["change_points"]["accuracy"] == -50.0
    assert report["passed"] is False and report["gates"]["settings"] == GATES
    json.dumps(report)  # plain JSON all the way down


def test_gate_settings_default_what_the_file_leaves_out(tmp_path: Path) -> None:
    path = tmp_path / "gates.yml"
    path.write_text("gates:\n  max_intent_drop_points: 5\n", encoding="utf-8")
    settings = studio_train.read_gates(path)
    assert settings["gates"] == {
        "max_overall_drop_points": 0.0,
        "max_intent_drop_points": 5,
        "min_intent_messages": 5,
    }
    assert settings["finetune_epoch_fraction"] == 0.2
    assert settings["held_out"]["en"] == "data/eval/nlu_en.yml"
    shipped = studio_train.read_gates(Path(studio_train.__file__).parents[1] / "handoff/studio/gates.yml")
    assert shipped["gates"] == studio_train.DEFAULT_GATES["gates"]
    path.write_text("- not a mapping\n", encoding="utf-8")
    with pytest.raises(studio_train.TrainError, match="mapping"):
        studio_train.read_gates(path)


# -- activation and rollback on files ----------------------------------------------------------------


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}", decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


def make_model(directory: Path, name: str, age_seconds: float = 0.0, content: bytes = b"") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(content or name.encode() * 100)
    stamp = time.time() - age_seconds
    os.utime(path, (stamp, stamp))
    return path


def write_report(
    paths: ModelPaths,
    name: str,
    cand: dict[str, tuple[int, int]],
    live: dict[str, tuple[int, int]] | None,
    live_model: str | None,
    held_out: str = "sets-1",
) -> dict[str, Any]:
    live_scores = {"en": studio_train.intent_metrics(pairs(live))} if live else None
    report = studio_train.build_report(
        name=name.removesuffix(".tar.gz"),
        live_model=live_model,
        training={"mode": "finetune"},
        candidate_scores={"en": studio_train.intent_metrics(pairs(cand))},
        live_scores=live_scores,
        held_out={"sha256": held_out, "sizes": {"en": 20}},
        gate_settings=GATES,
        timings={},
    )
    (paths.candidates_dir / name.replace(".tar.gz", ".json")).write_text(json.dumps(report), encoding="utf-8")
    return report


@pytest.fixture
def paths(tmp_path: Path) -> ModelPaths:
    gates = tmp_path / "gates.yml"
    gates.write_text(
        "gates:\n  max_overall_drop_points: 0.0\n  max_intent_drop_points: 10.0\n", encoding="utf-8"
    )
    paths = ModelPaths(tmp_path / "models", gates)
    make_model(paths.models_dir, "old.tar.gz", age_seconds=200)
    make_model(paths.models_dir, "live.tar.gz", age_seconds=100)
    paths.candidates_dir.mkdir()
    return paths


GOOD = {"a": (10, 0), "b": (9, 1)}
BASE = {"a": (9, 1), "b": (9, 1)}


async def test_activation_copies_the_candidate_in_atomically_as_the_newest_model(
    paths: ModelPaths, redis_client: aioredis.Redis
) -> None:
    store = ModelStore(redis_client, paths)
    make_model(paths.candidates_dir, "cand-1.tar.gz", content=b"trained")
    write_report(paths, "cand-1.tar.gz", GOOD, BASE, "live.tar.gz")
    listing = await store.listing()
    assert listing["active"]["name"] == "live.tar.gz" and listing["previous"]["name"] == "old.tar.gz"
    [candidate] = listing["candidates"]
    assert candidate["activatable"] and candidate["compared_with"] == "live.tar.gz"
    assert candidate["report"]["comparison"]["en"]["change_points"]["accuracy"] == 5.0

    result = await store.activate("cand-1", "ed", expected_active="live.tar.gz")
    assert result["active"] == "cand-1.tar.gz" and result["previous"] == "live.tar.gz"
    assert result["gates"]["passed"]
    installed = paths.models_dir / "cand-1.tar.gz"
    assert installed.read_bytes() == b"trained" and (paths.candidates_dir / "cand-1.tar.gz").is_file()
    assert not [p for p in paths.models_dir.iterdir() if p.name.startswith(".")]  # no partial copy left
    # What the model watcher loads into every Rasa process, and what a restarted process starts with.
    assert watcher_newest(paths.models_dir) == installed
    assert newest_model(paths.models_dir) == installed
    [entry] = await audit.recent(redis_client, action_prefix="model.")
    assert entry["actor"] == "ed" and entry["action"] == "model.activated"
    assert entry["detail"]["model"] == "cand-1.tar.gz" and entry["detail"]["previous"] == "live.tar.gz"
    after = await store.listing()
    assert after["candidates"][0]["reason"] == "already_active"


async def test_rollback_makes_the_previous_model_live_and_a_second_rollback_returns(
    paths: ModelPaths, redis_client: aioredis.Redis
) -> None:
    store = ModelStore(redis_client, paths)
    make_model(paths.candidates_dir, "cand-1.tar.gz")
    write_report(paths, "cand-1.tar.gz", GOOD, BASE, "live.tar.gz")
    await store.activate("cand-1.tar.gz", "ed")
    back = await store.rollback("sam")
    assert back == {"active": "live.tar.gz", "previous": "cand-1.tar.gz"}
    assert watcher_newest(paths.models_dir) == paths.models_dir / "live.tar.gz"
    with pytest.raises(Conflict) as stale:
        await store.rollback("sam", expected_active="cand-1.tar.gz")  # a second click on an old page
    assert stale.value.code == "active_changed" and stale.value.current == {"active": "live.tar.gz"}
    again = await store.rollback("sam", expected_active="live.tar.gz")
    assert again == {"active": "cand-1.tar.gz", "previous": "live.tar.gz"}
    # Activating it again after a rollback only makes the copy the newest again.
    await store.rollback("sam")
    assert (await store.activate("cand-1.tar.gz", "ed"))["previous"] == "live.tar.gz"
    actions = [e["action"] for e in await audit.recent(redis_client, action_prefix="model.")]
    assert actions == ["model.activated", *["model.rolled_back"] * 3, "model.activated"]  # newest first


async def test_rollback_needs_a_previous_model(tmp_path: Path, redis_client: aioredis.Redis) -> None:
    paths = ModelPaths(tmp_path / "models")
    make_model(paths.models_dir, "only.tar.gz")
    with pytest.raises(Conflict) as refused:
        await ModelStore(redis_client, paths).rollback("sam")
    assert refused.value.code == "no_previous_model"


async def test_a_failing_gate_refuses_activation_with_the_gates(
    paths: ModelPaths, redis_client: aioredis.Redis
) -> None:
    store = ModelStore(redis_client, paths)
    make_model(paths.candidates_dir, "worse.tar.gz")
    write_report(paths, "worse.tar.gz", {"a": (10, 0), "b": (6, 4)}, BASE, "live.tar.gz")
    with pytest.raises(Conflict) as refused:
        await store.activate("worse.tar.gz", "ed")
    assert refused.value.code == "gates_failed" and "b -30.00" in str(refused.value)
    failing = [c for c in refused.value.current["gates"]["checks"] if not c["passed"]]
    assert [(c["gate"], c["language"]) for c in failing] == [
        ("overall_accuracy", "en"),
        ("intent_accuracy", "en"),
    ]
    assert watcher_newest(paths.models_dir) == paths.models_dir / "live.tar.gz"
    assert not (paths.models_dir / "worse.tar.gz").exists()
    assert await audit.recent(redis_client, action_prefix="model.") == []


async def test_gates_are_checked_again_with_the_current_settings(
    paths: ModelPaths, redis_client: aioredis.Redis
) -> None:
    store = ModelStore(redis_client, paths)
    make_model(paths.candidates_dir, "cand.tar.gz")
    write_report(paths, "cand.tar.gz", {"a": (10, 0), "b": (8, 2)}, BASE, "live.tar.gz")  # b -10: passes
    assert (await store.listing())["candidates"][0]["activatable"]
    paths.gates_path.write_text("gates:\n  max_intent_drop_points: 5\n", encoding="utf-8")
    with pytest.raises(Conflict) as refused:
        await store.activate("cand.tar.gz", "ed")
    assert refused.value.code == "gates_failed"


async def test_a_candidate_compared_with_an_older_live_model_is_gated_against_the_live_ones_report(
    paths: ModelPaths, redis_client: aioredis.Redis
) -> None:
    store = ModelStore(redis_client, paths)
    for name in ("first.tar.gz", "second.tar.gz"):
        make_model(paths.candidates_dir, name)
    write_report(paths, "first.tar.gz", {"a": (10, 0), "b": (10, 0)}, BASE, "live.tar.gz")
    write_report(paths, "second.tar.gz", GOOD, BASE, "live.tar.gz")
    await store.activate("first.tar.gz", "ed")
    # second was compared with live.tar.gz; first is live now and scores better on b: second would lose.
    verdict = (await store.listing())["candidates"]
    second = next(c for c in verdict if c["name"] == "second.tar.gz")
    assert second["compared_with"] == "first.tar.gz" and second["reason"] == "gates_failed"
    # A live model without a report of its own on the same held-out sets: the comparison is stale.
    make_model(paths.candidates_dir, "third.tar.gz")
    write_report(paths, "third.tar.gz", GOOD, BASE, "live.tar.gz", held_out="sets-2")
    with pytest.raises(Conflict) as stale:
        await store.activate("third.tar.gz", "ed")
    assert stale.value.code == "stale_evaluation" and "train again" in str(stale.value)


async def test_unknown_unevaluated_and_malformed_names_are_refused(
    paths: ModelPaths, redis_client: aioredis.Redis
) -> None:
    store = ModelStore(redis_client, paths)
    with pytest.raises(NotFoundError):
        await store.activate("missing.tar.gz", "ed")
    make_model(paths.candidates_dir, "halfway.tar.gz")
    with pytest.raises(Conflict) as refused:
        await store.activate("halfway.tar.gz", "ed")
    assert refused.value.code == "no_report"
    for bad in ("../live.tar.gz", "a/b.tar.gz", ".hidden.tar.gz", "", "x" * 200):
        with pytest.raises(BadRequest) as error:
            check_name(bad)
        assert error.value.field == "name"


async def test_a_second_change_waits_for_the_first(paths: ModelPaths, redis_client: aioredis.Redis) -> None:
    store = ModelStore(redis_client, paths)
    await redis_client.set("hub:studio:models:lock", "someone-else", px=5000)
    with pytest.raises(Conflict) as busy:
        await store.rollback("sam")
    assert busy.value.code == "models_busy"


def test_pruning_keeps_the_newest_candidates_and_every_report(tmp_path: Path) -> None:
    paths = ModelPaths(tmp_path / "models")
    for age in range(7):
        make_model(paths.candidates_dir, f"c{age}.tar.gz", age_seconds=age * 10)
        (paths.candidates_dir / f"c{age}.json").write_text("{}", encoding="utf-8")
    store = ModelStore(aioredis.Redis(), paths, keep_candidates=5)
    assert sorted(store.prune()) == ["c5.tar.gz", "c6.tar.gz"]
    assert [p.name for p in newest_first(paths.candidates_dir)] == [f"c{i}.tar.gz" for i in range(5)]
    assert len(list(paths.candidates_dir.glob("*.json"))) == 7

"""How the affect classifier was chosen: cue words, sentence-vector heads, and both, per language.

Trains `bot.affect_model` heads on data/affect/{en,zh}.yml (outside Rasa, same vectors as the pipeline) and
scores the wild set's gold risk flags and frustration (data/eval/wild, never trained on):
- risk: per-flag recall, recall of any flag, and false flags on messages without gold risk;
- frustration: accuracy and recall of `angry`;
- cost: ms per message on top of the vectors the pipeline computes anyway (heads + cue regexes).

Run from the repository root with the app environment:
    PYTHONPATH=. .venv/bin/python bench/affect_select.py
Results go to bench/results/affect_select.json and bench/results/affect.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.machine import cpu_model  # noqa: E402
from bench.nlu_select import vectors  # noqa: E402
from bot.affect_model import Affect, AffectModel, CueLexicon, read_examples  # noqa: E402
from common.affect import RISK_FLAGS  # noqa: E402

RESULTS = ROOT / "bench" / "results"
VARIANTS = {
    "cues only": ([], True),
    "use head": (["use"], False),
    "use head + cues": (["use"], True),
    "use+minilm head + cues": (["use", "minilm"], True),
}
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
#: The largest share of risk-free training messages a threshold may flag (5-fold cross-validation): the
#: threshold is chosen on the training data, never on the wild set it is then scored on.
MAX_FALSE_FLAGS = 0.02


def cross_validated_threshold(
    matrix: np.ndarray, examples: list[Any], cues: CueLexicon
) -> tuple[float, list]:
    """The lowest threshold whose out-of-fold false-flag rate on risk-free messages is within the budget."""
    folds = np.arange(len(examples)) % 5
    scores = np.zeros((len(examples), len(RISK_FLAGS)), np.float32)
    for fold in range(5):
        train, held = folds != fold, folds == fold
        model = AffectModel.fit(matrix[train], [e for e, t in zip(examples, train, strict=True) if t], cues)
        held_texts = [e.text for e, h in zip(examples, held, strict=True) if h]
        for row, affect in zip(np.flatnonzero(held), model.predict(matrix[held], held_texts), strict=True):
            scores[row] = [affect.scores[f] for f in RISK_FLAGS]
    negatives = np.array([not e.risk for e in examples])
    positives = ~negatives
    sweep = []
    for t in THRESHOLDS:
        flagged = (scores >= t).any(axis=1)
        sweep.append(
            {
                "threshold": t,
                "false_flags": float(flagged[negatives].mean()),
                "recall": float(flagged[positives].mean()),
            }
        )
    chosen = next((r["threshold"] for r in sweep if r["false_flags"] <= MAX_FALSE_FLAGS), THRESHOLDS[-1])
    return chosen, sweep


def features(encoders: list[str], split: str, texts: list[str]) -> np.ndarray:
    """Sentence vectors, cached by the texts' hash (the cache of bench/nlu_select.py is keyed by length)."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12]
    return np.hstack([vectors(e, f"affect-{digest}", split, texts) for e in encoders]).astype(np.float32)


def wild(language: str) -> list[dict[str, Any]]:
    path = ROOT / "data" / "eval" / "wild" / f"wild_{language}.yml"
    return list(yaml.safe_load(path.read_text(encoding="utf-8"))["messages"])


def evaluate(predicted: list[Affect], gold: list[dict[str, Any]]) -> dict[str, Any]:
    flagged_gold = [bool(g.get("risk")) for g in gold]
    flagged = [bool(p.risk) for p in predicted]
    per_flag = {}
    for flag in RISK_FLAGS:
        among = [flag in (g.get("risk") or []) for g in gold]
        hits = [flag in p.risk for p in predicted]
        per_flag[flag] = {
            "n": sum(among),
            "recall": sum(a and h for a, h in zip(among, hits, strict=True)) / max(sum(among), 1),
            "false": sum(h and not a for a, h in zip(among, hits, strict=True)),
        }
    angry = [g.get("frustration") == "angry" for g in gold]
    return {
        "any_risk_recall": sum(f and g for f, g in zip(flagged, flagged_gold, strict=True))
        / max(sum(flagged_gold), 1),
        "false_flag_rate": sum(f and not g for f, g in zip(flagged, flagged_gold, strict=True))
        / max(len(gold) - sum(flagged_gold), 1),
        "per_flag": per_flag,
        "frustration_accuracy": float(
            np.mean([p.frustration == g.get("frustration") for p, g in zip(predicted, gold, strict=True)])
        ),
        "angry_recall": sum(p.frustration == "angry" and a for p, a in zip(predicted, angry, strict=True))
        / max(sum(angry), 1),
        "n": len(gold),
        "n_risk": sum(flagged_gold),
    }


def run() -> dict[str, Any]:
    data = ROOT / "data" / "affect"
    examples = [e for name in ("en.yml", "zh.yml") for e in read_examples(data / name)]
    cues = CueLexicon.from_file(data / "cues.yml")
    no_cues = CueLexicon.from_dict({})
    texts = [e.text for e in examples]
    results: dict[str, Any] = {
        "command": "PYTHONPATH=. .venv/bin/python bench/affect_select.py",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {cpu_model()}",
        "training_examples": len(examples),
        "variants": {},
    }
    for name, (encoders, use_cues) in VARIANTS.items():
        row: dict[str, Any] = {}
        if encoders:
            train = features(encoders, "train", texts)
            lexicon = cues if use_cues else no_cues
            threshold, sweep = cross_validated_threshold(train, examples, lexicon)
            model = AffectModel.fit(train, examples, lexicon, threshold=threshold)
            row["threshold"], row["cv_sweep"] = threshold, sweep
        for language in ("en", "zh"):
            gold = wild(language)
            said = [g["text"] for g in gold]
            if encoders:
                matrix = features(encoders, f"wild-{language}", said)
                started = time.perf_counter()
                predicted = [model.predict(matrix[i : i + 1], [t])[0] for i, t in enumerate(said)]
                cost = (time.perf_counter() - started) * 1000 / len(said)
            else:
                started = time.perf_counter()
                predicted = []
                for text in said:
                    found = cues.matches(text)
                    level = "angry" if "angry" in found else "calm"
                    predicted.append(Affect(level, tuple(f for f in RISK_FLAGS if f in found)))
                cost = (time.perf_counter() - started) * 1000 / len(said)
            row.setdefault("sets", {})[language] = {
                **evaluate(predicted, gold),
                "ms_per_message": round(cost, 3),
            }
        results["variants"][name] = row
    return results


def render(results: dict[str, Any]) -> str:
    lines = [
        "# Affect classifier selection (`bench/affect_select.py`)",
        "",
        f"- Command: `{results['command']}`",
        f"- Date: {results['date']}; machine: {results['machine']}",
        f"- Trained on data/affect ({results['training_examples']} labelled messages, both languages); "
        "scored on the wild set (data/eval/wild), never trained on.",
        "- Cost: ms per message beyond the sentence vectors the pipeline computes anyway.",
        "",
        "| variant | set | any-risk recall (n) | false flags on messages without risk | per-flag recall | "
        "frustration acc. | angry recall | ms/msg |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in results["variants"].items():
        if "threshold" in row:
            name = f"{name} (threshold {row['threshold']})"
        for language, s in row["sets"].items():
            flags = ", ".join(f"{f} {v['recall']:.0%}/{v['n']}" for f, v in s["per_flag"].items() if v["n"])
            lines.append(
                f"| {name} | {language} | {s['any_risk_recall']:.1%} ({s['n_risk']}) | "
                f"{s['false_flag_rate']:.1%} | {flags} | {s['frustration_accuracy']:.1%} | "
                f"{s['angry_recall']:.0%} | {s['ms_per_message']} |"
            )
    lines += [
        "",
        f"Risk threshold by 5-fold cross-validation on data/affect: the lowest that flags at most "
        f"{MAX_FALSE_FLAGS:.0%} of risk-free training messages. Cells: false flags / recall of any flag.",
        "",
        "| variant | " + " | ".join(f"t={t}" for t in THRESHOLDS) + " |",
        "|---|" + "---|" * len(THRESHOLDS),
    ]
    for name, row in results["variants"].items():
        if "cv_sweep" in row:
            cells = [f"{r['false_flags']:.1%} / {r['recall']:.0%}" for r in row["cv_sweep"]]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    results = run()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "affect_select.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (RESULTS / "affect.md").write_text(render(results), encoding="utf-8")
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

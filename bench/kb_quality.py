"""Knowledge-base retrieval quality with the real packaged encoders: dense vs lexical vs hybrid, per language.

Builds the real articles into a temporary index (or uses --index-dir), runs the same evaluation as
`python -m kb_index eval`, then shows how sensitive hybrid is to its lexical weight, with a 2-fold
cross-validation so the reported hybrid figure is not only the one the weight was picked on.

Then the miss decision: several rules, each with its parameters chosen on one half of the queries (at least
91% answered, at most 4% wrongly, then the fewest "absent accepted", see kb_index/evaluation.py) and scored
on the other half, both ways; on the fixed split the weight sweep uses and, as a check on luck, averaged
over 20 random splits.

    PYTHONPATH=. .venv/bin/python bench/kb_quality.py [--index-dir DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kb_index.build import build
from kb_index.evaluation import (
    HEADROOM,
    MARGIN_WEIGHTS,
    TARGET_ANSWERED,
    TARGET_WRONG,
    THRESHOLDS,
    DecisionPoint,
    LanguageEval,
    best_choices,
    choose_decision,
    evaluate,
    format_report,
    load_queries,
)
from kb_index.retriever import Retriever
from kb_index.settings import DEFAULT_EVAL_DIR, DEFAULT_KB_DIR
from kb_index.tokens import plain_terms, tokenize

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
SEED = 13
SPLITS = 20  # random 2-fold splits averaged as a check on the fixed one
# The plain score thresholds in use before the margin, for comparison.
PREVIOUS_THRESHOLDS = {"en": 0.57, "zh": 0.65}
TUNING_TARGETS = (0.88, 0.89, 0.90, 0.91, 0.92)


def first_relevant_ranks(retriever: Retriever, lang: str, weight: float) -> list[int | None]:
    version = retriever.current()
    index = version.languages[lang]
    queries = load_queries(DEFAULT_EVAL_DIR / f"kb_queries_{lang}.yml")
    texts = [plain_terms(q.text, lang) for q in queries]  # as the retriever searches them
    vectors = retriever.encoder(version, lang).encode(texts, query=True)
    ranks: list[int | None] = []
    for query, text, vector in zip(queries, texts, vectors, strict=True):
        ranked = index.rank(vector, tokenize(text, lang), mode="hybrid", lexical_weight=weight, limit=10)
        ranks.append(next((i for i, s in enumerate(ranked) if s.article_id in query.relevant), None))
    return ranks


def metrics(ranks: list[int | None]) -> dict[str, float]:
    n = max(len(ranks), 1)
    return {
        "recall_at_1": round(sum(r is not None and r < 1 for r in ranks) / n, 3),
        "recall_at_3": round(sum(r is not None and r < 3 for r in ranks) / n, 3),
        "mrr": round(sum(1 / (r + 1) for r in ranks if r is not None) / n, 3),
    }


def halves(
    size: int, seed: int = SEED, shuffle: Callable[[list[int]], None] | None = None
) -> list[list[int]]:
    order = list(range(size))
    (shuffle or random.Random(seed).shuffle)(order)
    return [order[0::2], order[1::2]]


def cross_validated(
    by_choice: dict[Any, list[int | None]],
    seed: int = SEED,
    shuffle: Callable[[list[int]], None] | None = None,
) -> dict[str, Any]:
    """Each query scored with the choice (by recall@1 + MRR) made on the other half of the queries."""
    size = len(next(iter(by_choice.values())))
    folds = halves(size, seed, shuffle)
    held_out: list[int | None] = [None] * size
    chosen = []
    for fold in range(2):
        train, test = folds[1 - fold], folds[fold]

        def score(choice: Any, train: list[int] = train) -> float:
            m = metrics([by_choice[choice][i] for i in train])
            return m["recall_at_1"] + m["mrr"]

        best = max(by_choice, key=score)
        chosen.append(best)
        for i in test:
            held_out[i] = by_choice[best][i]
    return {"chosen": chosen, **metrics(held_out)}


@dataclass(frozen=True)
class Family:
    """A decision rule: its candidate parameters and what each accepts (candidates x queries)."""

    name: str
    labels: list[tuple[float, ...]]
    accepted: np.ndarray
    absent: np.ndarray


def families(points: Sequence[DecisionPoint]) -> list[Family]:
    a, b = [p.answerable for p in points], [p.absent for p in points]
    score, gap = np.array([o.score for o in a]), np.array([o.gap for o in a])
    margin = np.array([o.margin for o in a])
    b_score, b_gap = np.array([o.score for o in b]), np.array([o.gap for o in b])
    b_margin = np.array([o.margin for o in b])
    out = []
    limits = np.array(THRESHOLDS)[:, None]
    out.append(Family("score >= t", [(t,) for t in THRESHOLDS], score >= limits, b_score >= limits))
    gaps = np.round(np.arange(0.0, 0.3001, 0.0025), 4)
    out.append(Family("score gap >= g", [(g,) for g in gaps], gap >= gaps[:, None], b_gap >= gaps[:, None]))
    labels: list[tuple[float, ...]] = [
        (float(hi), float(lo), float(g))
        for hi in np.round(np.arange(0.50, 0.951, 0.01), 2)
        for lo in np.round(np.arange(0.35, 0.751, 0.01), 2)
        if lo <= hi
        for g in np.round(np.arange(0.0, 0.1501, 0.005), 3)
    ]
    hi, lo, g = (np.array(x)[:, None] for x in zip(*labels, strict=True))
    out.append(
        Family(
            "score >= high, or score >= low and gap >= g",
            labels,
            (score >= hi) | ((score >= lo) & (gap >= g)),
            (b_score >= hi) | ((b_score >= lo) & (b_gap >= g)),
        )
    )
    labels = [(float(w), float(t)) for w in MARGIN_WEIGHTS for t in THRESHOLDS]
    w, t = (np.array(x)[:, None] for x in zip(*labels, strict=True))
    out.append(
        Family(
            "score + a * support margin >= t (in use)",
            labels,
            score + w * margin >= t,
            b_score + w * b_margin >= t,
        )
    )
    return out


def pick(family: Family, right: np.ndarray, rows: np.ndarray, answered: float) -> int:
    """The candidate chosen on these queries; among equals the first parameter's smallest value, then the
    middle one (as kb_index.evaluation.choose_decision does)."""
    tied = best_choices(
        family.accepted[:, rows], family.absent[:, rows], right[rows], answered=answered, wrong=TARGET_WRONG
    )
    first = family.labels[tied[0]][0]
    tied = np.array([i for i in tied if family.labels[i][0] == first])
    return int(tied[len(tied) // 2])


def held_out(family: Family, right: np.ndarray, folds: list[list[int]], answered: float) -> dict[str, Any]:
    accepted = np.zeros(right.size, dtype=bool)
    absent = np.zeros(right.size, dtype=bool)
    chosen = []
    for fold in range(2):
        train, test = np.array(folds[1 - fold]), np.array(folds[fold])
        row = pick(family, right, train, answered)
        chosen.append(family.labels[row])
        accepted[test], absent[test] = family.accepted[row, test], family.absent[row, test]
    return {"chosen": chosen, **decision_rates(accepted, absent, right)}


def decision_rates(accepted: np.ndarray, absent: np.ndarray, right: np.ndarray) -> dict[str, float]:
    answered = float(accepted.mean())
    wrong = float((accepted & ~right).mean())
    return {
        "answered": answered,
        "wrong": wrong,
        "wrong_when_answered": wrong / answered if answered else 0.0,
        "absent_accepted": float(absent.mean()),
    }


def mean_rates(runs: list[dict[str, Any]]) -> dict[str, float]:
    keys = ("answered", "wrong", "wrong_when_answered", "absent_accepted")
    return {k: float(np.mean([r[k] for r in runs])) for k in keys}


def youden_threshold(correct: list[float], wrong: list[float]) -> float:
    """How the plain thresholds were chosen before: the score maximising (right top answers kept) minus
    (best wrong-article scores let through), Youden's J, rounded to 0.01."""
    if not correct:
        return 1.0
    best, best_j = min(correct), -1.0
    for t in sorted({*correct, *wrong}):
        j = float(np.mean(np.array(correct) >= t) - np.mean(np.array(wrong) >= t))
        if j > best_j:
            best, best_j = t, j
    return round(best, 2)


def previous_procedure(points: Sequence[DecisionPoint], folds: list[list[int]]) -> dict[str, Any]:
    """The earlier score threshold, chosen by Youden's J on one half and scored on the other."""
    score = np.array([p.answerable.score for p in points])
    absent_score = np.array([p.absent.score for p in points])
    right = np.array([p.answerable.right for p in points], dtype=bool)
    accepted = np.zeros(right.size, dtype=bool)
    absent = np.zeros(right.size, dtype=bool)
    chosen = []
    for fold in range(2):
        train, test = np.array(folds[1 - fold]), np.array(folds[fold])
        t = youden_threshold(list(score[train][right[train]]), list(absent_score[train]))
        chosen.append((t,))
        accepted[test], absent[test] = score[test] >= t, absent_score[test] >= t
    return {"chosen": chosen, **decision_rates(accepted, absent, right)}


def decision_study(report: LanguageEval) -> dict[str, Any]:
    points = report.points
    right = np.array([p.answerable.right for p in points], dtype=bool)
    target = TARGET_ANSWERED + HEADROOM
    previous = PREVIOUS_THRESHOLDS.get(report.language, report.threshold)
    study: dict[str, Any] = {
        "configured": {
            "margin_weight": report.margin_weight,
            "threshold": report.threshold,
            "answered": report.answered,
            "wrong": report.answered_wrong,
            "wrong_when_answered": round(1 - report.answered_correct, 3),
            "absent_accepted": report.absent_accepted,
        },
        "previous": {
            "threshold": previous,
            **decision_rates(
                np.array([p.answerable.score >= previous for p in points]),
                np.array([p.absent.score >= previous for p in points]),
                right,
            ),
        },
        "suggested": dict(zip(("margin_weight", "threshold"), choose_decision(points), strict=True)),
        "rules": {},
        "tuning_targets": {},
    }
    split_folds = [halves(len(points), seed) for seed in range(SPLITS)]
    study["rules"]["score >= t by Youden's J (the earlier procedure)"] = {
        f"split_{SEED}": previous_procedure(points, halves(len(points))),
        f"mean_of_{SPLITS}_splits": mean_rates([previous_procedure(points, f) for f in split_folds]),
    }
    rules = families(points)
    for family in rules:
        fixed = held_out(family, right, halves(len(points)), target)
        spread = mean_rates([held_out(family, right, f, target) for f in split_folds])
        study["rules"][family.name] = {f"split_{SEED}": fixed, f"mean_of_{SPLITS}_splits": spread}
    for short, family in (("score only", rules[0]), ("in use", rules[-1])):
        study["tuning_targets"][short] = {
            str(goal): mean_rates([held_out(family, right, f, goal) for f in split_folds])
            for goal in TUNING_TARGETS
        }
    return study


def print_decision(language: str, study: dict[str, Any]) -> None:
    def row(label: str, r: dict[str, Any], extra: str = "") -> None:
        print(
            f"{language}  {label:<46} answered {r['answered']:6.1%}  wrong {r['wrong']:5.1%} "
            f"({r['wrong_when_answered']:5.1%} of answered)  "
            f"absent accepted {r['absent_accepted']:6.1%}{extra}"
        )

    c, p = study["configured"], study["previous"]
    row(f"configured: score + {c['margin_weight']:g} x margin >= {c['threshold']}", c, "  (all queries)")
    row(f"previous: score >= {p['threshold']}", p, "  (all queries)")
    for name, result in study["rules"].items():
        fixed = result[f"split_{SEED}"]
        chosen = ", ".join("/".join(f"{x:g}" for x in c) for c in fixed["chosen"])
        row(name, fixed, f"  (2-fold, chosen {chosen})")
        row(f"  mean of {SPLITS} random 2-fold splits", result[f"mean_of_{SPLITS}_splits"])
    for name, targets in study["tuning_targets"].items():
        for goal, r in targets.items():
            row(f"{name}, tuned to answer {float(goal):.0%}", r, f"  (mean of {SPLITS} splits)")
    s = study["suggested"]
    print(
        f"{language}  suggested on all queries: margin_weight {s['margin_weight']:g}, "
        f"threshold {s['threshold']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, help="evaluate this index instead of building one")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the models load from packages only
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    index_dir = args.index_dir or Path(tempfile.mkdtemp(prefix="kb_quality-"))
    if args.index_dir is None:
        build(DEFAULT_KB_DIR, index_dir, progress=lambda line: print(line, flush=True))
    retriever = Retriever(index_dir)
    reports = evaluate(retriever, DEFAULT_EVAL_DIR)
    print(format_report(reports))

    sweep: dict[str, Any] = {}
    print("\nhybrid lexical weight (0 = dense only): recall@1 / recall@3 / MRR on all queries")
    for report in reports:
        lang = report.language
        by_weight = {w: first_relevant_ranks(retriever, lang, w) for w in WEIGHTS}
        table = {w: metrics(r) for w, r in by_weight.items()}
        cv = cross_validated(by_weight)
        cv = {"weights_chosen": cv.pop("chosen"), **cv}
        sweep[lang] = {"by_weight": {str(w): m for w, m in table.items()}, "cross_validated": cv}
        cells = "  ".join(
            f"{w:.1f}: {m['recall_at_1']:.3f}/{m['recall_at_3']:.3f}/{m['mrr']:.3f}" for w, m in table.items()
        )
        print(f"{lang}  {cells}")
        print(
            f"{lang}  2-fold cross-validated hybrid (weights chosen {cv['weights_chosen']}): "
            f"recall@1 {cv['recall_at_1']:.3f}, recall@3 {cv['recall_at_3']:.3f}, MRR {cv['mrr']:.3f}"
        )
    print(
        f"\nmiss decision, {TARGET_ANSWERED + HEADROOM:.0%} answered / {TARGET_WRONG:.0%} wrong aimed for on "
        "the tuning half; held-out figures unless marked"
    )
    decisions = {}
    for report in reports:
        decisions[report.language] = decision_study(report)
        print_decision(report.language, decisions[report.language])
    if args.json:
        data = {
            "eval": [r.to_json() for r in reports],
            "lexical_weight": sweep,
            "decision": decisions,
        }
        args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.index_dir is None:
        shutil.rmtree(index_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

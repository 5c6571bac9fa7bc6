"""Choosing the miss decision on customer questions written for that purpose (data/kb_calibration).

The calibration set is two files per language, written by people who saw only the articles' titles, never
their text nor the evaluation sets: `queries_<lang>.yml`, questions the articles answer, most of them as
customers type in a chat (an order number beside the question, a story first, typos, a second ask), and
`no_article_<lang>.yml`, store questions no article answers. The decision is chosen on them as
kb_index/evaluation.py chooses it (at least 91% answered, at most 4% wrongly, then the fewest answered
that should go to a person) where "should go to a person" counts both the no-article questions and the
answerable ones with their articles left out. The evaluation sets then check the choice held out.

    python -m kb_index calibrate [--calibration-dir data/kb_calibration]
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kb_index.evaluation import (
    MARGIN_WEIGHTS,
    THRESHOLDS,
    DecisionPoint,
    best_choices,
    decision_point,
    load_queries,
)
from kb_index.retriever import Retriever
from kb_index.tokens import plain_terms, tokenize

SEED = 13
SPLITS = 20
# A near miss offers two articles instead of a person (settings.suggest_threshold): the lowest value, in
# these steps, at which at most this share of the questions without an article get the offer.
SUGGEST_STEP = 0.05
SUGGEST_NO_ARTICLE_SHARE = 0.30


@dataclass(frozen=True)
class Calibrated:
    answered: float
    wrong: float
    person_accepted: float  # questions that should reach a person (no article, or it left out) answered
    no_article_accepted: float


@dataclass
class CalibrationReport:
    language: str
    answerable: int
    no_article: int
    margin_weight: float  # chosen on every question
    threshold: float
    in_sample: Calibrated
    cross_validated: Calibrated  # chosen on one half, scored on the other, both ways, 2-fold seed 13
    random_splits: Calibrated  # the same, mean of SPLITS random splits
    configured: Calibrated  # what the retrieval settings in use do
    configured_weight: float
    configured_threshold: float
    suggest_threshold: float | None = None  # chosen for the configured decision
    suggest_no_article: float = 0.0  # share of the no-article questions offered articles at that value
    suggest_right: float = 0.0  # share of the answerable ones offered two articles, one of them right


def _confidences(points: Sequence[DecisionPoint], weight: float) -> np.ndarray:
    return np.array([p.answerable.score + weight * p.answerable.margin for p in points], dtype=float)


def choose_suggest_threshold(
    answerable: Sequence[DecisionPoint], no_article: Sequence[DecisionPoint], weight: float, threshold: float
) -> tuple[float | None, float, float]:
    """(suggest_threshold, no-article share offered, answerable share offered with a right article)."""
    none = _confidences(no_article, weight)
    some = _confidences(answerable, weight)
    in_two = np.array([p.answerable.right_in_two for p in answerable], dtype=bool)
    steps = round(threshold / SUGGEST_STEP)
    for k in range(1, steps + 1):
        value = round(k * SUGGEST_STEP, 3)
        if value >= threshold:
            break
        offered = (none >= value) & (none < threshold)
        if none.size and offered.mean() > SUGGEST_NO_ARTICLE_SHARE:
            continue
        right = (some >= value) & (some < threshold) & in_two
        return value, float(offered.mean()) if none.size else 0.0, float(right.mean()) if some.size else 0.0
    return None, 0.0, 0.0


def _points(retriever: Retriever, lang: str, path: Path) -> list[DecisionPoint]:
    if not path.is_file():
        return []
    version = retriever.current()
    index = version.languages[lang]
    settings = index.entry.retrieval
    queries = load_queries(path)
    texts = [plain_terms(q.text, lang) for q in queries]  # as the retriever searches them
    vectors = retriever.encoder(version, lang).encode(texts, query=True)
    return [
        decision_point(
            index, q, v, tokenize(text, lang), mode=settings.mode, lexical_weight=settings.lexical_weight
        )
        for q, text, v in zip(queries, texts, vectors, strict=True)
    ]


def _grid(
    answerable: Sequence[DecisionPoint], no_article: Sequence[DecisionPoint]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """accepted (candidates x answerable), to_person (candidates x (answerable + no-article)), right,
    no-article accepted, and the candidates' weights and thresholds."""
    weights = np.repeat(np.asarray(MARGIN_WEIGHTS, dtype=float), len(THRESHOLDS))
    limits = np.tile(np.asarray(THRESHOLDS, dtype=float), len(MARGIN_WEIGHTS))

    def accepts(scores: Sequence[float], margins: Sequence[float]) -> np.ndarray:
        s, m = np.asarray(scores, dtype=float), np.asarray(margins, dtype=float)
        return np.asarray(s[None, :] + weights[:, None] * m[None, :] >= limits[:, None])

    accepted = accepts([p.answerable.score for p in answerable], [p.answerable.margin for p in answerable])
    absent = accepts([p.absent.score for p in answerable], [p.absent.margin for p in answerable])
    none = accepts([p.answerable.score for p in no_article], [p.answerable.margin for p in no_article])
    right = np.array([p.answerable.right for p in answerable], dtype=bool)
    return accepted, np.concatenate([absent, none], axis=1), right, none, weights, limits


def choose(answerable: Sequence[DecisionPoint], no_article: Sequence[DecisionPoint]) -> tuple[float, float]:
    """(margin_weight, threshold): the smallest weight among the best, the middle of its thresholds."""
    accepted, to_person, right, _, weights, limits = _grid(answerable, no_article)
    rows = best_choices(accepted, to_person, right)
    rows = rows[weights[rows] == weights[rows].min()]
    row = int(rows[len(rows) // 2])
    return float(weights[row]), float(limits[row])


def score(
    answerable: Sequence[DecisionPoint], no_article: Sequence[DecisionPoint], weight: float, threshold: float
) -> Calibrated:
    def accepted(points: Sequence[DecisionPoint], part: str) -> np.ndarray:
        outcomes = [getattr(p, part) for p in points]
        return np.array([o.score + weight * o.margin >= threshold for o in outcomes], dtype=bool)

    answered = accepted(answerable, "answerable")
    right = np.array([p.answerable.right for p in answerable], dtype=bool)
    to_person = np.concatenate([accepted(answerable, "absent"), accepted(no_article, "answerable")])
    none = accepted(no_article, "answerable")
    return Calibrated(
        float(answered.mean()) if answered.size else 0.0,
        float((answered & ~right).mean()) if answered.size else 0.0,
        float(to_person.mean()) if to_person.size else 0.0,
        float(none.mean()) if none.size else 0.0,
    )


def _held_out(
    answerable: Sequence[DecisionPoint], no_article: Sequence[DecisionPoint], rng: random.Random | None
) -> Calibrated:
    """Chosen on one half and scored on the other, both ways; the halves' figures weighted by size."""
    a_order, n_order = list(range(len(answerable))), list(range(len(no_article)))
    rng = rng or random.Random(SEED)  # noqa: S311 (a reproducible split, not a secret)
    rng.shuffle(a_order)
    rng.shuffle(n_order)
    a_halves = (a_order[::2], a_order[1::2])
    n_halves = (n_order[::2], n_order[1::2])
    totals = np.zeros(4)
    counts = np.zeros(4)
    for tune, test in ((0, 1), (1, 0)):
        weight, threshold = choose(
            [answerable[i] for i in a_halves[tune]], [no_article[i] for i in n_halves[tune]]
        )
        test_a = [answerable[i] for i in a_halves[test]]
        test_n = [no_article[i] for i in n_halves[test]]
        result = score(test_a, test_n, weight, threshold)
        sizes = (len(test_a), len(test_a), len(test_a) + len(test_n), len(test_n))
        totals += (
            np.array([result.answered, result.wrong, result.person_accepted, result.no_article_accepted])
            * sizes
        )
        counts += sizes
    means = totals / np.maximum(counts, 1)
    return Calibrated(*(float(x) for x in means))


def _random_splits() -> list[random.Random]:
    return [random.Random(SEED + 100 + i) for i in range(SPLITS)]  # noqa: S311 (reproducible splits)


def _mean(results: Sequence[Calibrated]) -> Calibrated:
    return Calibrated(
        *(float(np.mean([getattr(r, f) for r in results])) for f in Calibrated.__dataclass_fields__)
    )


def calibrate(
    retriever: Retriever, directory: Path, languages: tuple[str, ...] = ("en", "zh")
) -> list[CalibrationReport]:
    reports = []
    version = retriever.current()
    for lang in languages:
        if lang not in version.languages:
            continue
        answerable = _points(retriever, lang, directory / f"queries_{lang}.yml")
        no_article = _points(retriever, lang, directory / f"no_article_{lang}.yml")
        if not answerable:
            continue
        weight, threshold = choose(answerable, no_article)
        settings = version.languages[lang].entry.retrieval
        suggest = choose_suggest_threshold(answerable, no_article, settings.margin_weight, settings.threshold)
        reports.append(
            CalibrationReport(
                lang,
                len(answerable),
                len(no_article),
                weight,
                threshold,
                score(answerable, no_article, weight, threshold),
                _held_out(answerable, no_article, None),
                _mean([_held_out(answerable, no_article, split) for split in _random_splits()]),
                score(answerable, no_article, settings.margin_weight, settings.threshold),
                settings.margin_weight,
                settings.threshold,
                *suggest,
            )
        )
    return reports


def format_calibration(reports: Sequence[CalibrationReport]) -> str:
    def row(label: str, c: Calibrated) -> str:
        shares = f"{c.answered:>9.1%}{c.wrong:>8.1%}{c.person_accepted:>10.1%}{c.no_article_accepted:>12.1%}"
        return f"  {label:<44}{shares}"

    lines = []
    for r in reports:
        lines += [
            f"{r.language}: {r.answerable} answerable questions, {r.no_article} without an article",
            f"  {'decision':<44}{'answered':>9}{'wrong':>8}{'to person':>10}{'no article':>12}",
            row(f"in use: {r.configured_weight:g} x margin, {r.configured_threshold:.3f}", r.configured),
            row(f"chosen: {r.margin_weight:g} x margin, {r.threshold:.3f} (in-sample)", r.in_sample),
            row("chosen on one half, scored on the other", r.cross_validated),
            row(f"the same, mean of {SPLITS} random splits", r.random_splits),
        ]
        if r.suggest_threshold is not None:
            lines.append(
                f"  near misses (the decision in use): suggest_threshold {r.suggest_threshold:g} offers two "
                f"articles to {r.suggest_no_article:.0%} of the no-article questions; "
                f"{r.suggest_right:.1%} of the answerable ones are offered a right article"
            )
    lines.append(
        "answered / wrong: shares of the answerable questions; to person: share answered of those that "
        "should reach a person (no article, or the right one left out); no article: share answered of those"
    )
    return "\n".join(lines)

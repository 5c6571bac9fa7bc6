"""Retrieval quality on the held-out query sets: dense, lexical and hybrid side by side, and miss thresholds.

Recall@k counts a query as found when any of its relevant articles is among the first k articles; MRR uses
the rank of the first relevant one. The threshold suggestion separates two score populations measured on the
same queries: the top score when the top article is right, and the best score of a wrong article (what the
bot would say if the right article were missing, or did say when it ranked a wrong one first).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kb_index.retriever import Retriever
from kb_index.settings import MODES
from kb_index.tokens import tokenize

DEPTH = 10


@dataclass(frozen=True)
class Query:
    text: str
    relevant: frozenset[str]


@dataclass(frozen=True)
class ModeScores:
    recall_at_1: float
    recall_at_3: float
    mrr: float
    suggested_threshold: float


@dataclass
class LanguageEval:
    language: str
    version: str
    encoder: str
    queries: int
    mode: str
    threshold: float
    modes: dict[str, ModeScores] = field(default_factory=dict)
    answered: float = 0.0  # share of queries whose best score reaches the threshold (configured mode)
    answered_correct: float = 0.0  # share of those answered whose top article is relevant

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def load_queries(path: Path) -> list[Query]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [Query(str(q["query"]), frozenset(q["relevant"])) for q in data["queries"]]


def suggest_threshold(correct: list[float], wrong: list[float]) -> float:
    """The score that best separates right top answers from wrong ones (max of TPR - FPR, Youden's J)."""
    if not correct:
        return 1.0
    if not wrong:
        return round(min(correct), 2)
    best, best_j = min(correct), -1.0
    for t in sorted({*correct, *wrong}):
        tpr = sum(s >= t for s in correct) / len(correct)
        fpr = sum(s >= t for s in wrong) / len(wrong)
        if tpr - fpr > best_j:
            best, best_j = t, tpr - fpr
    return round(best, 2)


def evaluate(
    retriever: Retriever, eval_dir: Path, languages: tuple[str, ...] = ("en", "zh")
) -> list[LanguageEval]:
    version = retriever.current()
    reports = []
    for lang in languages:
        path = eval_dir / f"kb_queries_{lang}.yml"
        index = version.languages.get(lang)
        if index is None or not path.is_file():
            continue
        queries = load_queries(path)
        settings = index.entry.retrieval
        vectors = retriever.encoder(version, lang).encode([q.text for q in queries], query=True)
        tokens = [tokenize(q.text, lang) for q in queries]
        report = LanguageEval(
            lang, version.version, index.entry.encoder.spec, len(queries), settings.mode, settings.threshold
        )
        for mode in MODES:
            r1 = r3 = rr = 0.0
            correct: list[float] = []
            wrong: list[float] = []
            answered = answered_right = 0
            for query, vector, toks in zip(queries, vectors, tokens, strict=True):
                ranked = index.rank(
                    vector, toks, mode=mode, lexical_weight=settings.lexical_weight, limit=DEPTH
                )
                rank = next((i for i, s in enumerate(ranked) if s.article_id in query.relevant), None)
                if rank is not None:
                    r1 += rank < 1
                    r3 += rank < 3
                    rr += 1.0 / (rank + 1)
                if rank == 0:
                    correct.append(ranked[0].score)
                wrong += [s.score for s in ranked if s.article_id not in query.relevant][:1]
                if mode == settings.mode and ranked and ranked[0].score >= settings.threshold:
                    answered += 1
                    answered_right += rank == 0
            n = max(len(queries), 1)
            report.modes[mode] = ModeScores(
                round(r1 / n, 3), round(r3 / n, 3), round(rr / n, 3), suggest_threshold(correct, wrong)
            )
            if mode == settings.mode:
                report.answered = round(answered / n, 3)
                report.answered_correct = round(answered_right / max(answered, 1), 3)
        reports.append(report)
    return reports


def format_report(reports: list[LanguageEval]) -> str:
    lines = [
        f"{'language':<9}{'mode':<9}{'queries':>8}{'recall@1':>10}{'recall@3':>10}{'MRR':>8}{'threshold*':>12}"
    ]
    for r in reports:
        for mode, s in r.modes.items():
            mark = " (in use)" if mode == r.mode else ""
            lines.append(
                f"{r.language:<9}{mode:<9}{r.queries:>8}{s.recall_at_1:>10.3f}{s.recall_at_3:>10.3f}"
                f"{s.mrr:>8.3f}{s.suggested_threshold:>12.2f}{mark}"
            )
    lines.append(
        "* suggested miss threshold for that mode: the score that best separates right from wrong top answers"
    )
    for r in reports:
        lines.append(
            f"{r.language}: {r.mode} with threshold {r.threshold:.2f} ({r.encoder}, {r.version}) answers "
            f"{r.answered:.1%} of the queries, {r.answered_correct:.1%} of those with the right article"
        )
    return "\n".join(lines)

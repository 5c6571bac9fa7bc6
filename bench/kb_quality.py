"""Knowledge-base retrieval quality with the real packaged encoders: dense vs lexical vs hybrid, per language.

Builds the real articles into a temporary index (or uses --index-dir), runs the same evaluation as
`python -m kb_index eval`, then shows how sensitive hybrid is to its lexical weight, with a 2-fold
cross-validation so the reported hybrid figure is not only the one the weight was picked on.

    PYTHONPATH=. .venv/bin/python bench/kb_quality.py [--index-dir DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kb_index.build import build
from kb_index.evaluation import evaluate, format_report, load_queries
from kb_index.retriever import Retriever
from kb_index.settings import DEFAULT_EVAL_DIR, DEFAULT_KB_DIR
from kb_index.tokens import tokenize

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def first_relevant_ranks(retriever: Retriever, lang: str, weight: float) -> list[int | None]:
    version = retriever.current()
    index = version.languages[lang]
    queries = load_queries(DEFAULT_EVAL_DIR / f"kb_queries_{lang}.yml")
    vectors = retriever.encoder(version, lang).encode([q.text for q in queries], query=True)
    ranks: list[int | None] = []
    for query, vector in zip(queries, vectors, strict=True):
        ranked = index.rank(
            vector, tokenize(query.text, lang), mode="hybrid", lexical_weight=weight, limit=10
        )
        ranks.append(next((i for i, s in enumerate(ranked) if s.article_id in query.relevant), None))
    return ranks


def metrics(ranks: list[int | None]) -> dict[str, float]:
    n = max(len(ranks), 1)
    return {
        "recall_at_1": round(sum(r is not None and r < 1 for r in ranks) / n, 3),
        "recall_at_3": round(sum(r is not None and r < 3 for r in ranks) / n, 3),
        "mrr": round(sum(1 / (r + 1) for r in ranks if r is not None) / n, 3),
    }


def cross_validated(
    by_choice: dict[Any, list[int | None]],
    seed: int = 13,
    shuffle: Callable[[list[int]], None] | None = None,
) -> dict[str, Any]:
    """Each query scored with the choice (by recall@1 + MRR) made on the other half of the queries."""
    size = len(next(iter(by_choice.values())))
    order = list(range(size))
    (shuffle or random.Random(seed).shuffle)(order)
    folds = [order[0::2], order[1::2]]
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
    if args.json:
        data = {"eval": [r.to_json() for r in reports], "lexical_weight": sweep}
        args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.index_dir is None:
        shutil.rmtree(index_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

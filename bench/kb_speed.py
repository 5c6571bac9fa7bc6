"""Knowledge-base speed: build throughput and single-query latency against a 10,000-passage index.

The index is made of the real articles plus synthetic ones shaped like them (sentences of the real articles
recombined under new titles, and real customer questions with a product and a number added), per language,
and built with the real packaged encoders through the normal `build`. Then, in the same run: end-to-end
query latency (embedding included, one thread) with the flat index and with HNSW, and the vector search
alone for numpy brute force, FAISS flat and FAISS HNSW, with their ratios.

    PYTHONPATH=. .venv/bin/python bench/kb_speed.py [--passages 10000] [--languages en zh] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kb_index import storage
from kb_index.articles import CATEGORIES, load_articles, parse_article
from kb_index.build import build, build_workers
from kb_index.chunking import passage_text, passages
from kb_index.encoder_loading import load_encoder
from kb_index.encoders import Encoder, EncoderSpec, Matrix
from kb_index.evaluation import load_queries
from kb_index.retriever import Retriever
from kb_index.settings import DEFAULT_EVAL_DIR, DEFAULT_KB_DIR

SENTENCE = re.compile(r"[^。！？.!?\n]+[。！？.!?]")
PRODUCTS = {
    "en": ["Aurora lamp", "Trail jacket", "Nimbus earbuds", "Linen shirt", "Harbor backpack", "Cedar desk"],
    "zh": ["极光台灯", "越野夹克", "云朵耳机", "亚麻衬衫", "港湾双肩包", "雪松书桌"],
}


class TimedEncoder:
    """Wraps an encoder to count the passages it embeds and the seconds it spends doing so."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.count = 0
        self.seconds = 0.0

    @property
    def spec(self) -> EncoderSpec:
        return self.inner.spec

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: Sequence[str], *, query: bool = False) -> Matrix:
        started = time.perf_counter()
        out = self.inner.encode(texts, query=query)
        self.seconds += time.perf_counter() - started
        self.count += len(texts)
        return out


def synthetic_kb(target: Path, size: int, languages: Sequence[str], seed: int = 7) -> dict[str, int]:
    """Copy the real articles and add synthetic ones until each language has `size` passages."""
    rng = random.Random(seed)
    real = load_articles(DEFAULT_KB_DIR)
    counts = {}
    for lang in languages:
        (target / lang).mkdir(parents=True)
        mine = [a for a in real if a.language == lang]
        for article in mine:
            shutil.copy(Path(article.path), target / lang)
        sentences = [s.strip() for a in mine for s in SENTENCE.findall(a.body) if len(s.strip()) > 8]
        titles = [a.title for a in mine]
        questions = [q for a in mine for q in a.questions]
        total = sum(len(passages(a)) for a in mine)
        number = 0
        while total < size:
            number += 1
            article_id = f"{lang}-synthetic-{number:05d}"
            product = rng.choice(PRODUCTS[lang])
            title = (
                f"{rng.choice(titles)} ({product})" if lang == "en" else f"{rng.choice(titles)}（{product}）"
            )
            sections = []
            for _ in range(rng.randint(1, 4)):
                heading = rng.choice(titles).rstrip("?？")
                body = (" " if lang == "en" else "").join(rng.sample(sentences, rng.randint(3, 7)))
                sections.append(f"## {heading}\n\n{body}")
            asked = [  # unique across articles, as the validator requires
                json.dumps(f"{q} ({product} {number})" if lang == "en" else f"{q}（{product}{number}）",
                           ensure_ascii=False)
                for q in rng.sample(questions, min(len(questions), rng.randint(10, 14)))
            ]  # fmt: skip
            text = (
                f"---\nid: {article_id}\nlanguage: {lang}\ntitle: {json.dumps(title, ensure_ascii=False)}\n"
                f"category: {rng.choice(sorted(CATEGORIES))}\nquestion_type: faq\nurgency: normal\n"
                f"tags: [{product}]\nquestions: [{', '.join(asked)}]\nrelated: []\n---\n"
                + "\n\n".join(sections)
                + "\n"
            )
            path = target / lang / f"{article_id}.md"
            path.write_text(text, encoding="utf-8")
            total += len(passages(parse_article(path)))
        counts[lang] = total
    return counts


def copy_models(source: Path, target: Path) -> None:
    """Exported encoders (none when only Chinese is measured) go along, so they are not exported again."""
    if storage.models_dir(source).is_dir():
        shutil.copytree(storage.models_dir(source), storage.models_dir(target), dirs_exist_ok=True)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    p50, p95, p99 = np.percentile(samples_ms, [50, 95, 99])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "p99": round(float(p99), 2)}


def timed(calls: list[Callable[[], object]], warmup: int = 20, repeat: int = 2) -> list[float]:
    for call in calls[:warmup]:
        call()
    out = []
    for _ in range(repeat):
        for call in calls:
            started = time.perf_counter()
            call()
            out.append((time.perf_counter() - started) * 1000)
    return out


def measure(flat_dir: Path, hnsw_dir: Path, languages: Sequence[str]) -> dict[str, Any]:
    flat, hnsw = Retriever(flat_dir), Retriever(hnsw_dir)
    return {lang: measure_language(flat, hnsw, lang) for lang in languages}


def measure_language(flat: Retriever, hnsw: Retriever, lang: str) -> dict[str, Any]:
    import faiss

    queries = [q.text for q in load_queries(DEFAULT_EVAL_DIR / f"kb_queries_{lang}.yml")]
    version, hversion = flat.current(), hnsw.current()
    index, hindex = version.languages[lang], hversion.languages[lang]
    encoder = flat.encoder(version, lang)
    hnsw.encoder(hversion, lang)
    vectors = [v.reshape(1, -1) for v in encoder.encode(queries, query=True)]
    matrix, k = index.vectors, 64
    row: dict[str, Any] = {"passages": index.size, "dimension": int(matrix.shape[1])}
    row["embed_only"] = percentiles(timed([lambda q=q: encoder.encode([q], query=True) for q in queries]))
    for name, retriever in (("flat", flat), ("hnsw", hnsw)):
        for mode in ("hybrid", "dense"):
            calls = [lambda q=q, r=retriever, m=mode: r.search(q, lang, 3, None, m) for q in queries]
            row[f"search_{name}_{mode}"] = percentiles(timed(calls))
    row["vector_numpy"] = percentiles(
        timed([lambda v=v: np.argpartition(-(matrix @ v[0]), k)[:k] for v in vectors])
    )
    row["vector_faiss_flat"] = percentiles(timed([lambda v=v: index.index.search(v, k) for v in vectors]))
    row["vector_faiss_hnsw"] = percentiles(timed([lambda v=v: hindex.index.search(v, k) for v in vectors]))
    exact = index.index.search(np.vstack(vectors), 10)[1]
    approx = hindex.index.search(np.vstack(vectors), 10)[1]
    overlap = [len(set(a) & set(b)) / 10 for a, b in zip(exact, approx, strict=True)]
    row["hnsw_recall_at_10"] = round(float(np.mean(overlap)), 4)
    row["faiss_threads"] = faiss.omp_get_max_threads()
    return row


def direct_throughput(
    index_dir: Path, lang: str, sample: int, threads: int, kinds: tuple[str, ...]
) -> dict[str, float]:
    """Passages per second for the encoder alone, on the first `sample` distinct passages of these kinds."""
    version = Retriever(index_dir).current()
    index = version.languages[lang]
    texts = list(
        dict.fromkeys(
            passage_text(version.articles[p.article_id], p) for p in index.passages if p.kind in kinds
        )
    )[:sample]
    encoder = load_encoder(index.entry.encoder.spec, threads=threads, model_dir=storage.models_dir(index_dir))
    encoder.encode(texts[:8])  # load weights before timing
    started = time.perf_counter()
    for start in range(0, len(texts), 256):
        encoder.encode(texts[start : start + 256])
    seconds = time.perf_counter() - started
    chars = sum(len(t) for t in texts) / len(texts)
    return {"passages": len(texts), "mean_chars": round(chars), "per_second": round(len(texts) / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=10_000, help="passages per language")
    parser.add_argument("--languages", nargs="+", default=["en", "zh"])
    parser.add_argument("--threads", type=int, default=1, help="encoder threads for the build")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temporary directory)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the models load from packages only
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    root = Path(args.keep or tempfile.mkdtemp(prefix="kb_speed-"))
    kb_dir, flat_dir, hnsw_dir = root / "kb", root / "flat", root / "hnsw"
    started = time.perf_counter()
    if kb_dir.is_dir():  # --keep of an earlier run: same articles, and its embedding cache is reused
        counts = {lang: len(list((kb_dir / lang).glob("*.md"))) for lang in args.languages}
        print(f"reusing {kb_dir}: {counts} articles", flush=True)
    else:
        counts = synthetic_kb(kb_dir, args.passages, args.languages)
        print(
            f"knowledge base: {counts} passages ({time.perf_counter() - started:.1f} s to write)", flush=True
        )

    timers: dict[str, TimedEncoder] = {}

    def factory(spec: str) -> TimedEncoder:
        encoder = load_encoder(spec, threads=args.threads, model_dir=storage.models_dir(flat_dir))
        timers[spec] = TimedEncoder(encoder)
        return timers[spec]

    started = time.perf_counter()
    build(kb_dir, flat_dir, encoder_factory=factory, progress=lambda line: print(line, flush=True))
    build_seconds = time.perf_counter() - started
    throughput = {
        spec: {
            "passages": t.count,
            "seconds": round(t.seconds, 2),
            "per_second": round(t.count / t.seconds, 1),
        }
        for spec, t in timers.items()
    }
    # The same build as shipped: default encoders, one worker process per core (the timed build above runs
    # in this process so that the encoder's own time can be measured).
    parallel_dir = root / "parallel"
    shutil.rmtree(parallel_dir, ignore_errors=True)
    copy_models(flat_dir, parallel_dir)  # export once
    parallel = build(kb_dir, parallel_dir, progress=lambda line: None)
    in_parallel = {
        lang: {
            "passages": n,
            "seconds": round(sec, 2),
            "per_second": round(n / sec, 1),
            "workers": build_workers(),
        }
        for lang, (n, sec) in parallel.embedding.items()
        if n
    }
    print(f"build with worker processes: {in_parallel}", flush=True)
    # The real knowledge base alone, built as shipped from an empty cache (below the worker threshold, so in
    # one process): the passage mix editors actually produce.
    real_dir = root / "real"
    shutil.rmtree(real_dir, ignore_errors=True)
    copy_models(flat_dir, real_dir)
    real = build(DEFAULT_KB_DIR, real_dir, progress=lambda line: None)
    real_kb = {
        lang: {"passages": n, "seconds": round(sec, 2), "per_second": round(n / sec, 1)}
        for lang, (n, sec) in real.embedding.items()
        if n
    }
    print(f"build of the real knowledge base: {real_kb}", flush=True)
    shutil.copytree(flat_dir / "cache", hnsw_dir / "cache", dirs_exist_ok=True)
    copy_models(flat_dir, hnsw_dir)
    started = time.perf_counter()
    build(kb_dir, hnsw_dir, index_type="hnsw", progress=lambda line: None)
    hnsw_seconds = time.perf_counter() - started

    encoder_only = {
        f"{lang} {name}": direct_throughput(flat_dir, lang, 2000, args.threads, kinds)
        for lang in args.languages
        for name, kinds in (("all kinds", ("title", "body", "question")), ("body only", ("body",)))
    }
    print(f"encoder alone: {encoder_only}", flush=True)
    latency = measure(flat_dir, hnsw_dir, args.languages)
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU, "
        f"Python {platform.python_version()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "build_seconds_total": round(build_seconds, 1),
        "hnsw_build_seconds_from_cache": round(hnsw_seconds, 1),
        "embedding_throughput_in_build": throughput,
        "embedding_throughput_build_with_workers": in_parallel,
        "embedding_throughput_real_knowledge_base": real_kb,
        "embedding_throughput_encoder_only": encoder_only,
        "latency_ms": latency,
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))
    for lang, row in latency.items():
        flat_p99, hnsw_p99 = row["search_flat_hybrid"]["p99"], row["search_hnsw_hybrid"]["p99"]
        print(
            f"{lang}: hybrid search {row['search_flat_hybrid']} ms flat, {row['search_hnsw_hybrid']} ms HNSW "
            f"(HNSW/flat p99 {hnsw_p99 / flat_p99:.2f}); vector search p50 numpy/faiss-flat "
            f"{row['vector_numpy']['p50'] / row['vector_faiss_flat']['p50']:.1f}x, "
            f"faiss-flat/HNSW {row['vector_faiss_flat']['p50'] / row['vector_faiss_hnsw']['p50']:.1f}x"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

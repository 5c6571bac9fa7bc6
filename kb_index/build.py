"""Build a new index version from the articles: incremental, versioned, published atomically.

The inputs (article hashes, encoder identities, chunking and retrieval settings) are fingerprinted first; when
the fingerprint equals the newest version's, nothing is loaded or written, which keeps `make run` fast.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from kb_index import storage
from kb_index.articles import (
    LANGUAGES,
    Article,
    ArticleError,
    Problem,
    content_hash,
    display_path,
    load_articles,
)
from kb_index.cache import EmbeddingCache, passage_key
from kb_index.chunking import MAX_CHARS, MIN_CHARS, Chunk, lexical_text, passage_text, passages
from kb_index.encoder_loading import load_encoder
from kb_index.encoders import (
    Encoder,
    EncoderError,
    EncoderSpec,
    Matrix,
    describe,
    library_versions,
)
from kb_index.manifest import (
    ArticleEntry,
    Changes,
    EncoderEntry,
    IndexLoadError,
    LanguageEntry,
    Manifest,
    read_manifest,
    verify_files,
)
from kb_index.settings import LanguageRetrieval, encoder_specs, load_retrieval
from kb_index.tokens import tokenize
from kb_index.vectors import build_index, choose_index_type, hnsw_parameters, write_index

EncoderFactory = Callable[[str], Encoder]
BATCH = 256
PARALLEL_MIN_PASSAGES = 1_000  # below this, starting worker processes costs more than it saves
SOURCES_FORMAT = 1
SOURCE_READS = 3  # an article saved between parsing and reading its text: both are read again


@dataclass(frozen=True)
class BuildResult:
    version: str  # the version built, or the newest one when nothing changed
    built: bool
    changes: Changes
    embedded: int = 0
    reused: int = 0
    seconds: float = 0.0
    # per language: (passages embedded, seconds spent embedding them, time in worker processes included)
    embedding: dict[str, tuple[int, float]] = field(default_factory=dict)


def _build_encoder(index_dir: Path) -> EncoderFactory:
    # One thread: on the two shared cores a second BLAS/torch thread made embedding several times slower
    # whenever other work was running (docs/benchmarks.md).
    return lambda spec: load_encoder(spec, threads=1, model_dir=storage.models_dir(index_dir))


def build_workers() -> int:
    """Processes that embed a large build: KB_BUILD_WORKERS, or one per core this process may use."""
    configured = os.environ.get("KB_BUILD_WORKERS", "").strip()
    if configured:
        if not configured.isdigit() or int(configured) < 1:
            raise EncoderError(f"KB_BUILD_WORKERS must be a whole number >= 1, not '{configured}'")
        return int(configured)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class _Workers:
    """Worker processes for large embeddings, started before they are needed so that their start-up (a
    fresh interpreter, the models) overlaps the build's word tokenising; each loads every encoder it will be
    asked for, with one thread. Processes share nothing, so unlike a second BLAS thread they scale with the
    free cores."""

    def __init__(self, specs: list[str], workers: int, index_dir: Path) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch threads
        self._specs = specs
        initargs = (specs, str(storage.models_dir(index_dir)))
        self.pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_worker_init, initargs=initargs
        )
        self._warming = [self.pool.submit(_worker_ready) for _ in range(workers)]  # spawns them all now

    def encode(self, spec: str, batches: list[list[str]]) -> Iterator[Matrix]:
        try:
            for future in self._warming:  # a worker that cannot load an encoder: say which, not "broken pool"
                future.result()
            yield from self.pool.map(_worker_encode, [spec] * len(batches), batches)
        except BrokenExecutor:
            raise EncoderError(
                f"the build's worker processes stopped while loading or running {', '.join(self._specs)} "
                "(their error is printed above); KB_BUILD_WORKERS=1 builds in this process"
            ) from None

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


_worker_encoders: dict[str, Encoder] = {}


def _worker_init(specs: list[str], models_dir: str) -> None:
    for spec in specs:
        _worker_encoders[spec] = load_encoder(spec, threads=1, model_dir=Path(models_dir))


def _worker_ready() -> bool:
    return True


def _worker_encode(spec: str, texts: list[str]) -> Matrix:
    return _worker_encoders[spec].encode(texts)


def fingerprint(
    articles: list[Article],
    specs: dict[str, EncoderSpec],
    retrieval: dict[str, LanguageRetrieval],
    index_type: str,
) -> str:
    inputs = {
        "format": 1,
        "articles": sorted((a.id, a.content_hash) for a in articles),
        "encoders": {lang: spec.identity for lang, spec in sorted(specs.items())},
        "retrieval": {lang: r.to_json() for lang, r in sorted(retrieval.items())},
        "chunking": _chunking(),
        "index_type": index_type,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _chunking() -> dict[str, dict[str, int]]:
    return {"max_chars": dict(MAX_CHARS), "min_chars": dict(MIN_CHARS)}


def _newest(index_dir: Path, print_: Callable[[str], None]) -> Manifest | None:
    """The newest intact version's manifest; a damaged version is reported and skipped, never trusted."""
    for version in reversed(storage.list_versions(index_dir)):
        directory = storage.version_dir(index_dir, version)
        try:
            manifest = read_manifest(directory)
            verify_files(directory, manifest)
        except IndexLoadError as exc:
            print_(f"warning: skipping damaged version {version}: {exc}")
            continue
        return manifest
    return None


def build(
    kb_dir: Path,
    index_dir: Path,
    *,
    encoders: dict[str, str] | None = None,
    retrieval: dict[str, LanguageRetrieval] | None = None,
    index_type: str = "auto",
    encoder_factory: EncoderFactory | None = None,
    progress: Callable[[str], None] = print,
    force: bool = False,
) -> BuildResult:
    """Validate the articles and, when anything changed, build and publish a new version.

    Raises ArticleError for invalid articles (with file:line), before anything is loaded or written.
    """
    started = time.perf_counter()
    # Only encoders made from their spec can be made again in worker processes.
    workers = build_workers() if encoder_factory is None else 1
    encoder_factory = encoder_factory or _build_encoder(index_dir)
    articles, sources = _articles_with_sources(kb_dir)
    retrieval = retrieval or load_retrieval()
    specs = {lang: describe(spec) for lang, spec in encoder_specs(encoders).items()}
    print_ = progress
    with storage.build_lock(index_dir):
        newest = _newest(index_dir, print_)
        fp = fingerprint(articles, specs, retrieval, index_type)
        current = storage.read_current(index_dir)
        if newest is not None and newest.fingerprint == fp and not force:
            if current is None or current not in storage.list_versions(index_dir):
                storage.write_current(index_dir, newest.version)
                current = newest.version
            if current != newest.version:
                print_(
                    f"index is up to date: the articles are unchanged since {newest.version}; "
                    f"serving {current} "
                    f"after a rollback (python -m kb_index rollback {newest.version} serves the newest)"
                )
            else:
                print_(f"index is up to date ({newest.version}, {len(articles)} articles)")
            return BuildResult(newest.version, False, Changes())

        version = storage.next_version(index_dir)
        changes = _changes(newest, articles, specs, retrieval)
        print_(f"building {version}: {changes.summary()} since {newest.version if newest else 'nothing'}")
        for lang, spec in specs.items():
            if retrieval[lang].calibrated_for != spec.spec:
                print_(
                    f"warning: the {lang} threshold was chosen for {retrieval[lang].calibrated_for}, not "
                    f"{spec.spec}: run `python -m kb_index eval` and update kb_index/retrieval.yml"
                )
        staging = storage.staging_dir(index_dir)
        try:
            manifest, embedded, reused, embedding = _write_version(
                staging,
                index_dir,
                version,
                newest,
                articles,
                specs,
                retrieval,
                index_type,
                encoder_factory,
                print_,
                workers,
            )
            storage.atomic_write_json(staging / storage.SOURCES, sources)
            manifest = replace(manifest, fingerprint=fp, changes=changes)
            storage.atomic_write_json(staging / "manifest.json", manifest.to_json())
            storage.publish(staging, index_dir, version)
        except BaseException:
            storage.discard(staging)
            raise
        storage.write_current(index_dir, version)
    seconds = time.perf_counter() - started
    print_(
        f"built {version} in {seconds:.1f} s ({embedded} passages embedded, {reused} reused); "
        f"serving {version}"
    )
    return BuildResult(version, True, changes, embedded, reused, seconds, embedding)


def article_sources(kb_dir: Path, articles: list[Article]) -> dict[str, Any] | None:
    """The text of each article's file as parsed, kept with the version so that versions can be compared
    as text and their files restored; None when a file changed after it was parsed."""
    texts: dict[str, dict[str, str]] = {}
    for article in articles:
        try:
            raw = (kb_dir / article.language / f"{article.id}.md").read_bytes()
        except FileNotFoundError:
            return None
        if content_hash(raw) != article.content_hash:
            return None
        texts[article.id] = {"language": article.language, "text": raw.decode("utf-8")}
    return {"format": SOURCES_FORMAT, "articles": texts}


def _articles_with_sources(kb_dir: Path) -> tuple[list[Article], dict[str, Any]]:
    for _ in range(SOURCE_READS):
        articles = load_articles(kb_dir)
        sources = article_sources(kb_dir, articles)
        if sources is not None:
            return articles, sources
    message = "the articles kept changing while the build read them: build again"
    raise ArticleError([Problem(display_path(kb_dir), 1, message)])


def _changes(
    newest: Manifest | None,
    articles: list[Article],
    specs: dict[str, EncoderSpec],
    retrieval: dict[str, LanguageRetrieval],
) -> Changes:
    before = newest.articles if newest else {}
    now = {a.id: a.content_hash for a in articles}
    settings: list[str] = []
    if newest is not None:
        for lang, spec in specs.items():
            entry = newest.languages.get(lang)
            if entry is not None and entry.encoder.identity != spec.identity:
                settings.append(f"{lang} encoder")
            if entry is not None and entry.retrieval != retrieval[lang]:
                settings.append(f"{lang} retrieval")
        if newest.chunking != _chunking():
            settings.append("chunking")
    return Changes(
        added=sorted(set(now) - set(before)),
        changed=sorted(k for k in now if k in before and before[k].hash != now[k]),
        removed=sorted(set(before) - set(now)),
        settings=settings,
    )


def _write_version(
    staging: Path,
    index_dir: Path,
    version: str,
    newest: Manifest | None,
    articles: list[Article],
    specs: dict[str, EncoderSpec],
    retrieval: dict[str, LanguageRetrieval],
    index_type: str,
    encoder_factory: EncoderFactory,
    print_: Callable[[str], None],
    workers: int,
) -> tuple[Manifest, int, int, dict[str, tuple[int, float]]]:
    languages: dict[str, LanguageEntry] = {}
    entries: dict[str, ArticleEntry] = {}
    embedded = reused = 0
    embedding: dict[str, tuple[int, float]] = {}
    plans: list[_Plan] = []
    caches: dict[str, EmbeddingCache] = {}  # one per encoder: two languages may share one, and its file
    for lang in LANGUAGES:
        mine = [a for a in articles if a.language == lang]
        if not mine:
            continue
        identity = specs[lang].identity
        if identity not in caches:
            caches[identity] = EmbeddingCache(index_dir, identity)
        plan = _Plan(lang, mine, specs[lang], caches[identity])
        for article in mine:
            pieces = passages(article)
            entries[article.id] = ArticleEntry(article.content_hash, lang, article.path, len(pieces))
            for chunk in pieces:
                text = passage_text(article, chunk)
                key = passage_key(plan.spec.identity, text)
                plan.records.append({**chunk.to_json(), "key": key})
                plan.sources.append((article, chunk))
                if plan.cache.get(key) is None:
                    plan.todo.setdefault(key, text)
        plans.append(plan)
    parallel = [p.spec.spec for p in plans if workers > 1 and len(p.todo) >= PARALLEL_MIN_PASSAGES]
    # Encoders load here when this process embeds, and an ONNX model is exported here once, before any
    # worker would try to; the workers load their own (the default factory is load_encoder itself).
    for plan in plans:
        if plan.todo and (plan.spec.spec not in parallel or plan.spec.kind == "onnx-int8"):
            plan.encoder = encoder_factory(plan.spec.spec)
            if plan.encoder.spec.identity != plan.spec.identity:
                raise EncoderError(
                    f"encoder for '{plan.spec.spec}' reports identity {plan.encoder.spec.identity}"
                )
    pool = _Workers(parallel, workers, index_dir) if parallel else None
    try:
        for plan in plans:  # while the workers start
            for record, (article, chunk) in zip(plan.records, plan.sources, strict=True):
                record["tokens"] = tokenize(lexical_text(article, chunk), plan.language)
        for plan in plans:
            lang, spec, records = plan.language, plan.spec, plan.records
            vectors, seconds = _embed(plan, pool if spec.spec in parallel else None, workers, print_)
            embedded += len(plan.todo)
            embedding[lang] = (len(plan.todo), seconds)
            reused += len(records) - len(plan.todo)
            kind = choose_index_type(len(records), index_type)
            write_index(build_index(vectors, kind), staging / f"{lang}.faiss")
            storage.atomic_write_json(staging / f"{lang}.passages.json", records)
            encoder = EncoderEntry(spec.spec, spec.model, spec.path, spec.identity, int(vectors.shape[1]))
            hnsw = hnsw_parameters() if kind == "hnsw" else None
            languages[lang] = LanguageEntry(encoder, kind, len(records), retrieval[lang], hnsw)
            print_(
                f"{lang}: {len(plan.articles)} articles, {len(records)} passages, {kind} index, "
                f"{vectors.shape[1]} dimensions"
            )
    finally:
        if pool is not None:
            pool.close()
    storage.atomic_write_json(staging / "articles.json", {a.id: a.to_json() for a in articles})
    files = {p.name: storage.file_sha256(p) for p in sorted(staging.iterdir()) if p.is_file()}
    manifest = Manifest(
        version=version,
        parent=newest.version if newest else None,
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        fingerprint="",
        libraries=library_versions(),
        chunking=_chunking(),
        languages=languages,
        articles=dict(sorted(entries.items())),
        changes=Changes(),
        files=files,
    )
    return manifest, embedded, reused, embedding


@dataclass
class _Plan:
    """One language of a build: its passages, and those the embedding cache does not have yet."""

    language: str
    articles: list[Article]
    spec: EncoderSpec
    cache: EmbeddingCache
    records: list[dict[str, Any]] = field(default_factory=list)
    sources: list[tuple[Article, Chunk]] = field(default_factory=list)  # what each record was made from
    todo: dict[str, str] = field(default_factory=dict)  # key -> text, each distinct text once
    encoder: Encoder | None = None


def _embed(
    plan: _Plan, pool: _Workers | None, workers: int, print_: Callable[[str], None]
) -> tuple[Matrix, float]:
    """Vectors for all passages: from the cache where the key is known, from the encoder otherwise."""
    lang, spec, cache = plan.language, plan.spec, plan.cache
    keys = [record["key"] for record in plan.records]
    seconds = 0.0
    if plan.todo:
        pending = list(plan.todo.items())
        shown = f", {workers} processes" if pool is not None else ""
        reused = len(keys) - len(pending)
        print_(f"{lang}: embedding {len(pending)} passages with {spec.spec} ({reused} reused{shown})")
        started = time.perf_counter()
        batches = [[text for _, text in pending[i : i + BATCH]] for i in range(0, len(pending), BATCH)]
        if pool is not None:
            encoded = pool.encode(spec.spec, batches)
        else:
            assert plan.encoder is not None
            encoded = map(plan.encoder.encode, batches)
        done = 0
        for vectors in encoded:
            cache.put([key for key, _ in pending[done : done + len(vectors)]], vectors)
            done += len(vectors)
            rate = done / max(time.perf_counter() - started, 1e-9)
            print_(f"{lang}: embedded {done}/{len(pending)} passages ({rate:.0f}/s)")
        seconds = time.perf_counter() - started
        cache.save()
    else:
        print_(f"{lang}: all {len(keys)} passages reused from the cache")
    rows = [cache.get(key) for key in keys]
    matrix = np.stack([r for r in rows if r is not None]).astype(np.float32)
    dims = {int(r.shape[0]) for r in rows if r is not None}
    if len(dims) != 1:
        raise EncoderError(
            f"{lang}: cached vectors have different dimensions {sorted(dims)}; delete {cache.path}"
        )
    return matrix, seconds

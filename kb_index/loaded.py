"""One index version in memory: checked against its manifest, then ranked by dense, lexical or hybrid score.

Ranking is pure given a query vector and query tokens, so the evaluation and the service share it and unit
tests can drive it with a toy encoder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kb_index import storage
from kb_index.articles import Article
from kb_index.chunking import Chunk
from kb_index.encoders import Matrix
from kb_index.lexical import Bm25
from kb_index.manifest import IndexLoadError, LanguageEntry, Manifest, read_manifest, verify_files
from kb_index.vectors import read_index

# Passages fetched from each retriever before scores are merged per article; the knowledge base is small
# enough that this covers every plausible article, and it keeps HNSW queries cheap at 10,000+ passages.
CANDIDATES = 64


@dataclass(frozen=True)
class Scored:
    article_id: str
    score: float
    passage: int  # index into LanguageIndex.passages of the best-scoring passage


class LanguageIndex:
    def __init__(
        self, language: str, entry: LanguageEntry, index: Any, passages: list[dict[str, Any]]
    ) -> None:
        self.language = language
        self.entry = entry
        self.index = index
        self.passages = [Chunk.from_json(p) for p in passages]
        self._tokens: list[list[str]] = [p["tokens"] for p in passages]
        self.vectors: Matrix = index.reconstruct_n(0, index.ntotal)
        self.article_of = [p.article_id for p in self.passages]
        self._by_article: dict[str, list[int]] = {}
        for i, article_id in enumerate(self.article_of):
            self._by_article.setdefault(article_id, []).append(i)

    @property
    def size(self) -> int:
        return len(self.passages)

    @cached_property
    def bm25(self) -> Bm25:
        return Bm25(self._tokens)

    def passages_of(self, article_id: str) -> list[int]:
        return self._by_article.get(article_id, [])

    def rank(
        self,
        vector: Matrix | None,
        tokens: list[str] | None,
        *,
        mode: str,
        lexical_weight: float,
        limit: int,
        allowed: npt.NDArray[np.int64] | None = None,
        selector: Any = None,
    ) -> list[Scored]:
        """Articles by their best passage's score; `allowed` (with its faiss `selector`) filters passages."""
        if self.size == 0 or (allowed is not None and allowed.size == 0):
            return []
        want = min(self.size, max(CANDIDATES, limit * 16))
        dense: dict[int, float] = {}
        if mode in ("dense", "hybrid") and vector is not None:
            dense = self._dense(vector, want, selector)
        lexical: npt.NDArray[np.float32] | None = None
        candidates = set(dense)
        if mode in ("lexical", "hybrid") and tokens:
            lexical = self.bm25.scores(tokens)
            if allowed is not None:
                mask = np.zeros(self.size, dtype=bool)
                mask[allowed] = True
                lexical[~mask] = 0.0
            top = np.argpartition(-lexical, want - 1)[:want] if want < self.size else np.arange(self.size)
            candidates.update(int(i) for i in top if lexical[i] > 0.0)
        if mode == "hybrid" and vector is not None:
            missing = [i for i in candidates if i not in dense]
            if missing:
                for i, score in zip(missing, self.vectors[missing] @ vector, strict=True):
                    dense[i] = float(score)
        best: dict[str, Scored] = {}
        for i in candidates:
            d = dense.get(i, 0.0)
            lex = float(lexical[i]) if lexical is not None else 0.0
            if mode == "dense":
                score = d
            elif mode == "lexical":
                score = lex
            else:
                score = (1.0 - lexical_weight) * d + lexical_weight * lex
            article = self.article_of[i]
            if article not in best or score > best[article].score:
                best[article] = Scored(article, score, i)
        return sorted(best.values(), key=lambda s: (-s.score, s.article_id))[:limit]

    def _dense(self, vector: Matrix, want: int, selector: Any) -> dict[int, float]:
        import faiss as faiss_module

        faiss: Any = faiss_module  # the bundled stubs lack the search-parameter classes

        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        if selector is None:
            scores, ids = self.index.search(query, want)
        elif self.entry.index_type == "hnsw":
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(want, self.index.hnsw.efSearch))
            scores, ids = self.index.search(query, want, params=params)
        else:
            scores, ids = self.index.search(query, want, params=faiss.SearchParameters(sel=selector))
        return {int(i): float(s) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0}


class LoadedVersion:
    def __init__(self, directory: Path, manifest: Manifest, articles: dict[str, Article]) -> None:
        self.directory = directory
        self.manifest = manifest
        self.version = manifest.version
        self.articles = articles
        self.languages: dict[str, LanguageIndex] = {}
        self._filters: dict[tuple[str, str], tuple[npt.NDArray[np.int64], Any]] = {}

    def category_filter(self, language: str, category: str) -> tuple[npt.NDArray[np.int64], Any]:
        """Passage ids of a category and the faiss selector over them (made once, then reused)."""
        key = (language, category)
        if key not in self._filters:
            import faiss

            index = self.languages[language]
            ids = np.array(
                [i for i, a in enumerate(index.article_of) if self.articles[a].category == category],
                dtype=np.int64,
            )
            self._filters[key] = (ids, faiss.IDSelectorBatch(ids) if ids.size else None)
        return self._filters[key]


def load_version(index_dir: Path, version: str) -> LoadedVersion:
    """Load and check a version: manifest, file hashes, index dimensions and passage counts."""
    directory = storage.version_dir(index_dir, version)
    if not directory.is_dir():
        raise IndexLoadError(f"{directory}: version {version} does not exist")
    manifest = read_manifest(directory)
    verify_files(directory, manifest)
    try:
        raw = json.loads((directory / "articles.json").read_text(encoding="utf-8"))
        articles = {k: Article.from_json(v) for k, v in raw.items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexLoadError(f"{directory / 'articles.json'}: unreadable ({exc!r})") from None
    if set(articles) != set(manifest.articles):
        raise IndexLoadError(f"{directory}: articles.json and the manifest list different articles")
    loaded = LoadedVersion(directory, manifest, articles)
    for lang, entry in manifest.languages.items():
        faiss_path, passages_path = directory / f"{lang}.faiss", directory / f"{lang}.passages.json"
        try:
            index = read_index(faiss_path)
        except (OSError, RuntimeError) as exc:
            raise IndexLoadError(f"{faiss_path}: not a readable FAISS index ({exc})") from None
        passages = json.loads(passages_path.read_text(encoding="utf-8"))
        if index.d != entry.encoder.dimension:
            raise IndexLoadError(
                f"{faiss_path}: dimension mismatch: the index has {index.d}, the manifest says "
                f"{entry.encoder.dimension} ({entry.encoder.spec})"
            )
        if index.ntotal != entry.passages or len(passages) != entry.passages:
            raise IndexLoadError(
                f"{faiss_path}: {index.ntotal} vectors and {len(passages)} passages, "
                f"the manifest says {entry.passages}"
            )
        unknown = {p["article_id"] for p in passages} - set(articles)
        if unknown:
            raise IndexLoadError(f"{passages_path}: passages of unknown articles {sorted(unknown)[:3]}")
        loaded.languages[lang] = LanguageIndex(lang, entry, index, passages)
    return loaded

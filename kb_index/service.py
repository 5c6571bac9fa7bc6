"""The knowledge base for the action server: async, never blocking the event loop.

Model loading, embedding and FAISS search run in a worker thread. Nothing is loaded until the first call
(or `warm_up`), and each call checks the CURRENT pointer, so a new build or a rollback is served without a
restart.

    kb = KnowledgeBase.from_env()
    result = await kb.search("how long do refunds take", "en")
    if result.miss: hand over, with result.hits in the packet
    else: answer with result.hits[0] and record its article_id and version
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from kb_index.encoders import Matrix, normalise
from kb_index.results import Hit, SearchResult
from kb_index.retriever import EncoderFactory, KnowledgeBaseUnavailable, Retriever
from kb_index.settings import ENCODER_ENV, index_dir_from_env

__all__ = ["Hit", "KnowledgeBase", "KnowledgeBaseUnavailable", "SearchResult"]


class KnowledgeBase:
    def __init__(
        self,
        index_dir: Path,
        *,
        encoder_factory: EncoderFactory | None = None,
        encoder_overrides: dict[str, str] | None = None,
    ) -> None:
        kwargs = {} if encoder_factory is None else {"encoder_factory": encoder_factory}
        self._retriever = Retriever(index_dir, encoder_overrides=encoder_overrides, **kwargs)

    @classmethod
    def from_env(cls) -> KnowledgeBase:
        """KB_INDEX_DIR (default <repo>/var/kb_index); KB_EN_MODEL / KB_ZH_MODEL, if set, must match."""
        overrides = {lang: os.environ[var] for lang, var in ENCODER_ENV.items() if os.environ.get(var)}
        return cls(index_dir_from_env(), encoder_overrides=overrides)

    @property
    def index_dir(self) -> Path:
        return self._retriever.index_dir

    async def search(
        self, query: str, language: str, top_k: int = 3, category: str | None = None
    ) -> SearchResult:
        """Best articles in `language`; raises KnowledgeBaseUnavailable when no index can be loaded."""
        return await asyncio.to_thread(self._retriever.search, query, language, top_k, category)

    async def article(self, article_id: str, language: str) -> Hit | None:
        """The served version's article by id (one the customer picked from suggestions), or None."""
        return await asyncio.to_thread(self._retriever.article, article_id, language)

    async def related(self, article_id: str, language: str, limit: int = 2) -> list[Hit]:
        """Articles to suggest after `article_id`: its curated `related` list, then its nearest neighbours."""
        return await asyncio.to_thread(self._retriever.related, article_id, language, limit)

    async def embed(self, texts: Sequence[str], language: str) -> Matrix:
        """Unit-length sentence vectors from the encoder that serves `language` in the current index, for
        matching short answers by meaning (return reasons) in the same space as the knowledge base."""

        def run() -> Matrix:
            version = self._retriever.current()
            return normalise(self._retriever.encoder(version, language).encode(list(texts), query=True))

        return await asyncio.to_thread(run)

    async def version(self) -> str:
        return (await asyncio.to_thread(self._retriever.current)).version

    async def warm_up(self, languages: tuple[str, ...] = ("en", "zh")) -> None:
        """Load the index and the encoders now, so the first customer does not wait for them."""

        def load() -> None:
            version = self._retriever.current()
            for language in languages:
                if language in version.languages:
                    self._retriever.encoder(version, language)

        await asyncio.to_thread(load)

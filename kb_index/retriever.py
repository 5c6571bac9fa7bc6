"""Synchronous search over the served version: follows the CURRENT pointer and keeps encoders loaded.

Every call re-reads the small CURRENT file, so a `build` or `rollback` in another process takes effect on the
next query without a restart. A version that fails its checks is refused and the previous one stays in
service; with none loaded yet, the error reaches the caller.

Whether the best article is answered is decided on its score and on its margin over the runner-up. The
margin compares *support*, the mean of an article's two best passage scores: an article that really answers
a question usually matches it on several of its customer questions, while a neighbouring article (the best
one left when the right article does not exist) tends to match on one, with other articles about as close.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kb_index import storage
from kb_index.encoder_loading import load_encoder
from kb_index.encoders import Encoder, EncoderError, Matrix, describe
from kb_index.loaded import LanguageIndex, LoadedVersion, Scored, load_version
from kb_index.manifest import IndexLoadError
from kb_index.results import Hit, SearchResult
from kb_index.tokens import plain_terms, sentence_views, tokenize
from kb_index.vectors import set_single_thread

logger = logging.getLogger(__name__)
EncoderFactory = Callable[[str], Encoder]
# An article's support is the mean of this many of its best passage scores (fewer if it has fewer).
SUPPORT_PASSAGES = 2
# A near miss offers at most this many articles (and a person).
SUGGESTED = 2


class KnowledgeBaseUnavailable(Exception):
    """There is no usable index version to search."""


class Retriever:
    def __init__(
        self,
        index_dir: Path,
        *,
        encoder_factory: EncoderFactory | None = None,
        encoder_overrides: dict[str, str] | None = None,
    ) -> None:
        self.index_dir = index_dir
        self._factory = encoder_factory or (
            # Searching never exports a model (slow, and it needs torch): the build did that.
            lambda spec: load_encoder(spec, threads=1, model_dir=storage.models_dir(index_dir), export=False)
        )
        self._overrides = dict(encoder_overrides or {})
        self._lock = threading.Lock()
        self._loaded: LoadedVersion | None = None
        self._refused: str | None = None
        self._encoders: dict[str, Encoder] = {}
        set_single_thread()

    def current(self) -> LoadedVersion:
        """The version CURRENT names, loaded once; reloaded when the pointer changes."""
        pointer = storage.read_current(self.index_dir)
        loaded = self._loaded
        if loaded is not None and pointer == loaded.version:
            return loaded
        with self._lock:
            loaded = self._loaded
            if loaded is not None and pointer == loaded.version:
                return loaded
            if pointer is None:
                if loaded is not None:
                    return loaded
                raise KnowledgeBaseUnavailable(
                    f"no index in {self.index_dir}: run `python -m kb_index build`"
                )
            if pointer == self._refused and loaded is not None:
                return loaded
            try:
                fresh = load_version(self.index_dir, pointer)
                self._check_encoders(fresh)
            except IndexLoadError as exc:
                self._refused = pointer
                if loaded is None:
                    raise
                logger.error("kb.version.refused", extra={"version": pointer, "error": str(exc)})
                return loaded
            logger.info("kb.version.loaded", extra={"version": fresh.version})
            self._loaded, self._refused = fresh, None
            return fresh

    def _check_encoders(self, version: LoadedVersion) -> None:
        for lang, entry in version.manifest.languages.items():
            override = self._overrides.get(lang)
            if override and describe(override).identity != entry.encoder.identity:
                raise IndexLoadError(
                    f"{version.directory}: {lang} was built with {entry.encoder.spec} "
                    "but the configured encoder "
                    f"is {override}: run `python -m kb_index build`"
                )

    def encoder(self, version: LoadedVersion, language: str) -> Encoder:
        """The encoder a language was built with, created on first use and kept."""
        entry = version.manifest.languages[language].encoder
        found = self._encoders.get(entry.identity)
        if found is not None:
            return found
        with self._lock:
            found = self._encoders.get(entry.identity)
            if found is None:
                try:
                    found = self._factory(entry.spec)
                except EncoderError as exc:  # a missing or damaged model: the index cannot be searched
                    raise IndexLoadError(f"{version.directory}: {language}: {exc}") from None
                if found.spec.identity != entry.identity or found.dimension != entry.dimension:
                    raise IndexLoadError(
                        f"{version.directory}: {language} needs {entry.identity} "
                        f"({entry.dimension} dimensions), "
                        f"the encoder is {found.spec.identity} ({found.dimension} dimensions)"
                    )
                self._encoders[entry.identity] = found
            return found

    def search(
        self, query: str, language: str, top_k: int = 3, category: str | None = None, mode: str | None = None
    ) -> SearchResult:
        version = self.current()
        index = version.languages.get(language)
        if index is None or not query.strip():
            return SearchResult([], True, 1.0, version.version, language, mode or "")
        settings = index.entry.retrieval
        mode = mode or settings.mode
        query = plain_terms(query, language)
        vector = None
        if mode != "lexical":
            vector = self.encoder(version, language).encode([query], query=True)[0]
        tokens = tokenize(query, language) if mode != "dense" else None
        allowed = selector = None
        if category is not None:
            allowed, selector = version.category_filter(language, category)
        ranked = index.rank(
            vector,
            tokens,
            mode=mode,
            lexical_weight=settings.lexical_weight,
            limit=max(top_k, 2),  # the runner-up is needed for the margin
            allowed=allowed,
            selector=selector,
        )
        hits = [self._hit(version, index, s) for s in ranked[: max(top_k, 1)]]
        if not ranked:
            return SearchResult(hits, True, settings.threshold, version.version, language, mode)
        margin = support_margin(
            index, ranked, vector, tokens, mode=mode, lexical_weight=settings.lexical_weight
        )
        miss = not settings.accepts(ranked[0].score, margin)
        offers = hits[:SUGGESTED] if settings.suggests(ranked[0].score, margin) else []
        if miss and not offers and settings.suggest_threshold is not None:
            # The hits stay the message's own ranking (an experiment's threshold may still answer hits[0]).
            offers = self._sentence_offers(version, index, query, language, mode, allowed, selector)
        return SearchResult(
            hits,
            miss,
            settings.threshold,
            version.version,
            language,
            mode,
            margin=round(margin, 4),
            confidence=round(settings.confidence(ranked[0].score, margin), 4),
            offers=offers,
        )

    def _sentence_offers(
        self,
        version: LoadedVersion,
        index: LanguageIndex,
        query: str,
        language: str,
        mode: str,
        allowed: npt.NDArray[np.int64] | None,
        selector: object,
    ) -> list[Hit]:
        """A message of several sentences that misses as a whole ("…no idea what size she wears 🙈 how
        long does she have to send it back? and how long does the refund take?"): each sentence that an
        article answers with the language's full confidence, best first, at most SUGGESTED. They are only
        offered, never answered: a sentence alone can mean less than the message."""
        sentences = sentence_views(query, language)
        if not sentences:
            return []
        settings = index.entry.retrieval
        vectors = self.encoder(version, language).encode(sentences, query=True) if mode != "lexical" else None
        picked: list[tuple[float, Hit]] = []
        for i, sentence in enumerate(sentences):
            vector = vectors[i] if vectors is not None else None
            tokens = tokenize(sentence, language) if mode != "dense" else None
            ranked = index.rank(
                vector,
                tokens,
                mode=mode,
                lexical_weight=settings.lexical_weight,
                limit=2,
                allowed=allowed,
                selector=selector,
            )
            if not ranked:
                continue
            margin = support_margin(
                index, ranked, vector, tokens, mode=mode, lexical_weight=settings.lexical_weight
            )
            best = ranked[0]
            fresh = all(h.article_id != best.article_id for _, h in picked)
            if fresh and settings.accepts(best.score, margin):
                picked.append((settings.confidence(best.score, margin), self._hit(version, index, best)))
        picked.sort(key=lambda p: -p[0])
        return [h for _, h in picked[:SUGGESTED]]

    def article(self, article_id: str, language: str) -> Hit | None:
        """One article of the served version by id, as a hit scored 1 (the customer chose it); None when the
        version has no such article in `language`."""
        version = self.current()
        index = version.languages.get(language)
        article = version.articles.get(article_id)
        if index is None or article is None or article.language != language:
            return None
        rows = index.passages_of(article_id)
        if not rows:
            return None
        return self._hit(version, index, Scored(article_id, 1.0, int(rows[0])))

    def related(self, article_id: str, language: str, limit: int = 2) -> list[Hit]:
        """Curated `related` articles first, then the nearest articles by meaning (no encoder needed)."""
        version = self.current()
        index = version.languages.get(language)
        article = version.articles.get(article_id)
        if index is None or article is None or article.language != language or limit <= 0:
            return []
        own = index.passages_of(article_id)
        centre = index.vectors[own].mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        chosen: list[Hit] = []
        for other in article.related:
            rows = index.passages_of(other)
            if other in version.articles and rows and len(chosen) < limit:
                best = int(rows[int(np.argmax(index.vectors[rows] @ centre))])
                score = float(index.vectors[best] @ centre)
                chosen.append(self._hit(version, index, Scored(other, score, best)))
        if len(chosen) < limit:
            taken = {article_id, *(h.article_id for h in chosen)}
            ranked = index.rank(centre, None, mode="dense", lexical_weight=0.0, limit=limit + len(taken))
            chosen += [self._hit(version, index, s) for s in ranked if s.article_id not in taken]
        return chosen[:limit]

    @staticmethod
    def _hit(version: LoadedVersion, index: LanguageIndex, scored: Scored) -> Hit:
        article = version.articles[scored.article_id]
        passage = index.passages[scored.passage]
        if passage.kind != "body":  # a title card or a customer question: show the answer's opening
            body = [p for p in index.passages_of(article.id) if index.passages[p].kind == "body"]
            passage = index.passages[body[0]] if body else passage
        return Hit(
            article_id=article.id,
            title=article.title,
            answer=article.body,
            score=round(scored.score, 4),
            language=article.language,
            category=article.category,
            version=version.version,
            tags=article.tags,
            excerpt=passage.text,
        )


def article_support(
    index: LanguageIndex,
    article_ids: Sequence[str],
    vector: Matrix | None,
    tokens: list[str] | None,
    *,
    mode: str,
    lexical_weight: float,
) -> list[float]:
    """Each article's support: the mean of its SUPPORT_PASSAGES best passage scores, scored as `rank` does."""
    lexical = index.bm25.scores(tokens) if mode != "dense" and tokens else None
    supports = []
    for article_id in article_ids:
        rows = index.passages_of(article_id)
        if not rows:
            supports.append(0.0)
            continue
        zeros = np.zeros(len(rows), dtype=np.float32)
        dense = index.vectors[rows] @ vector if mode != "lexical" and vector is not None else zeros
        lex = lexical[rows] if lexical is not None else zeros
        if mode == "dense":
            scores = dense
        elif mode == "lexical":
            scores = lex
        else:
            scores = (1.0 - lexical_weight) * dense + lexical_weight * lex
        supports.append(float(np.sort(scores)[-SUPPORT_PASSAGES:].mean()))
    return supports


def support_margin(
    index: LanguageIndex,
    ranked: Sequence[Scored],
    vector: Matrix | None,
    tokens: list[str] | None,
    *,
    mode: str,
    lexical_weight: float,
) -> float:
    """The first article's support minus the second's; a lone article stands above a support of 0."""
    if not ranked:
        return 0.0
    supports = article_support(
        index, [s.article_id for s in ranked[:2]], vector, tokens, mode=mode, lexical_weight=lexical_weight
    )
    return supports[0] - (supports[1] if len(supports) > 1 else 0.0)

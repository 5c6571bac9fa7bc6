"""Okapi BM25 over passage tokens, scaled to [0, 1] so it can be mixed with cosine similarity.

The scale is the query's own idf mass: a passage that contains every query word once, at average length,
scores 1. Query words the knowledge base has never seen count as rare words, so a question about something
the articles never mention stays low instead of matching on its one common word.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

K1 = 1.2
B = 0.75


class Bm25:
    def __init__(self, documents: Sequence[Sequence[str]], k1: float = K1, b: float = B) -> None:
        self.size = len(documents)
        lengths = np.array([len(d) for d in documents], dtype=np.float32)
        average = float(lengths.mean()) if self.size and lengths.sum() > 0 else 1.0
        self._norm = (k1 * (1.0 - b + b * lengths / average)).astype(np.float32)
        self._k1 = k1
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for doc_id, tokens in enumerate(documents):
            for term, tf in Counter(tokens).items():
                ids, tfs = postings.setdefault(term, ([], []))
                ids.append(doc_id)
                tfs.append(float(tf))
        self._postings = {
            term: (np.array(ids, dtype=np.int64), np.array(tfs, dtype=np.float32))
            for term, (ids, tfs) in postings.items()
        }
        self._idf = {term: self._idf_of(len(ids)) for term, (ids, _) in self._postings.items()}
        self._unseen_idf = self._idf_of(0)

    def _idf_of(self, df: int) -> float:
        return math.log(1.0 + (self.size - df + 0.5) / (df + 0.5))

    def scores(self, query_tokens: Sequence[str]) -> npt.NDArray[np.float32]:
        """Scaled score of every passage for the query (zeros when no query word occurs anywhere)."""
        out = np.zeros(self.size, dtype=np.float32)
        terms = set(query_tokens)
        if not terms or not self.size:
            return out
        mass = 0.0
        for term in terms:
            idf = self._idf.get(term)
            if idf is None:
                mass += self._unseen_idf
                continue
            mass += idf
            ids, tfs = self._postings[term]
            out[ids] += idf * tfs * (self._k1 + 1.0) / (tfs + self._norm[ids])
        out /= mass
        return np.minimum(out, 1.0, out=out)

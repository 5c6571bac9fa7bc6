"""TF-IDF n-grams beside the sentence vectors: the characters and words a customer actually typed.

Sentence encoders blur the short words that decide an intent (退货 vs 退款, "cancel" vs "cancelled", another
shop's name) and typos move them; character n-grams (1-3, within words) hold on to both, word n-grams (1-2,
over the pipeline's jieba tokens) to phrases. With them the intent classifier gains about 4 points per
language on customer messages written apart from the training data (docs/benchmarks.md, "Understanding").

Kept free of Rasa. Saved as a vocabulary (JSON) and idf weights (npz), never pickled.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import sparse

VOCABULARY_FILE = "lexical_vocabulary.json"
IDF_FILE = "lexical_idf.npz"
CHAR = "c:"
WORD = "w:"
CHAR_SIZES = (1, 2, 3)
WORD_SIZES = (1, 2)
_SPACES = re.compile(r"\s+")

Document = tuple[str, Sequence[str]]  # the text and its word tokens
SparseRow = tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]  # columns and values


class LexicalFeaturesError(Exception):
    """Settings or saved files that cannot make lexical features."""


def grams(text: str, tokens: Sequence[str]) -> Counter[str]:
    """Character n-grams of each lower-cased word padded with spaces (`char_wb`), and word n-grams."""
    counts: Counter[str] = Counter()
    for word in _SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        for size in CHAR_SIZES:
            if size > len(padded):
                break
            counts.update(CHAR + padded[i : i + size] for i in range(len(padded) - size + 1))
    words = [t.lower() for t in tokens if t.strip()]
    for size in WORD_SIZES:
        counts.update(WORD + " ".join(words[i : i + size]) for i in range(len(words) - size + 1))
    return counts


class LexicalFeatures:
    """Sublinear TF-IDF over the n-grams seen in at least `min_df` examples; the character and word blocks
    are L2-normalised apart and weighted, so each weighs like one sentence vector times its weight."""

    def __init__(
        self, vocabulary: Sequence[str], idf: np.ndarray, char_weight: float, word_weight: float
    ) -> None:
        if len(vocabulary) != len(idf):
            raise LexicalFeaturesError(f"{len(vocabulary)} n-grams but {len(idf)} idf weights")
        if char_weight < 0 or word_weight < 0:
            raise LexicalFeaturesError("n-gram weights must not be negative")
        self.vocabulary = list(vocabulary)
        self.index = {gram: i for i, gram in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float32)
        self.char_weight = float(char_weight)
        self.word_weight = float(word_weight)
        self._is_char = np.array([g.startswith(CHAR) for g in self.vocabulary], dtype=bool)

    @property
    def dimension(self) -> int:
        return len(self.vocabulary)

    @classmethod
    def fit(
        cls,
        documents: Iterable[Document],
        *,
        min_df: int = 2,
        char_weight: float = 1.5,
        word_weight: float = 1.0,
    ) -> LexicalFeatures:
        if min_df < 1:
            raise LexicalFeaturesError(f"min_df must be at least 1, not {min_df}")
        document_frequency: Counter[str] = Counter()
        count = 0
        for text, tokens in documents:
            document_frequency.update(grams(text, tokens).keys())
            count += 1
        kept = sorted(g for g, df in document_frequency.items() if df >= min_df)
        # scikit-learn's smoothed idf: as if one extra document held every n-gram once.
        idf = np.array(
            [math.log((1 + count) / (1 + document_frequency[g])) + 1 for g in kept], dtype=np.float32
        )
        return cls(kept, idf, char_weight, word_weight)

    def row(self, document: Document) -> SparseRow:
        """One document's non-zero columns and their values, without scipy's per-matrix bookkeeping
        (which costs more than the arithmetic for the one message of a parse)."""
        found = [(self.index[g], n) for g, n in grams(*document).items() if g in self.index]
        columns = np.array([c for c, _ in found], dtype=np.int64)
        counts = np.array([n for _, n in found], dtype=np.float32)
        values = (1 + np.log(counts)) * self.idf[columns]
        is_char = self._is_char[columns]
        for block, weight in ((is_char, self.char_weight), (~is_char, self.word_weight)):
            norm = float(np.linalg.norm(values[block]))
            values[block] = values[block] * (weight / norm) if norm and weight else 0
        return columns, values.astype(np.float32, copy=False)

    def transform(self, documents: Sequence[Document]) -> sparse.csr_matrix:
        rows = [self.row(d) for d in documents]
        pointers = np.cumsum([0] + [len(columns) for columns, _ in rows])
        return sparse.csr_matrix(
            (
                np.concatenate([v for _, v in rows] or [np.zeros(0, np.float32)]),
                np.concatenate([c for c, _ in rows] or [np.zeros(0, np.int64)]),
                pointers,
            ),
            shape=(len(documents), self.dimension),
            dtype=np.float32,
        )

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(directory / IDF_FILE, idf=self.idf, weights=np.array([self.char_weight, self.word_weight]))
        (directory / VOCABULARY_FILE).write_text(
            json.dumps(self.vocabulary, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path) -> LexicalFeatures | None:
        """The saved features, or None for a model trained without them."""
        if not (directory / VOCABULARY_FILE).exists():
            return None
        try:
            vocabulary = json.loads((directory / VOCABULARY_FILE).read_text(encoding="utf-8"))
            with np.load(directory / IDF_FILE, allow_pickle=False) as arrays:
                idf, weights = arrays["idf"], arrays["weights"]
        except (OSError, ValueError, KeyError) as exc:
            raise LexicalFeaturesError(f"{directory}: unreadable lexical features ({exc})") from None
        if not isinstance(vocabulary, list) or not all(isinstance(g, str) for g in vocabulary):
            raise LexicalFeaturesError(f"{directory / VOCABULARY_FILE}: not a list of n-grams")
        if weights.shape != (2,):
            raise LexicalFeaturesError(f"{directory / IDF_FILE}: weights of shape {weights.shape}")
        return cls(vocabulary, idf, float(weights[0]), float(weights[1]))

"""Multinomial logistic regression over sentence embeddings and n-grams: the assistant's intent classifier.

Kept free of Rasa so it can be tested on its own; `bot.components.sentence_classifier` wraps it. The
weights are saved as plain arrays (npz + json), not pickles: loading a model never runs code, and the
classifier does not depend on the scikit-learn version that trained it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import sparse

from bot.lexical_features import SparseRow

Matrix = npt.NDArray[np.float32]
#: Rows of features: dense, or sparse when the lexical n-grams are part of them.
Features: TypeAlias = "Matrix | sparse.csr_matrix"
WEIGHTS_FILE = "weights.npz"
LABELS_FILE = "labels.json"


class IntentModelError(Exception):
    """Training data or saved weights that cannot make a classifier."""


class IntentModel:
    def __init__(self, labels: Sequence[str], weights: Matrix, bias: Matrix) -> None:
        if weights.shape != (weights.shape[0], len(labels)) or bias.shape != (len(labels),):
            raise IntentModelError(
                f"weights {weights.shape} and bias {bias.shape} do not fit {len(labels)} labels"
            )
        self.labels = list(labels)
        self.weights = weights.astype(np.float32, copy=False)
        self.bias = bias.astype(np.float32, copy=False)

    @property
    def dimension(self) -> int:
        return int(self.weights.shape[0])

    @classmethod
    def fit(
        cls, features: Features, labels: Sequence[str], c: float = 5.0, max_iter: int = 3000
    ) -> IntentModel:
        """L2-regularised softmax regression (inverse strength `c`), fitted by L-BFGS."""
        from sklearn.linear_model import LogisticRegression  # heavy: only when training

        if features.shape[0] != len(labels) or not len(labels):
            raise IntentModelError(f"{features.shape[0]} feature rows for {len(labels)} labels")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise IntentModelError(f"need at least two intents to classify, got {classes}")
        y = np.array([classes.index(label) for label in labels])
        fitted = LogisticRegression(C=c, max_iter=max_iter, random_state=0).fit(features, y)
        # Two classes come back as one logit; softmax over (−z/2, z/2) equals the sigmoid it stands for.
        coef = fitted.coef_ if len(classes) > 2 else np.vstack([-fitted.coef_ / 2, fitted.coef_ / 2])
        bias = fitted.intercept_ if len(classes) > 2 else np.array([-1, 1]) * fitted.intercept_[0] / 2
        return cls(classes, np.asarray(coef.T, dtype=np.float32), np.asarray(bias, dtype=np.float32))

    def probabilities(self, features: Features, sparse_rows: Sequence[SparseRow] = ()) -> Matrix:
        """One row of intent probabilities (in `labels` order) per feature row. `sparse_rows`, when given,
        are each row's further columns (the lexical n-grams) as indices from 0 after `features`' last
        column and values: a gather, where a sparse product costs a parse more in scipy than in
        arithmetic."""
        width = features.shape[1] if features.ndim == 2 else -1
        if sparse_rows and len(sparse_rows) != features.shape[0]:
            raise IntentModelError(f"{len(sparse_rows)} sparse rows for {features.shape[0]} feature rows")
        if width < 0 or (width != self.dimension and not sparse_rows) or width > self.dimension:
            raise IntentModelError(f"features of shape {features.shape}; the model takes {self.dimension}")
        logits = np.asarray(features @ self.weights[:width]) + self.bias
        rest = self.weights[width:]
        for i, (columns, values) in enumerate(sparse_rows):
            if len(columns) and int(columns.max()) >= len(rest):
                raise IntentModelError(f"a sparse column beyond the model's {self.dimension} features")
            logits[i] += values @ rest[columns]
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float32)

    def ranking(
        self, features: Features, length: int, sparse_rows: Sequence[SparseRow] = ()
    ) -> list[list[tuple[str, float]]]:
        """Per row, the `length` most likely intents, best first (all of them when `length` is 0)."""
        probabilities = self.probabilities(features, sparse_rows)
        top = np.argsort(-probabilities, axis=1, kind="stable")
        if length:
            top = top[:, :length]
        return [
            [(self.labels[i], float(row[i])) for i in order]
            for row, order in zip(probabilities, top, strict=True)
        ]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(directory / WEIGHTS_FILE, weights=self.weights, bias=self.bias)
        (directory / LABELS_FILE).write_text(json.dumps(self.labels, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> IntentModel:
        try:
            labels = json.loads((directory / LABELS_FILE).read_text(encoding="utf-8"))
            with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as arrays:
                weights, bias = arrays["weights"], arrays["bias"]
        except (OSError, ValueError, KeyError) as exc:
            raise IntentModelError(f"{directory}: unreadable intent model ({exc})") from None
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise IntentModelError(f"{directory / LABELS_FILE}: not a list of intent names")
        return cls(labels, weights, bias)

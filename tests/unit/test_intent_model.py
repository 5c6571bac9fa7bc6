"""The intent classifier's model: softmax regression over sentence vectors, saved as plain arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from bot.intent_model import IntentModel, IntentModelError


def blobs(n_classes: int, per_class: int = 30, dim: int = 8, seed: int = 1) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(n_classes, dim))
    x = np.vstack([c + rng.normal(size=(per_class, dim)) for c in centres]).astype(np.float32)
    y = [f"intent_{i}" for i in range(n_classes) for _ in range(per_class)]
    return x, y


def test_probabilities_equal_scikit_learns_for_the_same_fit() -> None:
    x, y = blobs(4)
    model = IntentModel.fit(x, y, c=2.0)
    reference = LogisticRegression(C=2.0, max_iter=3000, random_state=0).fit(x, [int(s[-1]) for s in y])
    np.testing.assert_allclose(model.probabilities(x), reference.predict_proba(x), atol=1e-4)
    assert model.labels == ["intent_0", "intent_1", "intent_2", "intent_3"]


def test_two_intents_give_scikit_learns_probabilities_too() -> None:
    x, y = blobs(2)
    model = IntentModel.fit(x, y, c=1.0)
    reference = LogisticRegression(C=1.0, max_iter=3000, random_state=0).fit(x, [int(s[-1]) for s in y])
    np.testing.assert_allclose(model.probabilities(x), reference.predict_proba(x), atol=1e-4)


def test_ranking_is_best_first_and_cut_to_length() -> None:
    x, y = blobs(5)
    model = IntentModel.fit(x, y)
    (ranking,) = model.ranking(x[:1], length=3)
    assert ranking[0][0] == "intent_0"
    assert len(ranking) == 3
    assert [p for _, p in ranking] == sorted((p for _, p in ranking), reverse=True)
    assert len(model.ranking(x[:1], length=0)[0]) == 5


def test_saved_model_loads_with_identical_probabilities(tmp_path: Path) -> None:
    x, y = blobs(3)
    model = IntentModel.fit(x, y)
    model.save(tmp_path / "m")
    loaded = IntentModel.load(tmp_path / "m")
    assert loaded.labels == model.labels
    np.testing.assert_array_equal(loaded.probabilities(x), model.probabilities(x))


def test_damaged_or_missing_files_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IntentModelError, match="unreadable"):
        IntentModel.load(tmp_path)
    x, y = blobs(3)
    IntentModel.fit(x, y).save(tmp_path)
    (tmp_path / "labels.json").write_text('{"not": "a list"}')
    with pytest.raises(IntentModelError, match="list of intent names"):
        IntentModel.load(tmp_path)
    (tmp_path / "labels.json").write_text('["a", "b"]')  # three columns of weights
    with pytest.raises(IntentModelError, match="do not fit 2 labels"):
        IntentModel.load(tmp_path)


@pytest.mark.parametrize(
    ("features", "labels", "message"),
    [
        (np.zeros((3, 2), np.float32), ["a", "a", "a"], "at least two intents"),
        (np.zeros((3, 2), np.float32), ["a", "b"], "3 feature rows for 2 labels"),
        (np.zeros((0, 2), np.float32), [], "0 feature rows"),
    ],
)
def test_training_data_that_cannot_make_a_classifier_is_refused(
    features: np.ndarray, labels: list[str], message: str
) -> None:
    with pytest.raises(IntentModelError, match=message):
        IntentModel.fit(features, labels)


def test_features_of_the_wrong_width_are_refused() -> None:
    x, y = blobs(3)
    with pytest.raises(IntentModelError, match="takes 8"):
        IntentModel.fit(x, y).probabilities(np.zeros((1, 5), np.float32))

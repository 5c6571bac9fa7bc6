"""Shared part of the sentence-vector featurizers: batching, de-duplication and Rasa's feature layout.

A subclass says how to encode a batch of texts and how wide the vectors are. Encoders are loaded on first
use, once per process, so that `import bot.components...` (done by Rasa while reading config.yml) is cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.graph import GraphComponent
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

SEQUENCE_MODES = ("zeros", "sentence")


class SentenceVectorFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds a sentence vector of TEXT as the dense sentence feature.

    DIET concatenates dense and sparse features token by token, so a sequence feature with one row per
    token is added too: zeros by default (token-level entity features stay those of the count vectors),
    or the sentence vector repeated (`sequence_features: sentence`) to give every token the global context.
    """

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # Threads for the encoder; 1 leaves the other core to TensorFlow and the servers.
            "threads": 1,
            # What each token's dense feature is: "zeros" or "sentence" (the sentence vector repeated).
            "sequence_features": "zeros",
            # Texts per encode call while featurizing training data; bounds the transient memory.
            "batch_size": 256,
        }

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if config.get("sequence_features", "zeros") not in SEQUENCE_MODES:
            raise InvalidConfigException(
                f"sequence_features must be one of {SEQUENCE_MODES}, not {config.get('sequence_features')!r}."
            )
        for key in ("threads", "batch_size"):
            if int(config.get(key, 1)) < 1:
                raise InvalidConfigException(f"{key} must be at least 1.")

    @property
    def dimension(self) -> int:
        raise NotImplementedError

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors (len(texts), dimension), encoded in batches; identical texts are encoded once."""
        unique = list(dict.fromkeys(texts))
        if not unique:
            return np.zeros((0, self.dimension), dtype=np.float32)
        size = int(self._config["batch_size"])
        vectors = np.concatenate(
            [np.asarray(self.encode_batch(unique[i : i + size])) for i in range(0, len(unique), size)]
        ).astype(np.float32, copy=False)
        row = {text: i for i, text in enumerate(unique)}
        return vectors[[row[text] for text in texts]]

    def process(self, messages: list[Message]) -> list[Message]:
        featurizable = [m for m in messages if m.get(TEXT) and m.get(TOKENS_NAMES[TEXT])]
        vectors = self.embed([m.get(TEXT) for m in featurizable])
        for message, vector in zip(featurizable, vectors, strict=True):
            self._add_features(message, vector)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def _add_features(self, message: Message, vector: np.ndarray) -> None:
        n_tokens = len(message.get(TOKENS_NAMES[TEXT]))
        if self._config["sequence_features"] == "sentence":
            sequence = np.tile(vector, (n_tokens, 1))
        else:
            sequence = np.zeros((n_tokens, self.dimension), dtype=np.float32)
        self.add_features_to_message(sequence, vector[np.newaxis, :], TEXT, message)

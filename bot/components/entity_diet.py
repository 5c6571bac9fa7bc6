"""NLU component: DIET as the entity extractor only, which also trains on data without entity annotations.

With `intent_classification: false` Rasa's DIET has no loss to minimise when no training example carries
an annotated entity, and training fails inside TensorFlow. An intent set without entities is a valid
assistant (and every public intent benchmark is one), so this subclass skips training instead: like
Rasa's own skip for empty data, the untrained component then extracts nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.shared.nlu.constants import ENTITIES, EXTRACTOR
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)


def has_annotated_entities(training_data: TrainingData) -> bool:
    """Entities written in the training data; those added by extractors (patterns) carry their name."""
    return any(
        entity.get(EXTRACTOR) is None
        for example in training_data.training_examples
        for entity in example.get(ENTITIES) or []
    )


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER],
    is_trainable=True,
)
class EntityDIETClassifier(DIETClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DIETClassifier.get_default_config(), "intent_classification": False}

    def train(self, training_data: TrainingData) -> Resource:
        if not self.component_config.get("intent_classification") and not has_annotated_entities(
            training_data
        ):
            logger.info("No annotated entities in the training data: entity extraction is not trained.")
            return self._resource
        return super().train(training_data)

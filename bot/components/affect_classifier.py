"""NLU component: frustration level and risk flags on every message, beside the intent (bot.affect_model).

Adds `affect` to the parse data ({"frustration": ..., "risk": [...], "scores": {...}, "cues": [...]}), so
the escalation policy, the handoff packet and the agent's card all read the same judgement.

It trains on its own labelled file (data/affect/), not on the intent examples, and reads the multilingual
sentence vector the USE featurizer already put on the message (by the featurizer's alias), so serving costs
one small matrix product and a regex per message. Training embeds the labelled texts with the same encoder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.affect_model import AffectDataError, AffectModel, CueLexicon, read_examples
from bot.components.use_featurizer import _encoder
from common.affect import RISK_FLAGS

AFFECT = "affect"
LANGUAGE_FILES = ("en.yml", "zh.yml")


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class AffectClassifier(GraphComponent):
    @classmethod
    def required_components(cls) -> list[type]:
        return [Featurizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "data": "data/affect",  # en.yml, zh.yml and cues.yml
            "featurizer": "use",  # alias of the USE featurizer in config.yml
            "C": 2.0,
            "threshold": 0.5,  # per risk flag, on the balanced binary head's probability
            "flag_thresholds": {},  # flag -> threshold, where one flag needs another than `threshold`
            "angry_threshold": 0.0,  # "angry" needs this probability, else the likelier of calm/annoyed
            "threads": 1,
        }

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """The labelled data is outside Rasa's training data: retrain when it changes."""
        digest = hashlib.sha256()
        directory = Path(config.get("data", "data/affect"))
        for path in sorted(directory.glob("*.yml")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: AffectModel | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> AffectClassifier:
        if not float(config.get("C", 2.0)) > 0 or not 0 < float(config.get("threshold", 0.5)) < 1:
            raise InvalidConfigException("AffectClassifier: C must be positive and threshold in (0, 1).")
        flags = config.get("flag_thresholds") or {}
        if not isinstance(flags, dict) or not all(
            flag in RISK_FLAGS and isinstance(t, int | float) and 0 < t < 1 for flag, t in flags.items()
        ):
            raise InvalidConfigException(
                f"AffectClassifier: flag_thresholds maps flags of {RISK_FLAGS} to a number in (0, 1)."
            )
        if not 0 <= float(config.get("angry_threshold", 0.0)) < 1:
            raise InvalidConfigException("AffectClassifier: angry_threshold must be in [0, 1).")
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        directory = Path(self._config["data"])
        try:
            examples = [e for name in LANGUAGE_FILES for e in read_examples(directory / name)]
            cues = CueLexicon.from_file(directory / "cues.yml")
            features = np.asarray(
                _encoder(int(self._config["threads"])).encode([e.text for e in examples]), np.float32
            )
            model = AffectModel.fit(
                features,
                examples,
                cues,
                float(self._config["C"]),
                float(self._config["threshold"]),
                self._config["flag_thresholds"] or {},
                float(self._config["angry_threshold"]),
            )
        except AffectDataError as exc:
            raise InvalidConfigException(f"AffectClassifier cannot train: {exc}") from exc
        with self._model_storage.write_to(self._resource) as out:
            model.save(out)
        self._model = model
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> AffectClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                model = AffectModel.load(directory)
        except (ValueError, AffectDataError) as exc:
            raise InvalidConfigException(f"the trained model has no usable affect classifier: {exc}") from exc
        return cls(config, model_storage, resource, model)

    def process(self, messages: list[Message]) -> list[Message]:
        if self._model is None:
            return messages
        pending = []
        for message in messages:
            _, sentence = message.get_dense_features(TEXT, [self._config["featurizer"]])
            if sentence is not None and message.get(TEXT):
                pending.append((message, np.asarray(sentence.features, np.float32).reshape(-1)))
        if not pending:
            return messages
        affects = self._model.predict(
            np.vstack([v for _, v in pending]), [str(m.get(TEXT)) for m, _ in pending]
        )
        for (message, _), affect in zip(pending, affects, strict=True):
            message.set(AFFECT, affect.as_dict(), add_to_output=True)
        return messages

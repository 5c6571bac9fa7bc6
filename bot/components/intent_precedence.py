"""NLU component: the documented precedence between several asks in one message (bot/precedence.py).

Runs after the intent and affect classifiers (risk flags are one of the rules) and before the
FallbackClassifier. When a rule applies, the winning intent
goes to the top of the ranking with the classifier's top confidence (at least the fallback threshold does
not undo a deliberate rule), and `precedence` in the parse data names the rule, so the agent and the
benchmarks can see why the intent differs from the classifier's.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.affect_classifier import AFFECT
from bot.precedence import Precedence, PrecedenceError, follow_up_intent
from common.affect import risk_flags

logger = logging.getLogger(__name__)
PRECEDENCE = "precedence"
INTENTS_FILE = "intents.json"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class IntentPrecedence(GraphComponent, IntentClassifier):
    @classmethod
    def required_components(cls) -> list[type]:
        # Not [IntentClassifier]: Rasa checks that against the training graph, where classifiers pass no
        # output on; config.yml puts this component after the classifier, where it reads the intent.
        return []

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"rules": "data/policy/precedence.yml", "min_confidence": 0.5}

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        path = Path(config.get("rules", "data/policy/precedence.yml"))
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None

    def __init__(
        self,
        config: dict[str, Any],
        rules: Precedence,
        model_storage: ModelStorage,
        resource: Resource,
        intents: frozenset[str] | None = frozenset(),
    ) -> None:
        self._config = config
        self._rules = rules
        self._model_storage = model_storage
        self._resource = resource
        self._intents = intents  # a rule applies only when the assistant has the intent it picks (None: any)

    @staticmethod
    def _rules_of(config: dict[str, Any]) -> Precedence:
        try:
            return Precedence.from_file(Path(config["rules"]))
        except PrecedenceError as exc:
            raise InvalidConfigException(f"IntentPrecedence: {exc}") from exc

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> IntentPrecedence:
        return cls(config, cls._rules_of(config), model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Remembers the intents the assistant was trained with: on another intent set (a public benchmark's)
        the rules would pick intents the assistant does not have."""
        self._intents = frozenset(str(i) for i in training_data.intents)
        with self._model_storage.write_to(self._resource) as directory:
            (directory / INTENTS_FILE).write_text(json.dumps(sorted(self._intents)), encoding="utf-8")
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> IntentPrecedence:
        try:
            with model_storage.read_from(resource) as directory:
                intents: frozenset[str] | None = frozenset(
                    json.loads((directory / INTENTS_FILE).read_text(encoding="utf-8"))
                )
        except (ValueError, OSError):
            # A model trained before the list was kept: the rules apply to any intent, as they did then.
            logger.warning("bot.precedence.no_intent_list", extra={"resource": resource.name})
            intents = None
        return cls(config, cls._rules_of(config), model_storage, resource, intents)

    @staticmethod
    def _follow_up(message: Message, ranking: list[dict[str, Any]]) -> tuple[str, str] | None:
        """A reply to the assistant's proactive message (the hub's metadata says which news it was)."""
        metadata = message.get("metadata")
        proactive = metadata.get("proactive") if isinstance(metadata, dict) else None
        if not isinstance(proactive, dict):
            return None
        ranked = [
            (str(r.get(INTENT_NAME_KEY)), float(r.get(PREDICTED_CONFIDENCE_KEY) or 0.0)) for r in ranking
        ]
        name = follow_up_intent(proactive.get("trigger"), ranked)
        return None if name is None else (name, "reply_to_proactive")

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = message.get(INTENT) or {}
            text = message.get(TEXT)
            if not text or not intent.get(INTENT_NAME_KEY):
                continue
            ranking = message.get(INTENT_RANKING_KEY) or []
            runner_up = ranking[1].get(INTENT_NAME_KEY) if len(ranking) > 1 else None
            risk = risk_flags(message.get(AFFECT))  # set by the affect classifier, which runs first
            decided = self._rules.decide(str(text), str(intent[INTENT_NAME_KEY]), runner_up, risk)
            if decided is None:
                decided = self._follow_up(message, ranking)
            if decided is None:
                continue
            name, rule = decided
            if self._intents is not None and name not in self._intents:
                continue
            confidence = max(
                float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0), self._config["min_confidence"]
            )
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != name]
            top = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: confidence}
            message.set(INTENT, top, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)
            message.set(
                PRECEDENCE, {"rule": rule, "classifier_intent": intent[INTENT_NAME_KEY]}, add_to_output=True
            )
        return messages

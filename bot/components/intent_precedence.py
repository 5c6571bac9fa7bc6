"""NLU component: the documented precedence between several asks in one message (bot/precedence.py).

Runs after the intent classifier and before the FallbackClassifier. When a rule applies, the winning intent
goes to the top of the ranking with the classifier's top confidence (at least the fallback threshold does
not undo a deliberate rule), and `precedence` in the parse data names the rule, so the agent and the
benchmarks can see why the intent differs from the classifier's.
"""

from __future__ import annotations

import hashlib
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

from bot.precedence import Precedence, PrecedenceError

PRECEDENCE = "precedence"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class IntentPrecedence(GraphComponent, IntentClassifier):
    @classmethod
    def required_components(cls) -> list[type]:
        return [IntentClassifier]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"rules": "data/policy/precedence.yml", "min_confidence": 0.5}

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        path = Path(config.get("rules", "data/policy/precedence.yml"))
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None

    def __init__(self, config: dict[str, Any], rules: Precedence) -> None:
        self._config = config
        self._rules = rules

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> IntentPrecedence:
        try:
            return cls(config, Precedence.from_file(Path(config["rules"])))
        except PrecedenceError as exc:
            raise InvalidConfigException(f"IntentPrecedence: {exc}") from exc

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = message.get(INTENT) or {}
            text = message.get(TEXT)
            if not text or not intent.get(INTENT_NAME_KEY):
                continue
            ranking = message.get(INTENT_RANKING_KEY) or []
            runner_up = ranking[1].get(INTENT_NAME_KEY) if len(ranking) > 1 else None
            decided = self._rules.decide(str(text), str(intent[INTENT_NAME_KEY]), runner_up)
            if decided is None:
                continue
            name, rule = decided
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

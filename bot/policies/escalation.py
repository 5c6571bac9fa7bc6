"""Dialogue policy: risk hands off at once, lasting anger is offered a person (rules in bot.escalation).

It outranks the rule and memoisation policies (priority in config.yml) because it must win inside forms
too: a customer reporting an electric shock in the middle of a return is not asked for the return reason.
It learns nothing from stories; its only input is the affect the NLU pipeline put on each message.
"""

from __future__ import annotations

from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import InvalidConfigException

from bot.escalation import OFFER_ACTION, EscalationSettings, EscalationSettingsError, Step, next_action

#: How many recent events are enough to judge the latest run of frustrated turns.
HISTORY_EVENTS = 60


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class EscalationPolicy(Policy):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"priority": 7, "risk_flags": None, "high_frustration": ["angry"], "frustrated_turns": 2}

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        featurizer: Any = None,
    ) -> None:
        super().__init__(config, model_storage, resource, execution_context, featurizer)
        try:
            settings = {k: v for k, v in config.items() if v is not None}
            self.settings = EscalationSettings.from_config(settings)
        except EscalationSettingsError as exc:
            raise InvalidConfigException(f"EscalationPolicy: {exc}") from exc

    def train(
        self, training_trackers: list[TrackerWithCachedStates], domain: Domain, **kwargs: Any
    ) -> Resource:
        return self._resource  # nothing to learn: the settings are the policy

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        probabilities = self._default_predictions(domain)
        action = next_action(_history(tracker), self.settings)
        if action is None or action not in domain.action_names_or_texts:
            return self._prediction(probabilities)
        probabilities[domain.index_for_action(action)] = 1.0
        # A risk handoff is marked like the rule policy's "carry on with the form" prediction, which outranks
        # every prediction from user input: only so does the higher priority win inside a form whose slot
        # this message filled ("it sparked and started smoking" with "smoking" read as an item). The offer
        # of a person is not: a form the angry customer is still answering goes on.
        return self._prediction(probabilities, is_no_user_prediction=action != OFFER_ACTION)


def _history(tracker: DialogueStateTracker) -> list[Step]:
    """Customer messages and the bot's actions, oldest first; the listen between turns is left out."""
    steps = []
    events = list(tracker.events)[-HISTORY_EVENTS:]
    for event in events:
        if isinstance(event, UserUttered):
            parsed = event.parse_data or {}
            intent = (parsed.get("intent") or {}).get("name")  # type: ignore[union-attr]
            steps.append(Step(affect=parsed.get("affect"), intent=intent))  # type: ignore[union-attr]
        elif isinstance(event, ActionExecuted) and event.action_name not in (None, "action_listen"):
            steps.append(Step(action=event.action_name))
    return steps

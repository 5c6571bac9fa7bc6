"""NLU component: pattern entities (order_id, email, phone, amount) aligned to the spaCy tokens.

Regular patterns find the spans and normalise the values; the spaCy doc built by SpacyNLP aligns each
span to token boundaries so the entity agrees with what the tokenizer (jieba for Chinese) produced.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from common.patterns import find_entities


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class PatternEntityExtractor(GraphComponent):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> PatternEntityExtractor:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            doc = message.get(SPACY_DOCS[TEXT])
            found = []
            for match in find_entities(text):
                start, end = match.start, match.end
                if doc is not None:
                    span = doc.char_span(start, end, alignment_mode="expand")
                    if span is not None:
                        start, end = span.start_char, span.end_char
                found.append(
                    {
                        "entity": match.entity,
                        "value": match.value,
                        "start": start,
                        "end": end,
                        "confidence": 1.0,
                        "extractor": type(self).__name__,
                    }
                )
            if found:
                message.set(ENTITIES, [*message.get(ENTITIES, []), *found], add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

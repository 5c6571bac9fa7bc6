"""NLU component: sentence features from a model exported to ONNX int8 (all-MiniLM-L6-v2 by default).

MiniLM is English-only, but its vectors separate close English intents (BANKING77's card, top-up and
transfer questions) better than multilingual USE; used together, each covers the other's gaps
(docs/benchmarks.md, "NLU"). The model is exported once by `python -m kb_index export-encoder`, which
needs torch, in the app environment; this component runs the export with onnxruntime and tokenizers only.
Training copies the model into the Rasa model, so a trained model carries the exact encoder its
classifier was fitted on and never reads the export again.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.sentence_featurizer import SentenceVectorFeaturizer

if TYPE_CHECKING:
    from kb_index.onnx_encoder import ExportedModel

SUFFIXES = (".onnx", ".json", ".tokenizer.json")
STORED_NAME = "encoder.onnx"


def _files(model: Path) -> list[Path]:
    return [model.with_suffix(suffix) for suffix in SUFFIXES]


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=True)
class OnnxSentenceFeaturizer(SentenceVectorFeaturizer):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **SentenceVectorFeaturizer.get_default_config(),
            # The exported model; its settings and tokenizer sit beside it (.json, .tokenizer.json).
            "model": "var/encoders/minilm-int8.onnx",
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["onnxruntime", "tokenizers"]

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """The export's settings (model identity, quantisation check), so a new export retrains."""
        model = str({**cls.get_default_config(), **config}.get("model") or "")
        settings = Path(model).with_suffix(".json") if model.endswith(".onnx") else None
        return hashlib.sha256(settings.read_bytes()).hexdigest() if settings and settings.is_file() else None

    def __init__(
        self,
        config: dict[str, Any],
        name: str,
        model_storage: ModelStorage,
        resource: Resource,
        encoder: ExportedModel | None = None,
    ) -> None:
        super().__init__(name, config)
        self._model_storage = model_storage
        self._resource = resource
        self._encoder = encoder

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> OnnxSentenceFeaturizer:
        return cls(config, execution_context.node_name, model_storage, resource)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        super().validate_config(config)
        model = Path(str(config.get("model", "")))
        if model.suffix != ".onnx":
            raise InvalidConfigException(f"model must be an exported .onnx file, not {model}.")

    def train(self, training_data: TrainingData) -> Resource:
        source = Path(self._config["model"])
        missing = [str(path) for path in _files(source) if not path.is_file()]
        if missing:
            raise InvalidConfigException(
                f"{', '.join(missing)} missing: export the encoder first "
                f"(`.venv/bin/python -m kb_index export-encoder {source}`, done by `make setup`)."
            )
        with self._model_storage.write_to(self._resource) as directory:
            for path, target in zip(_files(source), _files(directory / STORED_NAME), strict=True):
                shutil.copyfile(path, target)
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> OnnxSentenceFeaturizer:
        from kb_index.encoders import EncoderError
        from kb_index.onnx_encoder import ExportedModel

        threads = int({**cls.get_default_config(), **config}["threads"])
        try:
            # The session and the tokenizer read their files here, so the directory may go afterwards.
            with model_storage.read_from(resource) as directory:
                encoder = ExportedModel(directory / STORED_NAME, threads)
        except (ValueError, EncoderError) as exc:
            raise InvalidConfigException(f"the trained model has no usable sentence encoder: {exc}") from exc
        return cls(config, execution_context.node_name, model_storage, resource, encoder)

    def _loaded(self) -> ExportedModel:
        if self._encoder is None:
            raise InvalidConfigException("the sentence encoder is used before training loaded it")
        return self._encoder

    @property
    def dimension(self) -> int:
        return self._loaded().dimension

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        return self._loaded().encode(texts, query=True)

"""The benchmark's pipeline variants stay trainable: a typo in a component path or option only shows in Rasa
after minutes of training, and this suite runs without Rasa installed, so the source is read with ast."""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [ROOT / "config.yml", *sorted((ROOT / "bench" / "configs").glob("*.yml"))]
USE = "bot.components.use_featurizer.UniversalSentenceEncoderFeaturizer"


def _pipeline(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["pipeline"]


def _use_components() -> list[dict]:
    return [c for path in CONFIGS for c in _pipeline(path) if c["name"] == USE]


def test_some_variant_uses_the_featurizer():
    assert _use_components()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_custom_components_resolve_to_classes(path):
    for component in _pipeline(path):
        if not component["name"].startswith("bot."):
            continue
        module, cls = component["name"].rsplit(".", 1)
        source = ROOT / (module.replace(".", "/") + ".py")
        tree = ast.parse(source.read_text(encoding="utf-8"))
        assert cls in {node.name for node in tree.body if isinstance(node, ast.ClassDef)}


WITH_USE = [path for path in CONFIGS if any(c["name"] == USE for c in _pipeline(path))]


def test_the_production_pipeline_uses_the_featurizer():
    assert ROOT / "config.yml" in WITH_USE


@pytest.mark.parametrize("path", WITH_USE, ids=lambda p: p.name)
def test_featurizer_runs_after_a_tokenizer_and_before_the_classifiers(path):
    names = [c["name"] for c in _pipeline(path)]
    position = names.index(USE)
    assert any(name.endswith("Tokenizer") for name in names[:position])
    assert not any(name.endswith("Classifier") for name in names[:position])


OWN_BASES = ("DenseFeaturizer.", "SentenceVectorFeaturizer.")


def _default_keys(source: Path) -> set[str] | None:
    """Keys of every get_default_config in a module; None when they extend a Rasa component's defaults,
    which cannot be read without Rasa (the project's own bases, spread the same way, add nothing)."""
    keys: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef) and node.name == "get_default_config":
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and isinstance(inner.value, ast.Dict):
                    keys |= {k.value for k in inner.value.keys if isinstance(k, ast.Constant)}
                    for key, value in zip(inner.value.keys, inner.value.values, strict=True):
                        spread = ast.unparse(value) if key is None else ""
                        if spread and not spread.startswith(
                            ("DenseFeaturizer.", "SentenceVectorFeaturizer.")
                        ):
                            return None
    return keys


SHARED_DEFAULTS = ROOT / "bot" / "components" / "sentence_featurizer.py"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_custom_component_options_are_ones_the_component_reads(path):
    for component in _pipeline(path):
        if not component["name"].startswith("bot."):
            continue
        source = ROOT / (component["name"].rsplit(".", 1)[0].replace(".", "/") + ".py")
        own = _default_keys(source)
        if own is None:
            continue
        known = own | (_default_keys(SHARED_DEFAULTS) or set()) | {"name", "alias"}
        assert set(component) <= known, component["name"]


def test_sequence_modes_in_use_are_supported():
    tree = ast.parse(SHARED_DEFAULTS.read_text(encoding="utf-8"))
    modes = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SEQUENCE_MODES"
    )
    for component in _use_components():
        assert component.get("sequence_features", "zeros") in modes


def test_the_production_pipeline_classifies_intents_with_sentence_vectors_from_both_encoders():
    names = [c["name"] for c in _pipeline(ROOT / "config.yml")]
    classifier = names.index("bot.components.sentence_classifier.SentenceIntentClassifier")
    assert names.index(USE) < classifier
    assert names.index("bot.components.onnx_featurizer.OnnxSentenceFeaturizer") < classifier
    # One intent classifier: with two, the later one would silently overwrite the other's intent.
    assert "DIETClassifier" not in names
    entities = next(c for c in _pipeline(ROOT / "config.yml") if c["name"].endswith("EntityDIETClassifier"))
    assert entities.get("intent_classification", False) is False
    assert names.index("FallbackClassifier") > classifier

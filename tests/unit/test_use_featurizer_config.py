"""The benchmark's pipeline variants stay trainable: a typo in a component path or option only shows in Rasa
after minutes of training, and this suite runs without Rasa installed, so the source is read with ast."""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [ROOT / "config.yml", *sorted((ROOT / "bench" / "configs").glob("*.yml"))]
USE = "bot.components.use_featurizer.UniversalSentenceEncoderFeaturizer"
USE_SOURCE = ROOT / "bot" / "components" / "use_featurizer.py"


def _pipeline(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["pipeline"]


def _use_components() -> list[dict]:
    return [c for path in CONFIGS for c in _pipeline(path) if c["name"] == USE]


def _source_tree() -> ast.Module:
    return ast.parse(USE_SOURCE.read_text(encoding="utf-8"))


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


def test_featurizer_options_are_ones_the_component_reads():
    tree = _source_tree()
    defaults = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == "get_default_config"
    )
    returned = next(node.value for node in ast.walk(defaults) if isinstance(node, ast.Return))
    assert isinstance(returned, ast.Dict)
    known = {key.value for key in returned.keys if isinstance(key, ast.Constant)} | {"name", "alias"}
    modes = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SEQUENCE_MODES"
    )
    for component in _use_components():
        assert set(component) <= known
        assert component.get("sequence_features", "zeros") in modes

"""A corrupt or mismatched index or manifest is refused with a message that says what is wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kb_index.build import build
from kb_index.loaded import load_version
from kb_index.manifest import IndexLoadError
from kb_index.retriever import KnowledgeBaseUnavailable, Retriever
from kb_index.testing import ENCODERS, RETRIEVAL, RecordingFactory, sample_kb


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kb")
    target = root / "index"
    build(
        sample_kb(root / "kb"),
        target,
        encoders=ENCODERS,
        retrieval=RETRIEVAL,
        encoder_factory=RecordingFactory(),
        progress=lambda _: None,
    )
    return target


@pytest.fixture
def index(built: Path, tmp_path: Path) -> Path:
    """A private copy, so a test can damage it."""
    return Path(shutil.copytree(built, tmp_path / "index"))


def edit_manifest(index: Path, change: dict[str, object]) -> None:
    path = index / "versions" / "v1" / "manifest.json"
    data = json.loads(path.read_text())
    for dotted, value in change.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node[key]
        node[last] = value
    path.write_text(json.dumps(data))


def test_intact_version_loads(index: Path) -> None:
    loaded = load_version(index, "v1")
    assert set(loaded.languages) == {"en", "zh"}
    assert loaded.languages["en"].vectors.shape[1] == 256


def test_corrupt_index_file_is_refused(index: Path) -> None:
    path = index / "versions" / "v1" / "zh.faiss"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(IndexLoadError, match=r"zh\.faiss: content hash does not match the manifest"):
        load_version(index, "v1")


def test_missing_file_is_refused(index: Path) -> None:
    (index / "versions" / "v1" / "en.passages.json").unlink()
    with pytest.raises(IndexLoadError, match=r"en\.passages\.json: missing file"):
        load_version(index, "v1")


def test_dimension_mismatch_is_refused(index: Path) -> None:
    edit_manifest(index, {"languages.en.encoder.dimension": 384})
    with pytest.raises(IndexLoadError, match="dimension mismatch: the index has 256, the manifest says 384"):
        load_version(index, "v1")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": 99}, "manifest format 99"),
        ({"metric": "l2"}, "metric 'l2' is not supported"),
        ({"version": "v7"}, "manifest says version v7"),
        ({"languages": {"en": {}}}, "manifest is incomplete or malformed"),
    ],
)
def test_mismatched_manifest_is_refused(index: Path, change: dict[str, object], message: str) -> None:
    edit_manifest(index, change)
    with pytest.raises(IndexLoadError, match=message):
        load_version(index, "v1")


def test_unreadable_manifest_is_refused(index: Path) -> None:
    (index / "versions" / "v1" / "manifest.json").write_text("{not json")
    with pytest.raises(IndexLoadError, match="manifest is not valid JSON"):
        load_version(index, "v1")


def test_configured_encoder_must_match_the_index(index: Path) -> None:
    retriever = Retriever(index, encoder_factory=RecordingFactory(), encoder_overrides={"en": "hashing:128"})
    with pytest.raises(
        IndexLoadError, match="en was built with hashing:256 but the configured encoder is hashing:128"
    ):
        retriever.current()


def test_encoder_with_another_dimension_is_refused(index: Path) -> None:
    retriever = Retriever(index, encoder_factory=lambda spec: RecordingFactory()("hashing:128"))
    with pytest.raises(IndexLoadError, match="needs hashing-ngrams-256-v1"):
        retriever.search("refund", "en")


def test_no_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseUnavailable, match="run `python -m kb_index build`"):
        Retriever(tmp_path / "empty").search("refund", "en")

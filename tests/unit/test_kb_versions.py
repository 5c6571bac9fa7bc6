"""Versions, diff and rollback, through the CLI and the functions behind it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kb_index import storage
from kb_index.build import build
from kb_index.cli import main
from kb_index.manifest import IndexLoadError
from kb_index.testing import ENCODERS, RETRIEVAL, RecordingFactory, article_text, sample_kb, write_article
from kb_index.versions import diff, rollback


def make(kb: Path, index: Path) -> None:
    build(
        kb, index, encoders=ENCODERS, retrieval=RETRIEVAL, encoder_factory=RecordingFactory(), progress=print
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kb")
    kb, index = sample_kb(root / "kb"), root / "index"
    make(kb, index)
    write_article(kb, "en-new", article_text("en-new", "orders", "New", [], [], "New text."))
    (kb / "en" / "en-payment-methods.md").unlink()
    make(kb, index)
    return root


@pytest.fixture
def two_versions(built: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Articles and an index with v1 and v2, copied so each test may change them."""
    root = Path(shutil.copytree(built, tmp_path / "copy"))
    return root / "kb", root / "index"


def test_diff_lists_article_changes(two_versions: tuple[Path, Path]) -> None:
    _, index = two_versions
    changes = diff(index, "v1", "v2")
    assert (changes.added, changes.changed, changes.removed) == (["en-new"], [], ["en-payment-methods"])
    back = diff(index, "v2", "v1")
    assert (back.added, back.removed) == (["en-payment-methods"], ["en-new"])


def test_rollback_moves_the_pointer_and_build_respects_it(two_versions: tuple[Path, Path]) -> None:
    kb, index = two_versions
    assert rollback(index, "v1") == "v2"
    assert storage.read_current(index) == "v1"
    make(kb, index)  # the articles still match v2: no new version, the rollback stays
    assert storage.list_versions(index) == ["v1", "v2"]
    assert storage.read_current(index) == "v1"


def test_rollback_refuses_a_damaged_or_unknown_version(two_versions: tuple[Path, Path]) -> None:
    _, index = two_versions
    (index / "versions" / "v1" / "en.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexLoadError, match="content hash does not match"):
        rollback(index, "v1")
    with pytest.raises(IndexLoadError, match="no version v9"):
        rollback(index, "v9")
    assert storage.read_current(index) == "v2"


def test_cli_versions_diff_rollback(
    two_versions: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, index = two_versions
    capsys.readouterr()
    assert main(["versions", "--index-dir", str(index)]) == 0
    out = capsys.readouterr().out
    assert "* v2" in out and "  v1" in out and "1 added, 0 changed, 1 removed" in out
    assert main(["diff", "v1", "v2", "--index-dir", str(index)]) == 0
    out = capsys.readouterr().out
    assert "+ en-new" in out and "- en-payment-methods" in out
    assert main(["rollback", "v1", "--index-dir", str(index)]) == 0
    assert "serving v1 (was v2)" in capsys.readouterr().out
    assert main(["rollback", "v7", "--index-dir", str(index)]) == 1
    assert "no version v7" in capsys.readouterr().err


def test_cli_search_json(two_versions: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # The CLI loads real encoders; the index here uses the hashing encoder, which needs no weights.
    _, index = two_versions
    capsys.readouterr()
    assert main(["search", "how long does a refund take", "--index-dir", str(index), "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["language"] == "en" and data["version"] == "v2"
    assert data["hits"][0]["article_id"] == "en-refunds-timeline"
    assert main(["search", "退款多久到账", "--index-dir", str(index), "--top-k", "1"]) == 0
    assert "zh-refunds-timeline" in capsys.readouterr().out

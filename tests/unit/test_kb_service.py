"""The async KnowledgeBase: non-blocking search that follows new versions and rollbacks without a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb_index.build import build
from kb_index.service import KnowledgeBase
from kb_index.testing import ENCODERS, RETRIEVAL, RecordingFactory, article_text, sample_kb, write_article
from kb_index.versions import rollback


def make(kb: Path, index: Path) -> str:
    result = build(
        kb,
        index,
        encoders=ENCODERS,
        retrieval=RETRIEVAL,
        encoder_factory=RecordingFactory(),
        progress=lambda _: None,
    )
    return result.version


@pytest.fixture
def kb_and_index(tmp_path: Path) -> tuple[Path, Path]:
    kb, index = sample_kb(tmp_path / "kb"), tmp_path / "index"
    make(kb, index)
    return kb, index


async def test_search_and_pick_up_new_version_and_rollback(kb_and_index: tuple[Path, Path]) -> None:
    kb, index = kb_and_index
    factory = RecordingFactory()
    service = KnowledgeBase(index, encoder_factory=factory)
    first = await service.search("how much does delivery cost", "en")
    assert first.version == "v1" and first.hits[0].article_id == "en-shipping-fees"
    assert first.hits[0].version == "v1"

    body = "Delivery is now free for every order, and express delivery costs 5."
    write_article(
        kb, "en-shipping-fees", article_text("en-shipping-fees", "shipping", "Delivery cost", [], [], body)
    )
    assert make(kb, index) == "v2"
    second = await service.search("how much does delivery cost", "en")
    assert second.version == "v2" and second.hits[0].answer == body

    rollback(index, "v1")
    third = await service.search("how much does delivery cost", "en")
    assert third.version == "v1" and third.hits[0].answer.startswith("Standard delivery")
    assert factory.created == ["hashing:256"]  # one encoder, created once, kept across versions


async def test_damaged_new_version_keeps_the_old_one_serving(kb_and_index: tuple[Path, Path]) -> None:
    kb, index = kb_and_index
    service = KnowledgeBase(index, encoder_factory=RecordingFactory())
    assert (await service.search("refund", "en")).version == "v1"
    write_article(kb, "en-new", article_text("en-new", "orders", "New", [], [], "New text."))
    make(kb, index)
    (index / "versions" / "v2" / "en.faiss").write_bytes(b"broken")
    assert (await service.search("refund", "en")).version == "v1"


async def test_related_prefers_curated_then_neighbours(kb_and_index: tuple[Path, Path]) -> None:
    _, index = kb_and_index
    service = KnowledgeBase(index, encoder_factory=RecordingFactory())
    related = await service.related("en-shipping-fees", "en", limit=2)
    assert related[0].article_id == "en-shipping-tracking"  # from the article's `related` list
    assert len(related) == 2 and "en-shipping-fees" not in {h.article_id for h in related}
    assert await service.related("en-shipping-fees", "zh") == []
    assert await service.related("en-unknown", "en") == []


async def test_from_env_and_warm_up(kb_and_index: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _, index = kb_and_index
    monkeypatch.setenv("KB_INDEX_DIR", str(index))
    service = KnowledgeBase.from_env()
    assert service.index_dir == index
    assert await service.version() == "v1"


async def test_an_article_by_id_in_its_own_language_only(kb_and_index: tuple[Path, Path]) -> None:
    _, index = kb_and_index
    service = KnowledgeBase(index, encoder_factory=RecordingFactory())
    hit = await service.article("en-shipping-fees", "en")
    assert hit is not None and hit.article_id == "en-shipping-fees" and hit.version == "v1"
    assert hit.answer.startswith("Standard delivery") and hit.score == 1.0
    assert await service.article("en-shipping-fees", "zh") is None
    assert await service.article("en-unknown", "en") is None

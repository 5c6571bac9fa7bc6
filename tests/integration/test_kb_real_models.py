"""The real packaged encoders over the real articles: a fresh build answers questions in both languages."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb_index.build import build
from kb_index.service import KnowledgeBase
from kb_index.settings import DEFAULT_KB_DIR

pytestmark = [pytest.mark.model, pytest.mark.integration]

QUERIES = [
    ("how many days is the return window", "en", {"en-returns-window", "en-returns-guide"}),
    ("how do I track my order", "en", {"en-shipping-tracking"}),
    ("can i pay with paypal", "en", {"en-payment-methods"}),
    ("退款多久能到账", "zh", {"zh-refunds-timeline"}),
    ("怎么开发票", "zh", {"zh-invoices-electronic", "zh-invoices-vat-special", "zh-invoices-reissue"}),
    ("七天无理由退货怎么算", "zh", {"zh-returns-seven-day", "zh-returns-windows"}),
]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("kb_index")
    result = build(DEFAULT_KB_DIR, target, progress=lambda _: None)
    assert result.built and result.version == "v1"
    return target


async def test_real_models_find_the_right_articles(index_dir: Path) -> None:
    kb = KnowledgeBase(index_dir)
    for query, language, expected in QUERIES:
        result = await kb.search(query, language, top_k=3)
        assert result.version == "v1"
        assert result.hits[0].article_id in expected, (query, [h.article_id for h in result.hits])
        assert result.hits[0].language == language
        # Plainly asked questions clear the miss decision, and the margin counts towards it.
        assert not result.miss and result.confidence >= result.threshold, (query, result.confidence)
        assert result.margin > 0.0, (query, result.margin)


async def test_out_of_scope_question_is_a_miss(index_dir: Path) -> None:
    kb = KnowledgeBase(index_dir)
    for query, language in (("what is the capital of mongolia", "en"), ("今天天气怎么样", "zh")):
        result = await kb.search(query, language)
        assert result.miss and result.best is None, (query, result.hits[:1])


def test_unchanged_rebuild_is_instant(index_dir: Path) -> None:
    result = build(DEFAULT_KB_DIR, index_dir, progress=lambda _: None)
    assert not result.built


REASONS_FILE = Path(__file__).resolve().parents[2] / "data" / "policy" / "return_reasons.yml"


async def test_return_reasons_are_understood_by_meaning(index_dir: Path) -> None:
    from actions.returns.reasons import ReasonCatalogue, ReasonClassifier

    catalogue = ReasonCatalogue.from_file(REASONS_FILE)
    reasons = ReasonClassifier(catalogue, KnowledgeBase(index_dir).embed)
    for said, language, category in [
        ("the waist is a couple of sizes too narrow", "en", "wrong_size"),
        ("looks cheaper than on the product page", "en", "not_as_described"),
        ("got the black one instead of white", "en", "wrong_item"),
        ("袖子太短了", "zh", "wrong_size"),
        ("跟图片差太多", "zh", "not_as_described"),
        ("asdf qwer", "en", "other"),
    ]:
        assert (await reasons.classify(said, language)).category == category, said

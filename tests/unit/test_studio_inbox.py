"""Which parsed messages the studio's inbox keeps, and how it groups similar ones."""

from __future__ import annotations

import math

from handoff.studio.inbox import InboxItem, StudioInbox, group_by_similarity


def item(item_id: str, language: str = "en") -> InboxItem:
    return InboxItem(item_id, "text", language, "c", None, 0.0, "open", ["fallback"], None)


def unit(*xs: float) -> list[float]:
    norm = math.sqrt(sum(x * x for x in xs))
    return [x / norm for x in xs]


def test_fallbacks_and_unsure_parses_are_worth_a_look_and_confident_ones_are_not() -> None:
    inbox = StudioInbox(redis=None, low_confidence=0.4)  # type: ignore[arg-type]
    assert inbox.worth_a_look({"intent": "nlu_fallback", "confidence": 0.9}) == "fallback"
    assert inbox.worth_a_look({"intent": "ask_policy", "confidence": 0.39}) == "low_confidence"
    assert inbox.worth_a_look({"intent": "ask_policy", "confidence": 0.4}) is None
    assert inbox.worth_a_look({"intent": "ask_policy"}) is None
    assert inbox.worth_a_look(None) is None and inbox.worth_a_look({}) is None


def test_similar_messages_group_within_a_language_and_others_stand_alone() -> None:
    items = [item("a"), item("b"), item("c"), item("d", "zh"), item("e")]
    vectors = {
        "a": unit(1, 0, 0),
        "b": unit(0.95, 0.05, 0),  # close to a
        "c": unit(0, 1, 0),
        "d": unit(1, 0, 0),  # the same meaning in another language: its own group
    }  # e has no vector (the encoder was unavailable): alone
    assert group_by_similarity(items, vectors, threshold=0.8) == [["a", "b"], ["c"], ["d"], ["e"]]
    assert group_by_similarity(items, vectors, threshold=0.9999) == [["a"], ["b"], ["c"], ["d"], ["e"]]


def test_an_agents_newest_named_intent_is_the_suggestion() -> None:
    flagged = item("a")
    flagged.flags = [
        {"by": "ann", "intent": "cancel_order", "ts": 2.0},
        {"by": "bob", "intent": None, "ts": 3.0},
        {"by": "cat", "intent": "order_status", "ts": 1.0},
    ]
    assert flagged.suggested_intent == "cancel_order"
    assert flagged.as_dict()["suggested_intent"] == "cancel_order"

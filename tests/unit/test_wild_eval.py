"""The wild evaluation set stays usable and unseen: well-formed labels, and none of its messages in the
training data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WILD = ROOT / "data" / "eval" / "wild"
CATEGORIES = {
    *("greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "out_of_scope", "request_human"),
    *("order_status", "cancel_order", "change_address", "request_return", "request_exception"),
    *("refund_status", "refund_request", "refund_policy", "ask_policy", "ask_shipping"),
    *("payment_problem", "payment_methods", "promo_discount", "invoice", "account", "complain"),
    *("product_question", "product_recommendation", "other_shop"),
}
RISKS = {"injury", "fraud", "legal", "counterfeit", "repeat_contact"}


def squash(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def training_texts() -> set[str]:
    found = set()
    for path in (ROOT / "data" / "nlu").rglob("*.yml"):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            for line in str(block.get("examples") or "").splitlines():
                text = re.sub(r"\[([^\]]+)\]\([^)]*\)|\[([^\]]+)\]\{[^}]*\}", r"\1\2", line.strip()[2:])
                found.add(squash(text))
    return found


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_wild_set_is_labelled_and_never_trained_on(language: str) -> None:
    data = yaml.safe_load((WILD / f"wild_{language}.yml").read_text(encoding="utf-8"))
    assert data["language"] == language
    messages = data["messages"]
    assert len(messages) >= 200
    for m in messages:
        assert m["category"] in CATEGORIES, m
        assert m["route"] in ("bot", "person"), m
        assert set(m.get("risk") or []) <= RISKS, m
        assert m["frustration"] in ("calm", "annoyed", "angry"), m
        assert set(m.get("asks") or []) <= CATEGORIES, m
        assert not m.get("risk") or m["route"] == "person", m  # a risk always reaches a person
    assert len({squash(m["text"]) for m in messages}) == len(messages)
    # Short messages ("yes", "在吗", "whats your return policy") coincide with training examples by nature;
    # a long one in the training data was copied.
    long_enough = 12 if language == "zh" else 30
    trained = training_texts()
    copied = [
        m["text"] for m in messages if len(squash(m["text"])) >= long_enough and squash(m["text"]) in trained
    ]
    assert copied == []


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_knowledge_base_labels_name_wild_messages_and_real_articles(language: str) -> None:
    labels = yaml.safe_load((WILD / "kb" / f"kb_queries_{language}.yml").read_text(encoding="utf-8"))
    wild = yaml.safe_load((WILD / f"wild_{language}.yml").read_text(encoding="utf-8"))
    texts = {m["text"] for m in wild["messages"]}
    articles = {path.stem for path in (ROOT / "data" / "kb" / language).glob("*.md")}
    assert labels["language"] == language and len(labels["queries"]) >= 50
    for query in labels["queries"]:
        assert query["query"] in texts, query
        assert query["relevant"] and set(query["relevant"]) <= articles, query

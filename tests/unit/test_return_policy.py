from datetime import date, timedelta
from pathlib import Path

import pytest

from actions.orders.model import Order, OrderItem, OrderStatus
from actions.returns.policy import Outcome, PolicyError, ReturnPolicy, decide

POLICY = ReturnPolicy.from_file(Path(__file__).resolve().parents[2] / "data" / "policy" / "returns.yml")
TODAY = date(2026, 6, 30)


def order(days_ago: int | None, category: str, condition: str = "unopened", status=OrderStatus.DELIVERED):
    item = OrderItem("SKU-1", "Thing", "东西", category, 10.0, 1, condition)
    delivered = TODAY - timedelta(days=days_ago) if days_ago is not None else None
    return Order(
        "SO-1", "c", status, "USD", TODAY - timedelta(days=40), (item,), delivered_on=delivered
    ), item


@pytest.mark.parametrize(
    ("category", "last_day"),
    [("home", 7), ("books", 7), ("clothing", 30), ("shoes", 30), ("electronics", 15), ("unlisted", 7)],
)
def test_the_last_day_of_the_window_is_included_and_the_next_is_not(category: str, last_day: int) -> None:
    o, item = order(last_day, category)
    on_time = decide(o, item, "changed_mind", TODAY, POLICY)
    assert on_time.outcome is Outcome.ELIGIBLE and on_time.days_left == 0
    o, item = order(last_day + 1, category)
    late = decide(o, item, "changed_mind", TODAY, POLICY)
    assert late.outcome is Outcome.OUTSIDE_WINDOW
    assert late.handoff_reason == "outside_window"


@pytest.mark.parametrize("category", ["food", "gift_card", "underwear_swimwear"])
def test_non_returnable_categories(category: str) -> None:
    o, item = order(1, category)
    assert decide(o, item, "changed_mind", TODAY, POLICY).outcome is Outcome.NON_RETURNABLE


def test_opened_electronics_are_not_a_no_reason_return() -> None:
    o, item = order(2, "electronics", condition="opened")
    assert decide(o, item, "changed_mind", TODAY, POLICY).outcome is Outcome.CONDITION
    o, item = order(2, "clothing", condition="opened")
    assert decide(o, item, "wrong_size", TODAY, POLICY).outcome is Outcome.ELIGIBLE


@pytest.mark.parametrize(("reason", "handoff"), [("damaged", "damaged_goods"), ("wrong_item", "wrong_item")])
def test_damaged_or_wrong_items_go_to_a_person_even_outside_the_window(reason: str, handoff: str) -> None:
    o, item = order(90, "food")
    decision = decide(o, item, reason, TODAY, POLICY)
    assert decision.outcome is Outcome.NEEDS_AGENT
    assert decision.handoff_reason == handoff


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (OrderStatus.SHIPPED, Outcome.NOT_DELIVERED),
        (OrderStatus.PAID, Outcome.NOT_DELIVERED),
        (OrderStatus.CANCELLED, Outcome.CANCELLED),
        (OrderStatus.RETURNED, Outcome.ALREADY_RETURNED),
    ],
)
def test_orders_that_cannot_be_returned(status: OrderStatus, outcome: Outcome) -> None:
    o, item = order(None, "home", status=status)
    assert decide(o, item, "changed_mind", TODAY, POLICY).outcome is outcome


def test_a_malformed_policy_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "returns.yml"
    bad.write_text("version: 1\ndefault: {window_days: 7}\n")  # no refund section
    with pytest.raises(PolicyError, match=r"returns\.yml"):
        ReturnPolicy.from_file(bad)

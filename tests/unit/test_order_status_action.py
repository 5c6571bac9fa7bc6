from datetime import date
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.order_status import ActionOrderStatus
from actions.orders.model import Order, OrderItem, OrderStatus
from tests.unit.fakes import FakeOrderStore

SHIPPED = Order(
    id="SO-11112222",
    customer_id="cust-1",
    status=OrderStatus.SHIPPED,
    currency="USD",
    placed_on=date(2026, 3, 1),
    shipped_on=date(2026, 3, 2),
    eta=date(2026, 3, 5),
    carrier="UPS",
    tracking_number="1Z999",
    items=(OrderItem("SKU", "Jacket", "夹克", "clothing", 89.0, 1, "new"),),
)


def tracker(slots: dict[str, Any], metadata: dict[str, Any] | None = None) -> Tracker:
    return Tracker(
        sender_id="t",
        slots=slots,
        latest_message={"text": "x", "intent": {"name": "inform"}, "metadata": metadata or {}},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name=None,
    )


OWNER = {"customer_id": "cust-1", "verified_by": "storefront"}


async def run(slots: dict[str, Any], metadata: dict[str, Any] | None = OWNER) -> tuple[list[dict], list]:
    dispatcher = CollectingDispatcher()
    events = await ActionOrderStatus(FakeOrderStore(SHIPPED)).run(dispatcher, tracker(slots, metadata), {})
    return dispatcher.messages, events


async def test_shipped_order_reports_carrier_and_tracking_in_the_customers_language() -> None:
    messages, events = await run({"order_id": "so 11112222", "language": "zh"})
    (message,) = messages
    assert message["response"] == "utter_order_status_shipped"
    assert message["tracking_number"] == "1Z999"
    assert message["eta"] == "3月5日"
    assert SlotSet("order_id", "SO-11112222") in events
    assert SlotSet("order_check", None) in events  # the next request proves its own order


async def test_unknown_order_is_not_found_and_the_slot_is_cleared() -> None:
    messages, events = await run({"order_id": "SO-99999999", "language": "en"})
    assert messages[0]["response"] == "utter_order_not_found"
    assert messages[0]["order_id"] == "SO-99999999"
    assert SlotSet("order_id", None) in events


async def test_someone_elses_order_reads_as_not_found() -> None:
    other = {"customer_id": "cust-2", "verified_by": "storefront"}
    messages, _ = await run({"order_id": "SO-11112222", "language": "en"}, other)
    assert messages[0]["response"] == "utter_order_not_found"


async def test_an_unverified_customer_id_proves_nothing() -> None:
    for metadata in ({"customer_id": "cust-1"}, {"customer_id": "cust-1", "verified_by": "anything"}):
        messages, _ = await run({"order_id": "SO-11112222", "language": "en"}, metadata)
        assert messages[0]["response"] == "utter_order_not_found"


async def test_the_owner_sees_their_order() -> None:
    messages, _ = await run({"order_id": "SO-11112222", "language": "en"})
    assert messages[0]["response"] == "utter_order_status_shipped"
    assert messages[0]["eta"] == "Mar 5"

"""Resending an invoice and starting a password reset: the forms' validation and the actions, over an
in-memory customer service that keeps the CustomerService contract (tests/integration/contract/
test_customer_service.py runs the same rules against it and the SQLite service)."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Action
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.account import actions as account_actions
from actions.account.actions import (
    OFFERS_BY_INTENT,
    ActionAskConfirmInvoice,
    ActionResendInvoice,
    ActionStartPasswordReset,
    ValidateInvoiceForm,
    ValidatePasswordResetForm,
)
from actions.account.service import (
    INVOICE_RESENDS_PER_DAY,
    RESET_REQUESTS_PER_HOUR,
    InvoiceSent,
    NoInvoice,
    TooManyRequests,
    UnknownOrder,
    has_invoice,
    mask_email,
)
from actions.orders.model import Actor, AuditEntry, Order, OrderItem, OrderStatus
from tests.unit.fakes import FakeAttemptLimiter, FakeOrderStore, make_tracker

ROOT = Path(__file__).resolve().parents[2]
ITEM = OrderItem("SHOE-RUN-42", "Running shoes", "跑步鞋", "shoes", 119.0, 1, "new")
SHIPPED = Order(
    "SO-10001021", "cust-1001", OrderStatus.SHIPPED, "USD", date(2026, 3, 1), (ITEM,),
    email="alice.carter@example.com", phone="+1 415 555 0101", postcode="94105",
)  # fmt: skip
PENDING = dataclasses.replace(SHIPPED, id="SO-10006501", status=OrderStatus.PENDING)
ACCOUNTS = {"cust-1001": "alice.carter@example.com"}
OWNER = {"customer_id": "cust-1001", "verified_by": "storefront"}  # signed in on the storefront
FORM_SLOTS = ["order_id", "order_check", "confirm_invoice"]


class FakeCustomerService:
    """SqliteCustomerService's rules in memory: invoices to the order's address, limits per order per day
    and per address per hour, a reset message only for an address an account uses. `outbox`, `requests`
    and `tokens` (token hash: customer, expiry) are open to the tests; the audit trail is the store's."""

    def __init__(
        self,
        store: FakeOrderStore,
        accounts: dict[str, str] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.accounts = dict(accounts or {})  # customer id: email
        self.outbox: list[dict[str, Any]] = []
        self.requests: list[tuple[str, datetime, Actor]] = []  # (address hash, when, who)
        self.tokens: dict[str, tuple[str, datetime]] = {}
        self._now = now
        self._invoices: list[tuple[str, datetime]] = []

    async def resend_invoice(self, order_id: str, actor: Actor) -> InvoiceSent:
        order = await self.store.get(order_id)
        if order is None:
            raise UnknownOrder(order_id)
        if not has_invoice(order) or not mask_email(order.email):
            raise NoInvoice(order_id)
        now = self._now()
        sent_today = [at for o, at in self._invoices if o == order_id and at > now - timedelta(days=1)]
        if len(sent_today) >= INVOICE_RESENDS_PER_DAY:
            raise TooManyRequests(order_id)
        self._invoices.append((order_id, now))
        self.outbox.append({"kind": "invoice", "recipient": order.email, "order_id": order_id})
        sent = InvoiceSent(order_id, mask_email(order.email), f"EM-{len(self.outbox):06d}")
        after = {"to": sent.masked_email, "reference": sent.reference}
        await self.store.record(AuditEntry.of(order_id, "invoice_resent", actor, {}, after))
        return sent

    async def start_password_reset(self, email: str, actor: Actor) -> None:
        key = hashlib.sha256(email.strip().lower().encode()).hexdigest()
        now = self._now()
        recent = [at for k, at, _ in self.requests if k == key and at > now - timedelta(hours=1)]
        if len(recent) >= RESET_REQUESTS_PER_HOUR:
            raise TooManyRequests("reset")
        self.requests.append((key, now, actor))
        owner = next((c for c, e in self.accounts.items() if e.lower() == email.strip().lower()), None)
        if owner is None:
            return
        token = f"token-{len(self.tokens)}"
        self.tokens[hashlib.sha256(token.encode()).hexdigest()] = (owner, now + timedelta(hours=1))
        self.outbox.append({"kind": "password_reset", "recipient": self.accounts[owner], "token": token})

    async def account_email(self, customer_id: str) -> str | None:
        return self.accounts.get(customer_id)


def service(*orders: Order) -> FakeCustomerService:
    return FakeCustomerService(FakeOrderStore(*(orders or (SHIPPED,))), ACCOUNTS)


async def say(action: Action, tracker: Any) -> tuple[list[str], list[dict[str, Any]], list[Any]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return [m["response"] for m in dispatcher.messages], dispatcher.messages, events


# The invoice


def test_only_paid_orders_have_an_invoice_and_addresses_are_masked() -> None:
    with_invoice = {s.value for s in OrderStatus if has_invoice(dataclasses.replace(SHIPPED, status=s))}
    assert with_invoice == {"paid", "shipped", "delivered", "returned"}  # not pending, nor cancelled unpaid
    assert has_invoice(
        dataclasses.replace(SHIPPED, status=OrderStatus.CANCELLED, refund_issued_on=date.today())
    )
    assert mask_email("jane.doe@example.com") == "j***@example.com"
    assert mask_email("x@example.cn") == "x***@example.cn"
    assert mask_email("not an address") == mask_email("") == ""


async def test_an_unproven_order_is_checked_before_the_read_back() -> None:
    form = ValidateInvoiceForm(FakeOrderStore(SHIPPED), FakeAttemptLimiter())
    tracker = make_tracker({"order_id": SHIPPED.id})
    assert await form.required_slots(FORM_SLOTS, CollectingDispatcher(), tracker, {}) == FORM_SLOTS

    dispatcher = CollectingDispatcher()
    wrong = await form.validate_order_check("bob@example.com", dispatcher, tracker, {})
    assert wrong == {"order_check": None, "order_id": None}
    assert [m["response"] for m in dispatcher.messages] == ["utter_order_check_failed"]

    proven = await form.validate_order_check("alice.carter@example.com", CollectingDispatcher(), tracker, {})
    assert proven["order_check"] == "passed" and proven["verified_orders"] == [SHIPPED.id]
    tracker = make_tracker({"order_id": SHIPPED.id, "verified_orders": [SHIPPED.id]})
    assert await form.required_slots(FORM_SLOTS, CollectingDispatcher(), tracker, {}) == [
        "order_id", "confirm_invoice",
    ]  # fmt: skip


async def test_a_signed_in_customer_is_not_asked_to_prove_their_own_order() -> None:
    form = ValidateInvoiceForm(FakeOrderStore(SHIPPED), FakeAttemptLimiter())
    tracker = make_tracker({"order_id": SHIPPED.id}, metadata=OWNER)
    assert await form.required_slots(FORM_SLOTS, CollectingDispatcher(), tracker, {}) == [
        "order_id", "confirm_invoice",
    ]  # fmt: skip


async def test_an_order_without_an_invoice_is_explained_without_a_read_back() -> None:
    form = ValidateInvoiceForm(FakeOrderStore(PENDING), FakeAttemptLimiter())
    tracker = make_tracker({"order_id": PENDING.id}, metadata=OWNER)
    assert await form.required_slots(FORM_SLOTS, CollectingDispatcher(), tracker, {}) == ["order_id"]
    fake = service(PENDING)
    responses, _, _ = await say(ActionResendInvoice(fake.store, fake), tracker)
    assert responses == ["utter_invoice_pending"] and fake.outbox == []
    unpaid = dataclasses.replace(PENDING, status=OrderStatus.CANCELLED)
    fake = service(unpaid)
    responses, _, _ = await say(ActionResendInvoice(fake.store, fake), tracker)
    assert responses == ["utter_invoice_unpaid"] and fake.outbox == []
    no_address = dataclasses.replace(SHIPPED, email="")
    tracker = make_tracker({"order_id": SHIPPED.id}, metadata=OWNER)
    form = ValidateInvoiceForm(FakeOrderStore(no_address), FakeAttemptLimiter())
    assert await form.required_slots(FORM_SLOTS, CollectingDispatcher(), tracker, {}) == ["order_id"]
    fake = service(no_address)
    responses, _, _ = await say(ActionResendInvoice(fake.store, fake), tracker)
    assert responses == ["utter_invoice_unavailable"] and fake.outbox == []


async def test_the_read_back_names_the_masked_address_on_the_order() -> None:
    tracker = make_tracker({"order_id": SHIPPED.id, "verified_orders": [SHIPPED.id]})
    responses, messages, _ = await say(ActionAskConfirmInvoice(FakeOrderStore(SHIPPED)), tracker)
    assert responses == ["utter_confirm_invoice"]
    assert (messages[0]["order_id"], messages[0]["email"]) == (SHIPPED.id, "a***@example.com")
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/affirm", "/deny"]
    # Nothing about an order the customer has not proved.
    unproven = make_tracker({"order_id": SHIPPED.id})
    responses, _, _ = await say(ActionAskConfirmInvoice(FakeOrderStore(SHIPPED)), unproven)
    assert responses == []


async def test_a_yes_queues_the_invoice_to_the_order_address_and_says_where() -> None:
    fake = service()
    tracker = make_tracker(
        {"order_id": SHIPPED.id, "verified_orders": [SHIPPED.id], "confirm_invoice": "yes"}
    )
    responses, messages, events = await say(ActionResendInvoice(fake.store, fake), tracker)
    assert responses == ["utter_invoice_sent"]
    assert (messages[0]["email"], messages[0]["reference"]) == ("a***@example.com", "EM-000001")
    assert fake.outbox == [
        {"kind": "invoice", "recipient": "alice.carter@example.com", "order_id": SHIPPED.id}
    ]
    (entry,) = await fake.store.audit_trail(SHIPPED.id)
    assert (entry.event, entry.conversation_id, entry.verified_by) == (
        "invoice_resent",
        "conv-1",
        "order_check",
    )
    assert SlotSet("confirm_invoice", None) in events and SlotSet("order_check", None) in events


@pytest.mark.parametrize("answer", ["no", "never mind", "算了"])
async def test_a_no_sends_nothing(answer: str) -> None:
    form = ValidateInvoiceForm(FakeOrderStore(SHIPPED), FakeAttemptLimiter())
    tracker = make_tracker({"order_id": SHIPPED.id}, metadata=OWNER)
    validated = await form.validate_confirm_invoice(answer, CollectingDispatcher(), tracker, {})
    assert validated == {"confirm_invoice": "no"}
    fake = service()
    tracker = make_tracker({"order_id": SHIPPED.id, "confirm_invoice": "no"}, metadata=OWNER)
    responses, _, events = await say(ActionResendInvoice(fake.store, fake), tracker)
    assert responses == ["utter_invoice_not_sent"] and fake.outbox == []
    assert await fake.store.audit_trail(SHIPPED.id) == []
    assert SlotSet("confirm_invoice", None) in events


async def test_past_the_daily_limit_the_customer_gets_a_polite_answer() -> None:
    fake = service()
    tracker = make_tracker({"order_id": SHIPPED.id, "confirm_invoice": "yes"}, metadata=OWNER)
    for _ in range(INVOICE_RESENDS_PER_DAY):
        assert (await say(ActionResendInvoice(fake.store, fake), tracker))[0] == ["utter_invoice_sent"]
    responses, _, _ = await say(ActionResendInvoice(fake.store, fake), tracker)
    assert responses == ["utter_invoice_limit"]
    assert len(fake.outbox) == INVOICE_RESENDS_PER_DAY


async def test_an_unproven_or_locked_order_gets_nothing_sent() -> None:
    fake = service()
    unproven = make_tracker({"order_id": SHIPPED.id, "confirm_invoice": "yes"})
    responses, _, events = await say(ActionResendInvoice(fake.store, fake), unproven)
    assert responses == ["utter_order_not_found"] and SlotSet("order_id", None) in events
    locked = make_tracker({"order_id": SHIPPED.id, "order_check": "locked"})
    form = ValidateInvoiceForm(fake.store, FakeAttemptLimiter())
    assert await form.required_slots(FORM_SLOTS, CollectingDispatcher(), locked, {}) == []  # the form ends
    responses, _, _ = await say(ActionResendInvoice(fake.store, fake), locked)
    assert responses == ["utter_order_check_locked"] and fake.outbox == []


async def test_the_order_check_answer_is_taken_in_the_invoice_form_but_not_a_no() -> None:
    form = ValidateInvoiceForm(FakeOrderStore(SHIPPED), FakeAttemptLimiter())
    asked = {"order_id": SHIPPED.id, "requested_slot": "order_check"}

    async def extract(intent: str, text: str, **slots: Any) -> dict[str, Any]:
        tracker = make_tracker({**asked, **slots}, intent=intent, text=text, active_loop="invoice_form")
        return await form.extract_order_check(CollectingDispatcher(), tracker, {})

    assert await extract("inform", "94105") == {"order_check": "94105"}
    assert await extract("deny", "never mind") == {}  # the form rejects it and the stop rule answers
    assert await extract("ask_policy", "what is your return policy") == {}
    assert await extract("inform", "94105", requested_slot="order_id") == {}


# The password reset


async def test_the_reply_is_the_same_whether_or_not_an_account_uses_the_address() -> None:
    fake = service()
    replies = []
    for email in ("alice.carter@example.com", "nobody@example.com"):
        tracker = make_tracker({"reset_email": email})
        _, messages, events = await say(ActionStartPasswordReset(fake), tracker)
        replies.append(messages)
        assert SlotSet("reset_email", None) in events  # the address is not kept
    assert replies[0] == replies[1]  # the same response with the same values
    assert [m["response"] for m in replies[0]] == ["utter_password_reset_sent"] and "email" not in replies[0][
        0
    ]
    assert [m["recipient"] for m in fake.outbox] == ["alice.carter@example.com"]
    assert len(fake.requests) == 2 and all(who.conversation_id == "conv-1" for _, _, who in fake.requests)


async def test_the_address_is_read_from_the_answer_and_nonsense_is_asked_again() -> None:
    form = ValidatePasswordResetForm(service())
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({"requested_slot": "reset_email"})
    said = "it's Alice.Carter@Example.com thanks"
    assert await form.validate_reset_email(said, dispatcher, tracker, {}) == {
        "reset_email": "alice.carter@example.com"
    }
    assert await form.validate_reset_email("my usual one", dispatcher, tracker, {}) == {"reset_email": None}
    assert [m["response"] for m in dispatcher.messages] == ["utter_reset_email_invalid"]


async def test_a_signed_in_customer_is_not_asked_and_the_account_address_is_used() -> None:
    fake = service()
    form = ValidatePasswordResetForm(fake)
    tracker = make_tracker({}, metadata=OWNER)
    assert await form.required_slots(["reset_email"], CollectingDispatcher(), tracker, {}) == []
    anonymous = make_tracker({})
    assert await form.required_slots(["reset_email"], CollectingDispatcher(), anonymous, {}) == [
        "reset_email"
    ]
    # A typed address does not redirect a signed-in customer's link.
    tracker = make_tracker({"reset_email": "someone.else@example.com"}, metadata=OWNER)
    responses, messages, _ = await say(ActionStartPasswordReset(fake), tracker)
    assert (
        responses == ["utter_password_reset_sent_to_account"] and messages[0]["email"] == "a***@example.com"
    )
    assert [m["recipient"] for m in fake.outbox] == ["alice.carter@example.com"]
    ((_, _, who),) = fake.requests
    assert (who.customer_id, who.verified_by) == ("cust-1001", "storefront")


async def test_past_the_hourly_limit_the_customer_gets_a_polite_answer_either_way() -> None:
    fake = service()
    for email in ("alice.carter@example.com", "nobody@example.com"):
        tracker = make_tracker({"reset_email": email})
        for _ in range(RESET_REQUESTS_PER_HOUR):
            assert (await say(ActionStartPasswordReset(fake), tracker))[0] == ["utter_password_reset_sent"]
        assert (await say(ActionStartPasswordReset(fake), tracker))[0] == ["utter_password_reset_limit"]


async def test_two_unclear_answers_offer_a_person() -> None:
    responses, _, events = await say(
        ActionStartPasswordReset(service()), make_tracker({"form_stuck": "reset_email"})
    )
    assert responses == ["utter_form_stuck"]
    assert SlotSet("stuck_on", "reset_email") in events and SlotSet("reset_email", None) in events


# The assistant's side: domain and rules


def _yaml(path: str) -> Any:
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def test_the_domain_declares_exactly_the_account_actions_and_every_response_in_both_languages() -> None:
    domain = _yaml("bot/domain/account.yml")
    classes: list[type[Any]] = [cls for _, cls in inspect.getmembers(account_actions, inspect.isclass)]
    served = {
        cls().name()
        for cls in classes
        if issubclass(cls, Action)
        and cls.__module__ == account_actions.__name__
        and not inspect.isabstract(cls)
    }
    assert served == set(domain["actions"])
    source = inspect.getsource(account_actions)
    sent = {name for name in domain["responses"] if f'"{name}"' in source}
    assert sent | {"utter_ask_reset_email"} == set(domain["responses"])
    for name, variations in domain["responses"].items():
        languages = [v["condition"][0]["value"] for v in variations]
        assert languages == ["en", "zh"], name
    assert set(OFFERS_BY_INTENT.values()) <= set(domain["responses"])


def test_a_no_stops_either_form_and_finished_forms_run_their_action() -> None:
    rules = _yaml("data/rules/account.yml")["rules"]
    for form, action in (
        ("invoice_form", "action_resend_invoice"),
        ("password_reset_form", "action_start_password_reset"),
    ):
        stop = [
            r
            for r in rules
            if r.get("condition") == [{"active_loop": form}] and {"intent": "deny"} in r["steps"]
        ]
        assert len(stop) == 1 and {"action": "action_deactivate_loop"} in stop[0]["steps"]
        assert any({"action": action} in r["steps"] for r in rules)
    slots = _yaml("bot/domain/account.yml")["slots"]
    assert "deny" in slots["reset_email"]["mappings"][1]["not_intent"]  # a "no" fills nothing: the form stops

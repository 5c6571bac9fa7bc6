"""Ticket rules without Redis: transitions, priority and category derivation, validation, permissions."""

from __future__ import annotations

from typing import Any

import pytest

from handoff.errors import BadRequest, Conflict, Forbidden
from handoff.routing.config import RoutingConfig
from handoff.tickets.model import AutoReason, TicketChanges, Viewer
from handoff.tickets.rules import (
    auto_description,
    auto_subject,
    can_see,
    check_edit,
    check_transition,
    derive_category,
    derive_priority,
    validate_changes,
    validate_new,
)
from tests.unit.fakes import make_ticket

CONFIG = RoutingConfig.parse(
    {"skills": {"default": "general", "by_intent": {"order_status": "orders", "request_return": "returns"}}}
)


# -- transitions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("open", "pending"),
        ("pending", "solved"),
        ("solved", "closed"),
        ("open", "solved"),
        ("open", "closed"),
        ("pending", "open"),
        ("solved", "open"),  # reopening
        ("open", "open"),  # no change is not a transition
    ],
)
def test_allowed_transitions(current: str, new: str) -> None:
    check_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [("closed", "open"), ("closed", "solved"), ("closed", "pending"), ("solved", "pending")],
)
def test_refused_transitions_are_a_conflict_with_a_stable_code(current: str, new: str) -> None:
    with pytest.raises(Conflict) as caught:
        check_transition(current, new)
    assert caught.value.code == "invalid_transition"
    assert current in str(caught.value) and new in str(caught.value)


# -- priority and category ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("packet", "expected"),
    [
        (None, "normal"),
        ({}, "normal"),
        ({"customer_tier": "standard"}, "normal"),
        ({"customer_tier": "silver"}, "normal"),
        ({"customer_tier": "gold"}, "high"),
        ({"customer_tier": "vip"}, "urgent"),
        ({"order": {"total": 499.99}}, "normal"),
        ({"order": {"total": 500}}, "high"),
        ({"order": {"total": 2500.0}}, "urgent"),
        ({"customer_tier": "gold", "order": {"total": 3000}}, "urgent"),  # the higher of the two
        ({"customer_tier": "vip", "order": {"total": 10}}, "urgent"),
        ({"order": {"total": "9999"}}, "normal"),  # not a number: ignored
        ({"order": {"total": True}}, "normal"),
        ({"order": []}, "normal"),
    ],
)
def test_priority_from_tier_and_order_value(packet: dict[str, Any] | None, expected: str) -> None:
    assert derive_priority(packet) == expected


def test_category_prefers_the_packet_then_the_product_then_the_intent() -> None:
    order = {"items": [{"sku": "1", "category": "electronics"}, {"sku": "2", "category": "shoes"}]}
    assert derive_category({"category": "Gift_Card", "order": order}, "order_status") == "gift_card"
    assert derive_category({"order": order}, "order_status") == "electronics"
    assert derive_category({"order": {"items": [{"sku": "1"}]}}, "request_return") == "returns"
    assert derive_category({"category": "not a category!"}, "ask_shipping") == "shipping"
    assert derive_category(None, "something_else") == "general"
    assert derive_category({}, None) == "general"


def test_auto_subject_and_description_summarise_the_packet() -> None:
    packet = {
        "reason": "damaged_goods",
        "intent": "request_return",
        "channel": "widget",
        "customer_tier": "gold",
        "order": {"id": "A1001", "status": "delivered", "total": 120.5, "currency": "USD"},
        "transcript": [
            {"author": "customer", "text": "hi"},
            {"author": "bot", "text": "Hello!"},
            {"author": "customer", "text": "my  blender\narrived broken"},
            {"author": "customer", "text": "I want a refund"},
            {"author": "customer", "text": "please hurry"},
        ],
    }
    subject = auto_subject(AutoReason.CUSTOMER_LEFT, packet, "request_return", "returns")
    assert subject == "Customer left before an agent answered: please hurry"
    text = auto_description(AutoReason.NOBODY_AVAILABLE, packet, {})
    assert "(nobody_available)" in text
    assert "Handoff reason: damaged_goods" in text and "Customer tier: gold" in text
    assert "Order: A1001 (delivered, 120.5 USD)" in text
    # the last three customer messages, whitespace collapsed; the bot's lines are left out
    assert text.endswith(
        "Last customer messages:\n- my blender arrived broken\n- I want a refund\n- please hurry"
    )
    assert "Hello!" not in text and "- hi" not in text
    bare = auto_subject(AutoReason.OUT_OF_HOURS, {}, None, "general")
    assert bare == "Handoff requested outside opening hours: general"
    assert (
        len(
            auto_subject(
                AutoReason.CUSTOMER_LEFT,
                {"transcript": [{"author": "customer", "text": "x" * 500}]},
                None,
                "g",
            )
        )
        <= 200
    )


# -- validation ----------------------------------------------------------------------------------------


def test_a_minimal_new_ticket_leaves_the_rest_to_derivation() -> None:
    new = validate_new({"subject": "  Broken zipper "}, CONFIG)
    assert new.subject == "Broken zipper"
    assert (new.skill, new.priority, new.language, new.assignee, new.description) == (
        None,
        None,
        None,
        None,
        "",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"subject": 5}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"subject": "s", "description": "x" * 5001}, "description"),
        ({"subject": "s", "skill": "nope"}, "skill"),
        ({"subject": "s", "priority": "critical"}, "priority"),
        ({"subject": "s", "language": "fr"}, "language"),
        ({"subject": "s", "assignee": "Not An Agent"}, "assignee"),
        ({"subject": "s", "conversation_id": "has space"}, "conversation_id"),
        ({"subject": "s", "intent": "bad intent"}, "intent"),
        ({"subject": "s", "category": "Shoes"}, "category"),
        ({"subject": "s", "status": "open"}, "status"),  # new tickets are always open
        ({"subject": "s", "colour": "red"}, "colour"),
    ],
)
def test_bad_new_tickets_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        validate_new(body, CONFIG)
    assert caught.value.field == field


def test_changes_keep_only_what_was_given() -> None:
    changes = validate_changes({"status": "pending", "assignee": None, "note": " waiting "}, CONFIG)
    assert dict(changes.fields) == {"status": "pending", "assignee": None}
    assert changes.note == "waiting"
    assert dict(validate_changes({"note": "just a note"}, CONFIG).fields) == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "done"}, "status"),
        ({"status": None}, "status"),
        ({"priority": "p1"}, "priority"),
        ({"skill": "unknown_skill"}, "skill"),
        ({"skill": None}, "skill"),
        ({"assignee": 7}, "assignee"),
        ({"note": ["x"]}, "note"),
        ({"note": "x" * 2001}, "note"),
        ({"subject": "renamed"}, "subject"),
        ({}, None),
    ],
)
def test_bad_changes_name_the_field(body: dict[str, Any], field: str | None) -> None:
    with pytest.raises(BadRequest) as caught:
        validate_changes(body, CONFIG)
    assert caught.value.field == field


# -- permissions ---------------------------------------------------------------------------------------

ANN = Viewer("ann", "ann", frozenset({"orders"}))
STAFF = Viewer("sue")


def test_agents_see_their_skills_and_their_own_tickets() -> None:
    assert can_see(ANN, make_ticket(skill="orders", assignee="bob"))
    assert can_see(ANN, make_ticket(skill="returns", assignee="ann"))
    assert not can_see(ANN, make_ticket(skill="returns"))
    assert not can_see(ANN, make_ticket(skill="returns", assignee="bob"))
    assert can_see(STAFF, make_ticket(skill="returns", assignee="bob"))


def test_agents_change_their_own_and_unassigned_tickets_in_their_skills() -> None:
    take = TicketChanges({"assignee": "ann"})
    check_edit(ANN, make_ticket(skill="orders"), take)
    check_edit(ANN, make_ticket(skill="returns", assignee="ann"), TicketChanges({"status": "solved"}))
    check_edit(ANN, make_ticket(skill="orders", assignee="ann"), TicketChanges({"assignee": None}))
    for refused, changes in [
        (make_ticket(skill="orders", assignee="bob"), take),  # someone else's
        (make_ticket(skill="returns"), take),  # not their skill
        (make_ticket(skill="orders"), TicketChanges({"assignee": "bob"})),  # assigning another agent
        (make_ticket(skill="orders", assignee="ann"), TicketChanges({"assignee": "bob"})),
    ]:
        with pytest.raises(Forbidden):
            check_edit(ANN, refused, changes)
    check_edit(STAFF, make_ticket(skill="returns", assignee="bob"), TicketChanges({"assignee": "cat"}))

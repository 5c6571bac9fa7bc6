"""Tickets' promises and customer emails without Redis: a promise's state at a given time, what requests,
replies and the customer's replies change, the customer's address from requests and handoff packets, and
how the store keeps and reads the new fields."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handoff.errors import BadRequest, Conflict
from handoff.inbound import InvalidText
from handoff.routing.config import RoutingConfig
from handoff.tickets.model import NewPromise, Promise, PromiseState, TicketChanges
from handoff.tickets.rules import (
    check_email,
    customer_email_from,
    customer_reply_diff,
    promise_diff,
    reply_diff,
    validate_changes,
    validate_new,
    validate_reply,
)
from handoff.tickets.store import _diff, _from_hash, _plain, _stored
from tests.unit.fakes import make_ticket

CONFIG = RoutingConfig.parse({"skills": {"default": "general", "by_intent": {"order_status": "orders"}}})
NOW = 1_900_000_000.0
HOUR = 3600.0


def reply_promise(due_in: float = 2 * HOUR, **overrides: Any) -> Promise:
    return Promise(**{"kind": "reply", "due_at": NOW + due_in, "set_at": NOW - HOUR, **overrides})


# -- a promise's state ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("due_in", "state"),
    [
        (2 * HOUR, PromiseState.PENDING),
        (HOUR + 1, PromiseState.PENDING),
        (HOUR, PromiseState.DUE),  # the hour before it is due, boundary included
        (60.0, PromiseState.DUE),
        (0.0, PromiseState.DUE),  # due this very second: not late yet
        (-1.0, PromiseState.OVERDUE),
        (-30 * 86400.0, PromiseState.OVERDUE),
    ],
)
def test_an_unkept_promise_is_pending_due_or_overdue_by_the_time_it_is_read(
    due_in: float, state: PromiseState
) -> None:
    assert reply_promise(due_in).state(NOW) is state


def test_a_kept_promise_stays_kept_after_its_time() -> None:
    kept = reply_promise(-HOUR, kept_at=NOW - 2 * HOUR)
    assert kept.state(NOW) is PromiseState.KEPT
    assert kept.state(NOW + 86400) is PromiseState.KEPT


def test_the_view_carries_the_state_and_the_stored_form_reads_back() -> None:
    promise = Promise(kind="callback", due_at=NOW + 600, set_at=NOW - 5, kept_at=None)
    assert promise.view(NOW) == {
        "kind": "callback",
        "due_at": NOW + 600,
        "set_at": NOW - 5,
        "kept_at": None,
        "state": "due",
    }
    assert Promise.from_json(promise.to_json()) == promise


@pytest.mark.parametrize(
    "raw", [None, "", "not json", "[]", '{"kind": "reply"}', '{"kind": "reply", "due_at": "x"}']
)
def test_a_missing_or_unreadable_stored_promise_reads_as_none(raw: str | None) -> None:
    assert Promise.from_json(raw) is None


# -- the ticket's view and its hash ----------------------------------------------------------------------


def test_the_view_shows_the_email_and_the_promise_as_of_the_given_time() -> None:
    view = make_ticket(customer_email="li@example.cn", promise=reply_promise(-60)).as_dict(
        history=False, now=NOW
    )
    assert view["customer_email"] == "li@example.cn"
    assert view["promise"]["state"] == "overdue"
    assert "history" not in view
    assert make_ticket().as_dict(now=NOW)["promise"] is None
    assert make_ticket().as_dict(now=NOW)["customer_email"] is None


def test_the_hash_holds_the_email_as_text_and_the_promise_as_json() -> None:
    promise = reply_promise()
    raw = {
        "id": "T-000007",
        "status": "pending",
        "skill": "orders",
        "customer_email": "li@example.cn",
        "promise": _stored(promise),
    }
    read = _from_hash(raw, [])
    assert (read.customer_email, read.promise) == ("li@example.cn", promise)
    assert json.loads(_stored(promise))["kind"] == "reply"
    assert _plain(promise) == promise.stored() and _plain("open") == "open"
    old = _from_hash({"id": "T-000008", "status": "open", "skill": "orders"}, [])
    assert (old.customer_email, old.promise) == (None, None)  # tickets stored before these fields


# -- the customer's address -------------------------------------------------------------------------------


def test_an_address_is_kept_with_its_domain_in_lower_case() -> None:
    assert check_email("Li.Lei+orders@Example.CN") == "Li.Lei+orders@example.cn"
    assert check_email("  li@example.cn ") == "li@example.cn"


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_null_or_blank_means_no_address(blank: str | None) -> None:
    assert check_email(blank) is None


@pytest.mark.parametrize(
    "value",
    [
        "Li Lei <li@example.cn>",  # a display name: the address alone is wanted
        "li@example.cn, x@evil.example",
        "li@example.cn\r\nBcc: x@evil.example",
        "li@localhost",
        "li..lei@example.cn",
        ".li@example.cn",
        "li@-example.cn",
        "李雷@例子.中国",
        "li@example.cn.",
        "x" * 65 + "@example.cn",
        "li@" + "a" * 250 + ".cn",
        42,
        ["li@example.cn"],
    ],
)
def test_anything_but_one_plain_address_is_refused_naming_the_field(value: Any) -> None:
    with pytest.raises(BadRequest) as refused:
        check_email(value)
    assert refused.value.field == "customer_email"


def test_the_packet_gives_the_email_of_a_verified_identity_or_a_proven_order() -> None:
    identity = {"verified_by": "storefront", "email": "Li@Example.cn"}
    order = {"id": "SO-12345678", "verified": True, "email": "order@example.cn"}
    assert customer_email_from({"identity": identity, "order": order}) == "Li@example.cn"
    assert customer_email_from({"order": order}) == "order@example.cn"
    assert customer_email_from({"identity": {**identity, "email": "not an address"}, "order": order}) == (
        "order@example.cn"
    )


@pytest.mark.parametrize(
    "packet",
    [
        None,
        {},
        {"identity": {"verified_by": None, "email": "li@example.cn"}},
        {"order": {"id": "SO-12345678", "verified": False, "email": "someone@example.cn"}},
        {"order": {"id": "SO-12345678", "email": "someone@example.cn"}},
        {"order": {"verified": "yes", "email": "someone@example.cn"}},
        {"identity": "li@example.cn", "order": ["li@example.cn"]},
        {"slots": {"email": "typed@example.cn"}},  # typed in the chat: not proven to be theirs
    ],
)
def test_an_unproven_or_malformed_packet_gives_no_email(packet: dict[str, Any] | None) -> None:
    assert customer_email_from(packet) is None


def test_a_new_ticket_and_a_change_take_the_address() -> None:
    assert validate_new({"subject": "s", "customer_email": "li@example.cn"}, CONFIG).customer_email == (
        "li@example.cn"
    )
    assert validate_changes({"customer_email": None}, CONFIG, now=NOW).fields == {"customer_email": None}
    with pytest.raises(BadRequest) as refused:
        validate_changes({"customer_email": "nope"}, CONFIG, now=NOW)
    assert refused.value.field == "customer_email"


# -- promises in a PATCH ----------------------------------------------------------------------------------


def test_a_promise_is_set_cleared_or_marked_kept() -> None:
    setting = validate_changes({"promise": {"kind": "callback", "due_at": NOW + HOUR}}, CONFIG, now=NOW)
    assert setting.promise == NewPromise("callback", NOW + HOUR) and not setting.clear_promise
    clearing = validate_changes({"promise": None}, CONFIG, now=NOW)
    assert clearing.promise is None and clearing.clear_promise
    keeping = validate_changes({"promise_kept": True}, CONFIG, now=NOW)
    assert keeping.promise_kept and not keeping.clear_promise and keeping.promise is None
    assert validate_changes(
        {"promise": {"kind": "reply", "due_at": int(NOW) + 60}}, CONFIG, now=NOW
    ).promise == (NewPromise("reply", NOW + 60))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"promise": {"kind": "email", "due_at": NOW + HOUR}}, "promise.kind"),
        ({"promise": {"due_at": NOW + HOUR}}, "promise.kind"),
        ({"promise": {"kind": "reply"}}, "promise.due_at"),
        ({"promise": {"kind": "reply", "due_at": "tomorrow"}}, "promise.due_at"),
        ({"promise": {"kind": "reply", "due_at": True}}, "promise.due_at"),
        ({"promise": {"kind": "reply", "due_at": float("inf")}}, "promise.due_at"),
        ({"promise": {"kind": "reply", "due_at": float("nan")}}, "promise.due_at"),
        ({"promise": {"kind": "reply", "due_at": NOW - 3600}}, "promise.due_at"),  # already past
        ({"promise": {"kind": "reply", "due_at": NOW + 400 * 86400}}, "promise.due_at"),
        ({"promise": {"kind": "reply", "due_at": (NOW + HOUR) * 1000}}, "promise.due_at"),  # milliseconds
        ({"promise": {"kind": "reply", "due_at": NOW + HOUR, "note": "x"}}, "promise"),
        ({"promise": "tomorrow"}, "promise"),
        ({"promise_kept": "yes"}, "promise_kept"),
        ({"promise_kept": True, "promise": None}, "promise_kept"),
    ],
)
def test_a_bad_promise_is_refused_naming_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest) as refused:
        validate_changes(body, CONFIG, now=NOW)
    assert refused.value.field == field


def test_a_promise_due_a_moment_ago_is_taken_for_clocks_that_differ() -> None:
    assert validate_changes({"promise": {"kind": "reply", "due_at": NOW - 30}}, CONFIG, now=NOW).promise


def test_setting_a_promise_replaces_the_old_one_from_now() -> None:
    old = reply_promise(kept_at=NOW - 10)
    diff = promise_diff(
        make_ticket(promise=old), TicketChanges({}, promise=NewPromise("callback", NOW + HOUR)), NOW
    )
    assert diff == {"promise": (old, Promise("callback", NOW + HOUR, set_at=NOW))}


def test_clearing_removes_a_promise_and_is_nothing_without_one() -> None:
    old = reply_promise()
    assert promise_diff(make_ticket(promise=old), TicketChanges({}, clear_promise=True), NOW) == {
        "promise": (old, None)
    }
    assert promise_diff(make_ticket(), TicketChanges({}, clear_promise=True), NOW) == {}


def test_a_callback_is_kept_by_hand_once() -> None:
    callback = Promise("callback", NOW + HOUR, set_at=NOW - HOUR)
    kept = TicketChanges({}, promise_kept=True)
    assert promise_diff(make_ticket(promise=callback), kept, NOW) == {
        "promise": (callback, Promise("callback", NOW + HOUR, NOW - HOUR, kept_at=NOW))
    }
    already = Promise("callback", NOW + HOUR, NOW - HOUR, kept_at=NOW - 5)
    assert promise_diff(make_ticket(promise=already), kept, NOW) == {}


@pytest.mark.parametrize(
    ("promise", "code"), [(None, "no_promise"), (Promise("reply", NOW + HOUR, NOW), "promise_kept_by_reply")]
)
def test_only_a_callback_promise_is_kept_by_hand(promise: Promise | None, code: str) -> None:
    with pytest.raises(Conflict) as refused:
        promise_diff(make_ticket(promise=promise), TicketChanges({}, promise_kept=True), NOW)
    assert refused.value.code == code


def test_a_closed_ticket_takes_no_promise() -> None:
    changes = TicketChanges({}, promise=NewPromise("reply", NOW + HOUR))
    with pytest.raises(Conflict) as refused:
        _diff(make_ticket(status="closed"), changes, NOW)
    assert refused.value.code == "ticket_closed"


# -- replies --------------------------------------------------------------------------------------------


def test_a_reply_to_an_open_ticket_awaits_the_customer_and_keeps_a_reply_promise() -> None:
    promise = reply_promise(-60)  # even late: the customer got the answer
    diff = reply_diff(make_ticket(status="open", promise=promise), NOW)
    assert diff == {
        "status": ("open", "pending"),
        "promise": (promise, Promise("reply", promise.due_at, promise.set_at, kept_at=NOW)),
    }


@pytest.mark.parametrize(
    "promise",
    [
        Promise("callback", NOW + HOUR, NOW - HOUR),  # a call is not kept by writing
        Promise("reply", NOW + HOUR, NOW - HOUR, kept_at=NOW - 60),  # kept by an earlier reply
        Promise("reply", NOW + HOUR, set_at=NOW + 5),  # set after this reply was written
        None,
    ],
)
def test_a_reply_keeps_no_other_promise(promise: Promise | None) -> None:
    assert reply_diff(make_ticket(status="pending", promise=promise), NOW) == {}


@pytest.mark.parametrize(
    ("status", "now_open"), [("pending", True), ("solved", True), ("open", False), ("closed", False)]
)
def test_the_customers_reply_opens_the_ticket_again_unless_closed(status: str, now_open: bool) -> None:
    expected = {"status": (status, "open")} if now_open else {}
    assert customer_reply_diff(make_ticket(status=status)) == expected


def test_a_reply_body_is_text_and_an_optional_email_flag() -> None:
    assert (
        validate_reply({"text": " Your parcel left today. "}, max_chars=100).text == "Your parcel left today."
    )
    assert validate_reply({"text": "ok", "email": False}, max_chars=100).email is False
    assert validate_reply({"text": "ok"}, max_chars=100).email is None


@pytest.mark.parametrize(
    ("body", "error", "field"),
    [
        ({"text": "ok", "email": "yes"}, BadRequest, "email"),
        ({"text": "ok", "cc": "x@example.com"}, BadRequest, "cc"),
        ({}, InvalidText, "text"),
        ({"text": "\u200b "}, InvalidText, "text"),
        ({"text": "x" * 101}, InvalidText, "text"),
    ],
)
def test_a_bad_reply_body_is_refused_naming_the_field(
    body: dict[str, Any], error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as refused:
        validate_reply(body, max_chars=100)
    assert getattr(refused.value, "field", None) == field

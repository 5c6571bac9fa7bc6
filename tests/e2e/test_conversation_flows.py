"""Conversations that finish, through the running stack (real Rasa, real actions, real store): reasons in the
customer's own words, read-backs, one item of several, an address inside a sentence, no endless loops, and
the cases that must reach a person with their facts."""

from __future__ import annotations

import json

import pytest
import redis

from tests.e2e.conftest import Stack
from tests.e2e.test_order_security import audit_events, say, stored_order
from tests.e2e.test_widget_flows import has_chinese

pytestmark = pytest.mark.e2e


def handoff_packet(stack: Stack, sender: str) -> dict:
    url = f"redis://:{stack.env['REDIS_PASSWORD']}@127.0.0.1:{stack.env['REDIS_PORT']}/0"
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return dict(json.loads(client.get(f"hub:handoff:rest-{sender}") or "{}"))
    finally:
        client.close()


def returns_for(stack: Stack, order_id: str) -> list[tuple[str, str]]:
    import sqlite3

    with sqlite3.connect(stack.env["ORDER_DB"]) as conn:
        return conn.execute("SELECT sku, reason FROM returns WHERE order_id = ?", (order_id,)).fetchall()


def test_a_reason_in_everyday_english_is_understood_and_the_return_read_back(stack: Stack) -> None:
    say(stack, "flow-reason-en", "hi, I'd like to send back a sweater")
    say(stack, "flow-reason-en", "SO-10009101")
    asked = say(stack, "flow-reason-en", "frank.hughes@example.com")
    assert "reason" in asked.lower()
    read_back = say(stack, "flow-reason-en", "honestly it's just a bit big on me")
    assert "Please confirm" in read_back and "wrong size" in read_back
    assert returns_for(stack, "SO-10009101") == []  # nothing before the yes
    done = say(stack, "flow-reason-en", "yes please")
    assert "RA-" in done
    ((sku, reason),) = returns_for(stack, "SO-10009101")
    assert sku == "SWTR-WOOL-GR-M" and reason.startswith("wrong_size: ")


def test_a_reason_in_everyday_chinese_is_understood_and_the_return_read_back(stack: Stack) -> None:
    say(stack, "flow-reason-zh", "我想退货")
    say(stack, "flow-reason-zh", "订单号SO-10009201")
    say(stack, "flow-reason-zh", "手机尾号4006")
    read_back = say(stack, "flow-reason-zh", "穿上有点大，不太合身")
    assert "请确认" in read_back and "尺码不合适" in read_back
    done = say(stack, "flow-reason-zh", "好的")
    assert "RA-" in done and has_chinese(done)
    assert [sku for sku, _ in returns_for(stack, "SO-10009201")] == ["SWTR-WOOL-GR-M"]


def test_two_unclear_answers_offer_a_person_who_gets_the_question(stack: Stack) -> None:
    say(stack, "flow-stuck", "I want to return a jacket")
    say(stack, "flow-stuck", "SO-10009116")
    say(stack, "flow-stuck", "kate.murphy@example.com")
    first = say(stack, "flow-stuck", "the jacket")
    assert "more than one item" in first
    offer = say(stack, "flow-stuck", "the rain one")
    assert "member of our team" in offer
    say(stack, "flow-stuck", "yes")
    packet = handoff_packet(stack, "flow-stuck")
    assert packet["reason"] == "repeated_failure"
    assert packet["slots"]["stuck_on"] == "item"


def test_one_item_of_three_is_cancelled_after_its_read_back(stack: Stack) -> None:
    say(stack, "flow-partial", "please cancel the jeans from order SO-10009118, I don't need them")
    read_back = say(stack, "flow-partial", "harry.patel@example.com")
    assert "Slim jeans" in read_back and "the rest of the order stays" in read_back
    say(stack, "flow-partial", "yes")
    order = stored_order(stack, "SO-10009118")
    assert order["status"] == "paid"
    assert "JEAN-SLIM-32" not in [item["sku"] for item in order["items"]] and len(order["items"]) == 2
    assert [event for event, _ in audit_events(stack, "SO-10009118")][-1] == "items_cancelled"


def test_an_address_in_a_sentence_is_saved_without_the_lead_in(stack: Stack) -> None:
    say(stack, "flow-address", "I need to change the delivery address for SO-10009117")
    say(stack, "flow-address", "M3 2BW")  # the postcode as people type it
    read_back = say(stack, "flow-address", "the new address is 5 Elm Road, Leeds LS1 4AB, thanks")
    assert "5 Elm Road, Leeds LS1 4AB" in read_back and "new address is" not in read_back
    say(stack, "flow-address", "yes that's right")
    assert stored_order(stack, "SO-10009117")["shipping_address"] == "5 Elm Road, Leeds LS1 4AB"


def test_an_exception_request_reaches_a_person_with_the_policy_decision(stack: Stack) -> None:
    say(stack, "flow-exception", "I'd like to return my leather boots")
    say(stack, "flow-exception", "SO-10009104")
    say(stack, "flow-exception", "78701")
    refusal = say(stack, "flow-exception", "they rub my heel")
    assert "period has ended" in refusal
    say(stack, "flow-exception", "I was travelling for work, can you make an exception?")
    packet = handoff_packet(stack, "flow-exception")
    assert packet["reason"] == "outside_window"
    assert packet["slots"]["policy_decision"]["outcome"] == "outside_window"
    assert packet["order"]["id"] == "SO-10009104" and packet["order"]["verified"] is True


def test_an_overdue_refund_is_acknowledged_and_escalated(stack: Stack) -> None:
    say(stack, "flow-overdue", "我的退款怎么还没到，订单SO-10009225")
    reply = say(stack, "flow-overdue", "尾号1009")
    assert "超时" in reply and has_chinese(reply)
    packet = handoff_packet(stack, "flow-overdue")
    assert packet["reason"] == "refund_overdue"
    assert packet["identity"]["verified_by"] == "order_check"


def test_a_policy_question_mid_return_is_answered_and_the_return_goes_on(stack: Stack) -> None:
    say(stack, "flow-aside-kb", "hi i want to return the speaker from SO-10009105")
    asked = say(stack, "flow-aside-kb", "frank.hughes@example.com")
    assert "reason" in asked.lower()
    # The item named in the question ("electronics") is no answer to the form: the question is answered.
    answered = say(stack, "flow-aside-kb", "wait first, how many days do you give for electronics returns?")
    assert "15 days" in answered and "reason" in answered.lower()
    read_back = say(stack, "flow-aside-kb", "ok. honestly just changed my mind, it's still sealed")
    assert "Please confirm" in read_back and "Bluetooth speaker" in read_back
    assert "RA-" in say(stack, "flow-aside-kb", "yes")
    assert [sku for sku, _ in returns_for(stack, "SO-10009105")] == ["SPK-BT-MINI"]

"""Customers act only on their own orders, through the running stack (real Rasa, real actions, real store):
anonymous customers prove the order first, every change is read back and done only on a yes, wrong
answers run out, and a signed-in storefront customer is not asked at all."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import httpx
import pytest

from handoff.widget_tokens import IDENTITY_TTL, sign
from tests.e2e.conftest import Stack
from tests.e2e.test_widget_flows import bot_turn, has_chinese
from tests.widget_client import Widget, new_session

pytestmark = pytest.mark.e2e


def say(stack: Stack, sender: str, text: str) -> str:
    token = stack.env.get("HUB_REST_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"sender": sender, "message": text}
    response = httpx.post(f"{stack.hub_url}/webhooks/rest/webhook", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return "\n".join(r.get("text", "") for r in response.json())


def stored_order(stack: Stack, order_id: str) -> dict[str, Any]:
    with sqlite3.connect(stack.env["ORDER_DB"]) as conn:
        (data,) = conn.execute("SELECT data FROM orders WHERE id = ?", (order_id,)).fetchone()
    return dict(json.loads(data))


def audit_events(stack: Stack, order_id: str) -> list[tuple[str, str | None]]:
    with sqlite3.connect(stack.env["ORDER_DB"]) as conn:
        rows = conn.execute("SELECT event, data FROM audit WHERE order_id = ? ORDER BY id", (order_id,))
        return [(event, json.loads(data)["verified_by"]) for event, data in rows.fetchall()]


def test_an_anonymous_cancellation_needs_proof_and_a_yes(stack: Stack) -> None:
    asked = say(stack, "sec-cancel", "please cancel order SO-10001843")
    assert "email" in asked.lower() and "SO-10001843" in asked
    assert "cancelled" not in asked.lower() and "Ortiz" not in asked  # nothing about the order yet
    refused = say(stack, "sec-cancel", "ben.ortiz@example.org")
    assert "couldn't match" in refused
    assert stored_order(stack, "SO-10001843")["status"] == "paid"

    say(stack, "sec-cancel", "SO-10001843")
    read_back = say(stack, "sec-cancel", "it's ben.ortiz@example.com")
    assert "Please confirm" in read_back and "$" in read_back
    assert "haven't changed anything" in say(stack, "sec-cancel", "no")
    assert stored_order(stack, "SO-10001843")["status"] == "paid"

    # Proven once in this conversation: the second request goes straight to the read-back.
    assert "Please confirm" in say(stack, "sec-cancel", "cancel order SO-10001843")
    done = say(stack, "sec-cancel", "yes")
    assert "is cancelled" in done
    assert stored_order(stack, "SO-10001843")["status"] == "cancelled"
    assert ("cancelled", "order_check") in audit_events(stack, "SO-10001843")


def test_a_chinese_address_change_with_the_phone_suffix_is_read_back_and_saved_clean(stack: Stack) -> None:
    asked = say(stack, "sec-address", "我要改收货地址，订单SO-10002802")
    assert has_chinese(asked) and "手机" in asked
    assert "地址" in say(stack, "sec-address", "手机尾号6004")
    read_back = say(stack, "sec-address", "改成北京市朝阳区建国路88号，收件人不变")
    assert "请确认" in read_back and "北京市朝阳区建国路88号" in read_back
    assert "收件人不变" not in read_back
    say(stack, "sec-address", "是的")
    assert stored_order(stack, "SO-10002802")["shipping_address"] == "北京市朝阳区建国路88号"


def test_wrong_answers_run_out_and_the_order_stays_private(stack: Stack) -> None:
    asked = say(stack, "sec-probe", "where is my order SO-10006227?")
    assert "tracking" not in asked.lower() and "paid" not in asked.lower()
    for guess in ("60601", "d.miller@example.net"):
        assert "couldn't match" in say(stack, "sec-probe", guess)
        assert "email" in say(stack, "sec-probe", "SO-10006227")
    locked = say(stack, "sec-probe", "d.miller@example.org")
    assert "can't look up orders" in locked
    # Even the right detail is refused now.
    say(stack, "sec-probe", "where is my order SO-10006227?")
    assert "can't look up orders" in say(stack, "sec-probe", "d.miller@example.com")
    assert [event for event, _ in audit_events(stack, "SO-10006227")] == [
        "check_failed", "check_failed", "check_failed", "check_locked",
    ]  # fmt: skip


async def test_a_signed_in_storefront_customer_is_not_asked_for_proof(stack: Stack) -> None:
    identity = sign(stack.env["HUB_IDENTITY_SECRET"], "identity", {"sub": "cust-2004"}, IDENTITY_TTL)
    async with httpx.AsyncClient(base_url=stack.hub_url, timeout=30) as client:
        widget = Widget(stack.hub_url, (await new_session(client, identity=identity))["token"])
        await widget.connect()
        status = await bot_turn(widget, "订单SO-10005542到哪了", "s1")
        assert "SO-10005542" in status and "等待付款" in status
        # Someone else's order: asked for proof like anyone else.
        other = await bot_turn(widget, "查一下订单SO-10001569的物流", "s2")
        assert "手机" in other and "SO-10001569" in other
        await widget.ws.close()

"""Invoices and passwords through the running stack: the invoice goes to the address on the proven order after
a yes, and a reset request gets one answer whether or not an account uses the address."""

from __future__ import annotations

import sqlite3

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.test_order_security import say

pytestmark = pytest.mark.e2e


def outbox(stack: Stack, kind: str) -> list[str]:
    """Recipients of the queued messages of one kind (the table appears with the first message)."""
    with sqlite3.connect(stack.env["ORDER_DB"]) as conn:
        try:
            rows = conn.execute("SELECT recipient FROM outbox WHERE kind = ? ORDER BY id", (kind,)).fetchall()
        except sqlite3.OperationalError:
            return []
    return [recipient for (recipient,) in rows]


@pytest.mark.parametrize(
    ("sender", "ask", "order_id", "detail", "email", "masked", "sent"),
    [
        ("invoice-en", "can you email me the invoice for SO-10001295 again?", "SO-10001295",
         "chloe.n@example.com", "chloe.n@example.com", "c***@example.com", "EM-"),
        ("invoice-zh", "订单SO-10003898的发票能再发我一次吗", "SO-10003898",
         "liming@example.cn", "liming@example.cn", "l***@example.cn", "EM-"),
    ],
)  # fmt: skip
def test_an_invoice_is_sent_again_to_the_orders_address_after_a_yes(
    stack: Stack, sender: str, ask: str, order_id: str, detail: str, email: str, masked: str, sent: str
) -> None:
    before = outbox(stack, "invoice")
    asked = say(stack, sender, ask)
    assert order_id in asked and masked not in asked  # the order is proven before anything is said
    read_back = say(stack, sender, detail)
    assert masked in read_back and order_id in read_back
    assert outbox(stack, "invoice") == before  # nothing before the yes
    done = say(stack, sender, "yes" if sender.endswith("en") else "好的")
    assert sent in done and masked in done
    assert outbox(stack, "invoice") == [*before, email]


def test_a_reset_link_gets_the_same_answer_whether_or_not_the_account_exists(stack: Stack) -> None:
    before = outbox(stack, "password_reset")
    answers = []
    known, unknown = ("reset-known", "ben.ortiz@example.com"), ("reset-unknown", "nobody@example.org")
    for sender, address in (known, unknown):
        say(stack, sender, "please send me a password reset link")
        answers.append(say(stack, sender, address))
    assert answers[0] == answers[1] and "reset" in answers[0].lower()
    assert outbox(stack, "password_reset") == [*before, "ben.ortiz@example.com"]

"""Analytics through the running stack: a customer's chat, answered by the knowledge base, reaches the
dashboard's store through the hub's events and the writer process, and the supervisors' API reads it."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.e2e.conftest import Stack, rest_auth

pytestmark = pytest.mark.e2e


def summary(stack: Stack) -> dict:
    admin = {"Authorization": f"Bearer {stack.env['HUB_ADMIN_TOKEN']}"}
    r = httpx.get(f"{stack.hub_url}/api/analytics/summary", headers=admin, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_knowledge_base_answer_reaches_the_dashboard(stack: Stack) -> None:
    before = summary(stack)
    sender = f"analytics-{uuid.uuid4().hex[:8]}"
    for text in ("hi", "how long does shipping take?"):
        r = httpx.post(
            f"{stack.hub_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": text},
            headers=rest_auth(stack),
            timeout=60,
        )
        assert r.status_code == 200 and r.json(), r.text
    deadline = time.monotonic() + 30
    while True:
        after = summary(stack)
        if after["contacts"] > before["contacts"] and after["kb_answers"] > before["kb_answers"]:
            break
        assert time.monotonic() < deadline, f"the chat did not reach the store: {before} -> {after}"
        time.sleep(0.5)

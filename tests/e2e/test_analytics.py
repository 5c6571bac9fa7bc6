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
    return r.json()["summary"]


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


def test_a_reply_variant_experiment_changes_the_greeting_of_its_conversations(stack: Stack) -> None:
    """Started through the API like the console does; each conversation keeps its variant, the assistant
    greets the `shortcuts` half with buttons and the control half as before, and stopping ends it."""
    from handoff.analytics.experiments import Variant, assign

    admin = {"Authorization": f"Bearer {stack.env['HUB_ADMIN_TOKEN']}"}
    body = {
        "name": "Greeting with shortcuts",
        "kind": "reply_variant",
        "variants": [
            {"name": "control", "share": 0.5, "params": {"variant": "control"}},
            {"name": "shortcuts", "share": 0.5, "params": {"variant": "shortcuts"}},
        ],
        "primary_metric": "automation_rate",
    }
    with httpx.Client(base_url=stack.hub_url, headers=admin, timeout=60) as client:
        created = client.post("/api/experiments", json=body)
        assert created.status_code == 201, created.text
        experiment_id = created.json()["id"]
        try:
            variants = [Variant("control", 0.5, {}), Variant("shortcuts", 0.5, {})]
            senders: dict[str, str] = {}
            while len(senders) < 2:  # one sender of each variant (assignment is by conversation id)
                sender = f"variant-{uuid.uuid4().hex[:8]}"
                senders.setdefault(assign(experiment_id, variants, f"rest-{sender}"), sender)
            for variant, sender in senders.items():
                r = client.post(
                    "/webhooks/rest/webhook",
                    json={"sender": sender, "message": "hello"},
                    headers=rest_auth(stack),
                )
                assert r.status_code == 200, r.text
                buttons = [b for m in r.json() for b in m.get("buttons") or []]
                payloads = {b["payload"] for b in buttons}
                if variant == "shortcuts":
                    assert {"/order_status", "/request_return", "/request_human"} <= payloads, r.json()
                else:
                    assert "/order_status" not in payloads, r.json()
        finally:
            assert client.post(f"/api/experiments/{experiment_id}/stop").status_code == 200

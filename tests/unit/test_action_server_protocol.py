"""The action server speaks the protocol Rasa 3.6 uses, behind the token."""

from pathlib import Path

import pytest
from sanic import Sanic

from actions.server import build_app
from actions.settings import action_settings

TOKEN = "actions-token-0123456789"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sanic:
    monkeypatch.setenv("ORDER_DB", str(tmp_path / "orders.sqlite"))
    action_settings.cache_clear()  # the providers read the settings of this environment
    Sanic.test_mode = True
    return build_app(TOKEN, warm_up=False)  # no real models in unit tests


def rasa_36_call(order_id: str) -> dict:
    """The body Rasa 3.6.21 posts to the action endpoint (trimmed to the fields it always sends)."""
    return {
        "next_action": "action_order_status",
        "sender_id": "proto-1",
        "version": "3.6.21",
        "tracker": {
            "sender_id": "proto-1",
            "slots": {"order_id": order_id, "language": "en"},
            "latest_message": {
                "text": order_id,
                "intent": {"name": "inform", "confidence": 0.99},
                "entities": [],
            },
            "latest_event_time": 1.0,
            "followup_action": None,
            "paused": False,
            "events": [],
            "latest_input_channel": "hub",
            "active_loop": {},
            "latest_action": {"action_name": "order_status_form"},
            "latest_action_name": "order_status_form",
        },
        "domain": {"responses": {}, "slots": {}, "intents": [], "entities": [], "actions": [], "forms": {}},
    }


def test_a_call_without_the_token_is_refused(app: Sanic) -> None:
    _, response = app.test_client.post("/webhook", json=rasa_36_call("SO-10001021"))
    assert response.status == 401
    _, response = app.test_client.get("/actions")
    assert response.status == 401


def test_health_is_open(app: Sanic) -> None:
    _, response = app.test_client.get("/health")
    assert response.status == 200


def test_a_rasa_call_runs_the_action_and_returns_events_and_responses(app: Sanic) -> None:
    _, response = app.test_client.post(
        "/webhook", json=rasa_36_call("SO-10001021"), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status == 200
    body = response.json
    # The protocol, not the order rules (tests/unit/test_order_status_action.py): Rasa 3.6 events and
    # named responses come back for the action that was called.
    assert body["events"] and all(set(e) == {"event", "timestamp", "name", "value"} for e in body["events"])
    assert "order_id" in {e["name"] for e in body["events"] if e["event"] == "slot"}
    assert [r["response"].startswith("utter_order_") for r in body["responses"]] == [True]


def test_an_unknown_action_is_a_404(app: Sanic) -> None:
    call = {**rasa_36_call("SO-10001021"), "next_action": "action_nope"}
    _, response = app.test_client.post("/webhook", json=call, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 404


def test_the_server_serves_exactly_the_custom_actions_the_domain_declares(app: Sanic) -> None:
    import yaml

    declared: set[str] = set()
    for path in (Path(__file__).resolve().parents[2] / "bot" / "domain").glob("*.yml"):
        declared |= set(yaml.safe_load(path.read_text(encoding="utf-8")).get("actions") or [])
    _, response = app.test_client.get("/actions", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200
    assert {a["name"] for a in response.json} == declared

"""The action server's entry point: the token on every route but /health, whatever the spelling; JSON
errors; a body cap that fits Rasa's real calls with room to spare."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic

from actions.server import build_app, needs_token, normalise_path
from actions.settings import MAX_BODY_BYTES

TOKEN = "actions-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]
ZH_TEXT = "我的订单什么时候发货？我想退货，因为尺码不合适，订单号是 SO-10001021，请帮我查一下运费和退款进度。"


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the actions the executor was asked to run."""
    calls: list[str] = []
    original = ActionExecutor.run

    async def spy(self: ActionExecutor, action_call: dict[str, Any]) -> Any:
        calls.append(action_call.get("next_action", ""))
        return await original(self, action_call)

    monkeypatch.setattr(ActionExecutor, "run", spy)
    return calls


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runs: list[str]) -> Sanic:
    monkeypatch.setenv("ORDER_DB", str(tmp_path / "orders.sqlite"))
    Sanic.test_mode = True
    return build_app(TOKEN, warm_up=False)


def url(path: str) -> str:
    """A full URL, so the test client sends the path exactly as spelled (":None" becomes its port)."""
    return f"http://127.0.0.1:None{path}"


def domain() -> dict[str, Any]:
    """The domain as Rasa sends it: every file of bot/domain merged."""
    merged: dict[str, Any] = {}
    for path in sorted((ROOT / "bot" / "domain").glob("*.yml")):
        for key, value in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            if isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            elif isinstance(value, list):
                merged.setdefault(key, []).extend(value)
    return merged


def turn(number: int) -> list[dict[str, Any]]:
    """The events of one Chinese customer turn, shaped as Rasa 3.6 serialises them."""
    stamp = 1_700_000_000.0 + number
    ranking = [{"name": f"intent_{i}", "confidence": 0.05} for i in range(10)]
    parse_data = {
        "intent": {"name": "order_status", "confidence": 0.93},
        "entities": [{"entity": "order_id", "start": 20, "end": 31, "value": "SO-10001021",
                      "extractor": "PatternEntityExtractor", "confidence_entity": 1.0}],
        "text": ZH_TEXT, "message_id": f"{number:032x}",
        "metadata": {"channel": "widget", "customer_id": "c" * 24},
        "intent_ranking": ranking,
        "response_selector": {"all_retrieval_intents": [], "default": {
            "response": {"responses": None, "confidence": 0.0, "intent_response_key": None,
                         "utter_action": "utter_None"}, "ranking": []}},
    }  # fmt: skip
    return [
        {"event": "user", "timestamp": stamp, "metadata": parse_data["metadata"], "text": ZH_TEXT,
         "parse_data": parse_data, "input_channel": "hub", "message_id": parse_data["message_id"]},
        {"event": "slot", "timestamp": stamp, "name": "language", "value": "zh"},
        {"event": "slot", "timestamp": stamp, "name": "order_id", "value": "SO-10001021"},
        {"event": "action", "timestamp": stamp, "name": "order_status_form", "policy": "RulePolicy",
         "confidence": 1.0, "action_text": None, "hide_rule_turn": False},
        {"event": "bot", "timestamp": stamp, "metadata": {"utter_action": "utter_order_status_shipped"},
         "text": ZH_TEXT * 2, "data": {"buttons": [{"title": "查看订单", "payload": "/inform"}] * 3}},
        {"event": "action", "timestamp": stamp, "name": "action_listen", "policy": "RulePolicy",
         "confidence": 1.0, "action_text": None, "hide_rule_turn": False},
    ]  # fmt: skip


def long_session_call(turns: int) -> dict[str, Any]:
    """What Rasa 3.6 posts after `turns` customer turns in one session: tracker, events and domain."""
    events = [event for number in range(turns) for event in turn(number)]
    return {
        "next_action": "action_validate_slot_mappings",
        "sender_id": "long-1",
        "version": "3.6.21",
        "tracker": {
            "sender_id": "long-1",
            "slots": {"language": "en", "order_id": "SO-10001021"},
            "latest_message": events[0]["parse_data"],
            "latest_event_time": events[-1]["timestamp"],
            "followup_action": None,
            "paused": False,
            "events": events,
            "latest_input_channel": "hub",
            "active_loop": {},
            "latest_action": {"action_name": "action_listen"},
            "latest_action_name": "action_listen",
        },
        "domain": domain(),
    }


def encoded(call: dict[str, Any]) -> bytes:
    return json.dumps(call).encode()  # ASCII-escaped, as Rasa's HTTP client sends it


def small_call() -> dict[str, Any]:
    return long_session_call(1)


def test_paths_are_normalised_before_the_token_rule() -> None:
    assert normalise_path("//webhook//") == "/webhook"
    assert normalise_path("/") == "/"
    assert normalise_path("///") == "/"
    assert not needs_token("/health/")
    assert needs_token("/healthz")
    assert needs_token("/docs")


WEBHOOK_SPELLINGS = ["/webhook", "/webhook/", "//webhook", "/webhook//", "///webhook/", "/Webhook",
                     "/WEBHOOK", "/%77ebhook", "/webhook?x=1", "/webhook/."]  # fmt: skip


@pytest.mark.parametrize("path", WEBHOOK_SPELLINGS)
def test_no_spelling_of_the_webhook_runs_an_action_without_the_token(
    app: Sanic, runs: list[str], path: str
) -> None:
    _, response = app.test_client.post(url(path), content=encoded(small_call()))
    assert response.status in (401, 404)
    assert "error" in response.json
    assert runs == []


@pytest.mark.parametrize("path", ["/actions", "/actions/", "//actions", "/actions//", "/Actions"])
def test_no_spelling_of_the_action_list_answers_without_the_token(app: Sanic, path: str) -> None:
    _, response = app.test_client.get(url(path))
    assert response.status in (401, 404)
    assert "action_" not in response.text


@pytest.mark.parametrize(
    "authorization", ["", "Bearer", f"bearer {TOKEN}", f"Bearer {TOKEN[:-1]}", TOKEN, f"Bearer {TOKEN}x"]
)
def test_a_wrong_token_is_refused(app: Sanic, runs: list[str], authorization: str) -> None:
    _, response = app.test_client.post(
        "/webhook/", content=encoded(small_call()), headers={"Authorization": authorization}
    )
    assert response.status == 401
    assert response.json == {"error": "unauthorized"}
    assert runs == []


def test_every_other_route_needs_the_token_too(app: Sanic) -> None:
    _, response = app.test_client.get("/docs")  # the OpenAPI pages Sanic adds on its own
    assert response.status == 401


@pytest.mark.parametrize("path", ["/health", "/health/", "//health"])
def test_health_stays_open(app: Sanic, path: str) -> None:
    _, response = app.test_client.get(url(path))
    assert response.status in (200, 404)
    if path == "/health":
        assert response.json == {"status": "ok"}


def test_an_unknown_path_is_a_json_404_behind_the_token(app: Sanic) -> None:
    _, response = app.test_client.get("/nope", headers=AUTH)
    assert response.status == 404
    assert response.json == {"error": "not found"}
    _, response = app.test_client.get("/nope")
    assert response.status == 401  # without the token, nothing tells which paths exist


def test_a_wrong_method_is_a_json_405(app: Sanic) -> None:
    _, response = app.test_client.get("/webhook", headers=AUTH)
    assert response.status == 405
    assert response.json == {"error": "method not allowed"}
    assert "POST" in response.headers["allow"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "the body is not valid JSON"),
        (b"[]", "the body must be a JSON object"),
        (json.dumps({"tracker": {}}).encode(), "next_action must be a non-empty string"),
        (json.dumps({"next_action": "x", "tracker": []}).encode(), "tracker must be a JSON object"),
        (json.dumps({"next_action": "x", "version": 3}).encode(), "version must be a string"),
    ],
)
def test_a_malformed_call_is_a_json_400(app: Sanic, runs: list[str], body: bytes, message: str) -> None:
    _, response = app.test_client.post("/webhook", content=body, headers=AUTH)
    assert response.status == 400
    assert response.json == {"error": message}
    assert runs == []


def test_a_long_realistic_session_fits_the_cap_twice_over_and_runs(app: Sanic, runs: list[str]) -> None:
    body = encoded(long_session_call(100))  # 100 turns of Chinese in one session, with the domain
    assert 2 * len(body) < MAX_BODY_BYTES
    _, response = app.test_client.post("/webhook", content=body, headers=AUTH)
    assert response.status == 200
    assert runs == ["action_validate_slot_mappings"]
    assert {"event": "slot", "timestamp": None, "name": "language", "value": "zh"} in response.json["events"]


def test_a_body_over_the_cap_is_a_json_413_and_runs_nothing(app: Sanic, runs: list[str]) -> None:
    call = {**small_call(), "padding": "x" * MAX_BODY_BYTES}
    _, response = app.test_client.post("/webhook", content=encoded(call), headers=AUTH)
    assert response.status == 413
    assert response.json == {"error": "request body too large"}
    assert runs == []


def test_a_deflated_call_runs_and_a_deflate_bomb_is_a_413(app: Sanic, runs: list[str]) -> None:
    headers = {**AUTH, "Content-Encoding": "deflate", "Content-Type": "application/json"}
    _, response = app.test_client.post(
        "/webhook", content=zlib.compress(encoded(small_call())), headers=headers
    )
    assert response.status == 200
    assert runs == ["action_validate_slot_mappings"]

    bomb = zlib.compress(encoded({**small_call(), "padding": " " * (4 * MAX_BODY_BYTES)}), 9)
    assert len(bomb) < MAX_BODY_BYTES / 20  # small on the wire, four times the cap inflated
    _, response = app.test_client.post("/webhook", content=bomb, headers=headers)
    assert response.status == 413
    assert "inflated" in response.json["error"]

    _, response = app.test_client.post("/webhook", content=b"not deflate", headers=headers)
    assert response.status == 400
    assert runs == ["action_validate_slot_mappings"]


def test_with_the_token_the_webhook_answers_whatever_the_trailing_slash(app: Sanic, runs: list[str]) -> None:
    _, response = app.test_client.post("/webhook/", content=encoded(small_call()), headers=AUTH)
    assert response.status == 200
    assert runs == ["action_validate_slot_mappings"]

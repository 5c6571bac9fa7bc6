"""The hub with several Rasa processes (RASA_URLS): a process that dies is taken out and its conversations
go on with another, nothing lost; /health lists every process with the model it serves."""

from __future__ import annotations

import json
import uuid

import httpx

from handoff.rasa_pool import RasaPool
from tests.integration.conftest import REST_AUTH, TOKEN, transcript

WEBHOOK = "/webhooks/rest/webhook"
ONE, TWO = "http://rasa-one:5005", "http://rasa-two:5005"


def two_processes(dead: set[str], served: dict[str, list[str]]) -> httpx.MockTransport:
    """Two Rasa stand-ins; a host in `dead` refuses connections, as a killed process does."""

    def handler(request: httpx.Request) -> httpx.Response:
        base = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        if base in dead:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/webhooks/hub/webhook":
            assert request.headers["authorization"] == f"Bearer {TOKEN}"
            body = json.loads(request.content)
            served.setdefault(base, []).append(body["message"])
            return httpx.Response(
                200, json=[{"recipient_id": body["sender"], "text": f"echo: {body['message']}"}]
            )
        if request.url.path == "/status":
            return httpx.Response(200, json={"model_file": f"/srv/models/{request.url.host}-20261206.tar.gz"})
        return httpx.Response(200, json={"status": "ok"})

    return httpx.MockTransport(handler)


def test_a_dead_process_is_taken_out_and_its_conversations_go_on(make_app, redis_url: str) -> None:
    dead: set[str] = set()
    served: dict[str, list[str]] = {}
    app = make_app(two_processes(dead, served), RASA_URLS=f"{ONE},{TWO}")
    # A conversation whose first choice is process one.
    sender = next(
        s
        for s in (f"proc-{uuid.uuid4().hex}" for _ in range(100))
        if RasaPool([ONE, TWO]).order(f"rest-{s}")[0] == ONE
    )
    _, first = app.test_client.post(WEBHOOK, json={"sender": sender, "message": "before"}, headers=REST_AUTH)
    assert first.status == 200 and first.json[0]["text"] == "echo: before"
    dead.add(ONE)  # killed between two messages
    for text in ("during 1", "during 2"):
        _, reply = app.test_client.post(WEBHOOK, json={"sender": sender, "message": text}, headers=REST_AUTH)
        assert reply.status == 200 and reply.json[0]["text"] == f"echo: {text}"
    assert served == {ONE: ["before"], TWO: ["during 1", "during 2"]}
    customer = [e["text"] for e in transcript(redis_url, f"rest-{sender}") if e["author"] == "customer"]
    assert customer == ["before", "during 1", "during 2"]

    _, health = app.test_client.get("/health")
    assert health.status == 200 and health.json["rasa"] == "up"
    assert health.json["rasa_processes"] == [
        {"process": 1, "state": "down", "model": None},
        {"process": 2, "state": "up", "model": "rasa-two-20261206.tar.gz"},
    ]
    assert "rasa-one" not in json.dumps(health.json)  # internal addresses stay inside


def test_every_process_down_is_a_503_and_the_message_is_kept(make_app, redis_url: str) -> None:
    app = make_app(two_processes({ONE, TWO}, {}), RASA_URLS=f"{ONE},{TWO}")
    sender = f"proc-{uuid.uuid4().hex}"
    _, reply = app.test_client.post(WEBHOOK, json={"sender": sender, "message": "anyone?"}, headers=REST_AUTH)
    assert reply.status == 200 and len(reply.json) == 1  # the apology
    customer = [e["text"] for e in transcript(redis_url, f"rest-{sender}") if e["author"] == "customer"]
    assert customer == ["anyone?"]
    _, health = app.test_client.get("/health")
    assert health.status == 503 and health.json["rasa"] == "down"

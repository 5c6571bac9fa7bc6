"""The attacks of a review of the customer entry points, replayed against the app and a real Redis.

Each test names what an attacker did and checks what they get now: a clear 4xx or error frame, nothing
stored or forwarded that should not be, and a socket that stays open.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
import redis

from handoff.widget_tokens import sign
from tests.integration.conftest import ADMIN, IDENTITY_SECRET, REST_AUTH, TOKEN, transcript
from tests.integration.live_app import serving
from tests.widget_client import Widget, new_session

pytestmark = pytest.mark.integration

WEBHOOK = "/webhooks/rest/webhook"
SURROGATE_MESSAGE = '{"sender": "%s", "message": "hi \\ud800"}'
OFFER = [{"title": "Yes, please", "payload": "/affirm"}, {"title": "No, thanks", "payload": "/deny"}]


def depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def strict_rasa(seen: list[dict]) -> httpx.MockTransport:
    """Rasa as the review found it: metadata nested hundreds deep crashes it (a 500). Every reply offers
    the handoff buttons, like utter_offer_agent."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/webhooks/hub/webhook":
            return httpx.Response(200, json={"status": "ok"})
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        body = json.loads(request.content)
        if depth(body["metadata"]) > 100:
            return httpx.Response(500, json={"error": "RecursionError"})
        seen.append(body)
        reply = {"recipient_id": body["sender"], "text": f"echo: {body['message']}", "buttons": OFFER}
        return httpx.Response(200, json=[reply])

    return httpx.MockTransport(handler)


def nested(levels: int) -> object:
    value: object = "x"
    for _ in range(levels):
        value = {"a": value}
    return value


def sender() -> str:
    return f"attacker-{uuid.uuid4().hex[:10]}"


def conversation_state(redis_url: str, conversation_id: str) -> tuple[dict, str | None]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return client.hgetall(f"hub:conv:{conversation_id}"), client.get(f"hub:handoff:{conversation_id}")
    finally:
        client.close()


# -- identity -----------------------------------------------------------------------------------------


def test_a_forged_customer_id_never_reaches_the_assistant(make_app) -> None:
    seen: list[dict] = []
    forged = {"sender": sender(), "message": "list my orders", "metadata": {"customer_id": "cust-1003"}}
    _, closed = make_app(strict_rasa(seen)).test_client.post(WEBHOOK, json=forged)
    assert closed.status == 401  # the token is required
    _, open_channel = make_app(strict_rasa(seen), HUB_REST_OPEN="1").test_client.post(WEBHOOK, json=forged)
    assert open_channel.status == 400 and open_channel.json["field"] == "metadata.customer_id"
    assert seen == []


def test_caller_metadata_cannot_set_the_trusted_keys(make_app) -> None:
    seen: list[dict] = []
    app = make_app(strict_rasa(seen), HUB_REST_OPEN="1")
    claims = {
        "verified_by": "storefront",
        "verified_phone": "+447700900123",
        "client_address": "10.0.0.1",
        "channel": "web",
        "client": {"admin": True},
        "locale": "en",
    }
    _, response = app.test_client.post(
        WEBHOOK, json={"sender": sender(), "message": "hi", "metadata": claims}
    )
    assert response.status == 200
    assert seen[0]["metadata"] == {
        "client_address": "127.0.0.1",
        "client": {"locale": "en"},
        "channel": "rest",
    }


# -- size and shape -----------------------------------------------------------------------------------


def test_500_kb_of_metadata_is_refused_before_it_is_read(make_app, redis_url: str) -> None:
    seen: list[dict] = []
    who = sender()
    body = {"sender": who, "message": "hi", "metadata": {"notes": "x" * 500_000}}
    _, response = make_app(strict_rasa(seen)).test_client.post(WEBHOOK, json=body, headers=REST_AUTH)
    assert response.status == 413 and response.json["error"] == "payload_too_large"
    assert seen == [] and transcript(redis_url, f"rest-{who}") == []


def test_metadata_under_other_keys_never_grows_the_tracker(make_app) -> None:
    seen: list[dict] = []
    body = {"sender": sender(), "message": "hi", "metadata": {"notes": "x" * 50_000, "locale": "en"}}
    _, response = make_app(strict_rasa(seen)).test_client.post(WEBHOOK, json=body, headers=REST_AUTH)
    assert response.status == 200
    assert len(json.dumps(seen[0]["metadata"])) < 200


def test_deeply_nested_metadata_cannot_crash_the_assistant_to_jump_the_queue(
    make_app, redis_url: str
) -> None:
    seen: list[dict] = []
    app = make_app(strict_rasa(seen))
    refused = {"sender": sender(), "message": "hi", "metadata": {"locale": nested(800)}}
    _, response = app.test_client.post(WEBHOOK, json=refused, headers=REST_AUTH)
    assert response.status == 400 and response.json["field"] == "metadata.locale"
    who = sender()
    dropped = {"sender": who, "message": "hi", "metadata": {"deep": nested(800)}}
    _, response = app.test_client.post(WEBHOOK, json=dropped, headers=REST_AUTH)
    assert response.status == 200 and response.json[0]["text"] == "echo: hi"  # the assistant answered
    state, packet = conversation_state(redis_url, f"rest-{who}")
    assert state.get("owner", "bot") == "bot" and packet is None  # nobody was queued for a person


def test_json_nested_beyond_the_parsers_depth_is_a_400(make_app) -> None:
    app = make_app(strict_rasa([]))
    content = '{"sender": "a", "message": "hi", "metadata": {"deep": ' + "[" * 20_000 + "]" * 20_000 + "}}"
    _, response = app.test_client.post(WEBHOOK, content=content, headers=REST_AUTH)
    assert response.status == 400 and response.json["message"] == "body is not valid JSON"


def test_a_widget_session_body_is_capped(make_app) -> None:
    app = make_app(strict_rasa([]))
    _, response = app.test_client.post("/api/widget/session", json={"padding": "x" * 100_000})
    assert response.status == 413 and response.json["limit_bytes"] == 64 * 1024


async def test_a_chunked_body_is_cut_off_at_the_limit(make_app) -> None:
    async def chunks():
        yield b'{"sender": "a", "message": "hi", "metadata": {"notes": "'
        for _ in range(200):
            yield b"x" * 1024

    async with serving(make_app(strict_rasa([]))) as base, httpx.AsyncClient(base_url=base) as client:
        response = await client.post(WEBHOOK, content=chunks(), headers=REST_AUTH)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"


# -- text ---------------------------------------------------------------------------------------------


def test_a_lone_surrogate_over_rest_is_a_400_and_nothing_is_stored(make_app, redis_url: str) -> None:
    seen: list[dict] = []
    app = make_app(strict_rasa(seen))
    who = sender()
    _, response = app.test_client.post(WEBHOOK, content=SURROGATE_MESSAGE % who, headers=REST_AUTH)
    assert response.status == 400 and response.json["field"] == "message"
    assert "surrogate" in response.json["message"]
    body = {"sender": who, "message": "hi", "metadata": {"user_agent": "x\ud800"}}
    _, response = app.test_client.post(WEBHOOK, content=json.dumps(body), headers=REST_AUTH)
    assert response.status == 400 and response.json["field"] == "metadata.user_agent"
    _, response = app.test_client.post(
        WEBHOOK, content=b'{"sender": "a", "message": "\xff"}', headers=REST_AUTH
    )
    assert response.status == 400
    assert seen == [] and transcript(redis_url, f"rest-{who}") == []


def test_bidi_controls_and_zero_width_characters_are_not_stored(make_app, redis_url: str) -> None:
    seen: list[dict] = []
    app = make_app(strict_rasa(seen))
    who = sender()
    message = "my invoice\u202egnp.exe is wrong\u200b"
    _, response = app.test_client.post(WEBHOOK, json={"sender": who, "message": message}, headers=REST_AUTH)
    assert response.status == 200
    assert transcript(redis_url, f"rest-{who}")[0]["text"] == "my invoicegnp.exe is wrong"
    assert seen[0]["message"] == "my invoicegnp.exe is wrong"
    _, blank = app.test_client.post(WEBHOOK, json={"sender": who, "message": "\u200b"}, headers=REST_AUTH)
    assert blank.status == 400 and blank.json["field"] == "message"


def test_a_ticket_description_cannot_reverse_what_agents_read(make_app) -> None:
    app = make_app(strict_rasa([]))
    admin = {"Authorization": f"Bearer {ADMIN}"}
    body = {"subject": "Refund \u202eexe.fdp", "description": "see \u202egnp.exe\u200b attached"}
    _, created = app.test_client.post("/api/tickets/", json=body, headers=admin)
    assert created.status == 201
    assert (created.json["subject"], created.json["description"]) == (
        "Refund exe.fdp",
        "see gnp.exe attached",
    )
    _, blank = app.test_client.post("/api/tickets/", json={"subject": "\u200b\u2060"}, headers=admin)
    assert blank.status == 400 and blank.json["field"] == "subject"
    bad = '{"subject": "refund", "description": "\\udfff"}'
    _, surrogate = app.test_client.post("/api/tickets/", content=bad, headers=admin)
    assert surrogate.status == 400 and surrogate.json["field"] == "description"


def test_a_bad_cursor_on_the_agents_messages_api_is_a_400(make_app) -> None:
    app = make_app(strict_rasa([]))
    who = sender()
    app.test_client.post(WEBHOOK, json={"sender": who, "message": "hi"}, headers=REST_AUTH)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    for after in ("99999999999999999999999-1", "١-1"):
        path = f"/api/conversations/rest-{who}/messages"
        _, response = app.test_client.get(path, params={"after": after}, headers=admin)
        assert response.status == 400 and response.json["field"] == "after"


# -- intent payloads ----------------------------------------------------------------------------------


def test_a_typed_intent_payload_goes_through_understanding(make_app, redis_url: str) -> None:
    seen: list[dict] = []
    app = make_app(strict_rasa(seen))
    who = sender()
    forged = '/order_status{"order_id":"SO-10001021"}'
    app.test_client.post(WEBHOOK, json={"sender": who, "message": forged}, headers=REST_AUTH)
    assert seen[-1]["message"] == 'order_status{"order_id":"SO-10001021"}'
    app.test_client.post(WEBHOOK, json={"sender": who, "message": "/affirm"}, headers=REST_AUTH)
    assert seen[-1]["message"] == "/affirm"  # the assistant offered it with its last reply
    app.test_client.post(WEBHOOK, json={"sender": who, "message": "/request_human"}, headers=REST_AUTH)
    assert seen[-1]["message"] == "request_human"
    said = [m["text"] for m in transcript(redis_url, f"rest-{who}") if m["author"] == "customer"]
    assert said == [forged, "/affirm", "/request_human"]  # stored as typed


# -- the widget ---------------------------------------------------------------------------------------


async def test_a_lone_surrogate_in_the_widget_is_an_error_frame_and_the_socket_stays_open(
    make_app, redis_url: str
) -> None:
    seen: list[dict] = []
    async with serving(make_app(strict_rasa(seen))) as base, httpx.AsyncClient(base_url=base) as client:
        session = await new_session(client)
        widget = Widget(base, session["token"])
        await widget.connect()
        await widget.ws.send('{"type": "message", "text": "hi \\ud800", "client_id": "s1"}')
        error = await widget.next("ack", "error")
        assert (error["type"], error["code"], error["client_id"]) == ("error", "bad_message", "s1")
        assert "surrogate" in error["message"]
        # the same socket goes on: the widget drops that message instead of reconnecting to re-send it
        assert (await widget.say("hello", "s2")) == {"type": "ack", "client_id": "s2"}
        assert [m["text"] for m in transcript(redis_url, session["conversation_id"])][:1] == ["hello"]
        assert [s["message"] for s in seen] == ["hello"]
        await widget.ws.close()


async def test_undecodable_and_blank_widget_frames_leave_the_socket_open(make_app) -> None:
    async with serving(make_app(strict_rasa([]))) as base, httpx.AsyncClient(base_url=base) as client:
        widget = Widget(base, (await new_session(client))["token"])
        await widget.connect()
        await widget.ws.send(b"\xff\xfe not utf-8")  # a binary frame
        assert (await widget.next("error"))["code"] == "bad_frame"
        await widget.ws.send("[" * 5000 + "]" * 5000)  # deeper than the JSON parser goes
        assert (await widget.next("error"))["code"] == "bad_frame"
        await widget.ws.send(json.dumps({"type": "\ud800"}))
        assert (await widget.next("error"))["code"] == "bad_frame"
        blank = await widget.say("\u200b\u2060", "z1")
        assert (blank["code"], blank["client_id"]) == ("bad_message", "z1")
        # A text frame that is not UTF-8 (no browser sends one) is dropped by Sanic's frame assembler with
        # whatever arrived in the same read; the socket stays open.
        await widget.ws.send(b'{"type": "message", "text": "\xff", "client_id": "u1"}', text=True)
        await asyncio.sleep(0.3)
        await widget.ws.send(json.dumps({"type": "ping"}))
        await widget.next("pong")
        await widget.ws.close()


async def test_a_widget_resume_cursor_redis_cannot_take_is_refused_cleanly(make_app) -> None:
    async with serving(make_app(strict_rasa([]))) as base, httpx.AsyncClient(base_url=base) as client:
        token = (await new_session(client))["token"]
        refused = await Widget(base, token).connect(after="99999999999999999999999-0")
        assert refused["type"] == "error"
        assert (await Widget(base, token).connect())["type"] == "ready"


async def test_the_widget_tells_the_assistant_only_what_the_session_proves(make_app) -> None:
    seen: list[dict] = []
    async with serving(make_app(strict_rasa(seen))) as base, httpx.AsyncClient(base_url=base) as client:
        anonymous = Widget(base, (await new_session(client))["token"])
        await anonymous.connect()
        await anonymous.ws.send(
            json.dumps(
                {"type": "message", "text": "hi", "client_id": "a1", "metadata": {"customer_id": "c-1"}}
            )
        )
        await anonymous.next("ack")
        assert seen[-1]["metadata"] == {"client_address": "127.0.0.1", "channel": "web"}
        identity = sign(IDENTITY_SECRET, "identity", {"sub": f"cust-{uuid.uuid4().hex[:8]}"}, 60)
        known = Widget(base, (await new_session(client, identity=identity))["token"])
        await known.connect()
        assert (await known.say("my orders", "k1"))[
            "type"
        ] == "ack"  # acknowledged once the assistant answered
        assert seen[-1]["message"] == "my orders"
        metadata = seen[-1]["metadata"]
        assert (metadata["verified_by"], metadata["client_address"]) == ("storefront", "127.0.0.1")
        assert metadata["customer_id"].startswith("cust-")
        for widget in (anonymous, known):
            await widget.ws.close()


async def test_a_widget_button_is_a_payload_and_typed_slash_text_is_not(make_app) -> None:
    seen: list[dict] = []
    async with serving(make_app(strict_rasa(seen))) as base, httpx.AsyncClient(base_url=base) as client:
        widget = Widget(base, (await new_session(client))["token"])
        await widget.connect()
        await widget.say("/deny", "p1")  # nothing offered yet
        await widget.message("bot")  # the reply offers /affirm and /deny
        await widget.say("/deny", "p2")  # what the button sends
        await widget.message("bot")
        assert [s["message"] for s in seen] == ["deny", "/deny"]
        await widget.ws.close()

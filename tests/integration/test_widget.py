"""The storefront widget over a real WebSocket: sessions, resume without loss or repeats, rate and size
limits, origins, one conversation per identified customer, and a whole handoff from the customer's side."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from handoff.widget_tokens import sign
from tests.integration.conftest import ADMIN, IDENTITY_SECRET, SERVICE, WIDGET_SECRET, rasa_stand_in
from tests.integration.live_app import serving
from tests.widget_client import Widget, new_session

pytestmark = pytest.mark.integration


@pytest.fixture
def widget_app(make_app):
    def build(**env: str):
        return make_app(rasa_stand_in([]), **env)

    return build


async def test_a_customer_talks_to_the_bot_and_resumes_without_loss_or_repeats(widget_app) -> None:
    async with serving(widget_app()) as base, httpx.AsyncClient(base_url=base) as client:
        session = await new_session(client)
        widget = Widget(base, session["token"])
        ready = await widget.connect()
        assert ready["conversation_id"] == session["conversation_id"]
        assert (await widget.say("hello there", "m1")) == {"type": "ack", "client_id": "m1"}
        echo = await widget.message("bot")
        assert echo["text"] == "echo: hello there"
        assert next(f for f in widget.frames if f["type"] == "message")["client_id"] == "m1"
        last = echo["id"]
        await widget.ws.close()

        # a page reload resumes after the last message shown and re-sends the unacknowledged one
        widget2 = Widget(base, session["token"])
        await widget2.connect(after=last)
        duplicate = await widget2.say("hello there", "m1")
        assert duplicate == {"type": "ack", "client_id": "m1", "duplicate": True}
        await widget2.say("second", "m2")
        await widget2.message("bot")
        assert widget2.messages() == [("customer", "second"), ("bot", "echo: second")]
        await widget2.ws.close()

        widget3 = Widget(base, session["token"])  # a fresh page load replays everything once
        await widget3.connect()
        await asyncio.sleep(0.3)
        await widget3.ws.send(json.dumps({"type": "ping"}))
        await widget3.next("pong")
        assert widget3.messages() == [
            ("customer", "hello there"),
            ("bot", "echo: hello there"),
            ("customer", "second"),
            ("bot", "echo: second"),
        ]


async def test_a_token_opens_only_its_own_conversation(widget_app) -> None:
    async with serving(widget_app()) as base, httpx.AsyncClient(base_url=base) as client:
        mine = await new_session(client)
        theirs = await new_session(client)
        assert mine["conversation_id"] != theirs["conversation_id"]
        forged = sign("not-the-secret-0123456789", "session", {"cid": theirs["conversation_id"]}, 60)
        for token in (forged, mine["token"][:-2] + "xx", "", "garbage"):
            widget = Widget(base, token)
            frame = await widget.connect()
            assert frame["type"] == "error" and frame["code"] == "unauthorized"
        # an identity assertion is not a session token, even with the right secret
        identity = sign(WIDGET_SECRET, "identity", {"sub": "cust-1"}, 60)
        assert (await Widget(base, identity).connect())["type"] == "error"
        expired = sign(WIDGET_SECRET, "session", {"cid": mine["conversation_id"]}, -1)
        assert (await Widget(base, expired).connect())["type"] == "error"


async def test_size_and_rate_limits_give_clear_errors(widget_app) -> None:
    app = widget_app(HUB_MESSAGES_PER_MINUTE="3", HUB_MAX_MESSAGE_CHARS="50")
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        widget = Widget(base, (await new_session(client))["token"])
        await widget.connect()
        too_long = await widget.say("x" * 51, "long")
        assert too_long["code"] == "bad_message" and "1-50 characters" in too_long["message"]
        for n in range(3):
            assert (await widget.say(f"message {n}", f"r{n}"))["type"] == "ack"
        limited = await widget.say("one too many", "r3")
        assert limited["code"] == "rate_limited" and limited["retry_after"] >= 1


async def test_only_configured_storefront_origins(widget_app) -> None:
    app = widget_app(HUB_ALLOWED_ORIGINS="https://shop.example.com")
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        allowed = await client.post(
            "/api/widget/session", json={}, headers={"Origin": "https://shop.example.com"}
        )
        assert allowed.status_code == 201
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example.com"
        preflight = await client.options(
            "/api/widget/session", headers={"Origin": "https://shop.example.com"}
        )
        assert preflight.status_code == 204
        refused = await client.post(
            "/api/widget/session", json={}, headers={"Origin": "https://evil.example"}
        )
        assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
        widget = Widget(base, allowed.json()["token"])
        assert (await widget.connect(origin="https://evil.example"))["type"] == "error"
        assert (await Widget(base, allowed.json()["token"]).connect(origin="https://shop.example.com"))[
            "type"
        ] == "ready"


async def test_an_identified_customer_has_one_conversation(widget_app) -> None:
    async with serving(widget_app()) as base, httpx.AsyncClient(base_url=base) as client:
        identity = sign(IDENTITY_SECRET, "identity", {"sub": "cust-900", "phone": "+86 138 0013 8000"}, 60)
        laptop = await new_session(client, identity=identity)
        phone = await new_session(client, identity=identity)
        assert laptop["conversation_id"] == phone["conversation_id"]
        bad = await client.post("/api/widget/session", json={"identity": identity[:-3] + "abc"})
        assert bad.status_code == 401


async def agent_with_token(
    client: httpx.AsyncClient, agent_id: str, name: str, skills: dict[str, float], capacity: int
) -> str:
    """An English-speaking agent created through the admin API, and a token of theirs."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    spec = {"id": agent_id, "name": name, "languages": ["en"], "skills": skills, "capacity": capacity}
    assert (await client.post("/api/agents", json=spec, headers=admin)).status_code == 201
    return str((await client.post(f"/api/agents/{agent_id}/tokens", headers=admin)).json()["token"])


async def test_a_handoff_seen_from_the_widget(widget_app, redis_url: str) -> None:
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(redis_url, decode_responses=True)
    async with serving(widget_app()) as base, httpx.AsyncClient(base_url=base) as client:
        agent_id = f"widget-agent-{base.rsplit(':', 1)[1]}"
        token = await agent_with_token(client, agent_id, "Lena", {"returns": 0.9}, capacity=2)
        agent = {"Authorization": f"Bearer {token}"}

        session = await new_session(client)
        cid = session["conversation_id"]
        widget = Widget(base, session["token"])
        await widget.connect()
        await widget.say("my parcel arrived broken", "h1")
        await widget.message("bot")
        packet = {"conversation_id": cid, "reason": "damaged_goods", "language": "en", "channel": "web"}
        queued = await client.post(
            "/api/handoffs/", json=packet, headers={"Authorization": f"Bearer {SERVICE}"}
        )
        assert queued.json()["owner"] == "queued"
        status = await widget.next("status")
        while status["owner"] != "queued":  # the first one is from the connection
            status = await widget.next("status")
        assert status["position"] >= 1
        notice = await widget.message("system")
        assert "in line" in notice["text"]

        online = await client.put(
            f"/api/agents/{agent_id}/presence", json={"presence": "online"}, headers=agent
        )
        assert [o["conversation_id"] for o in online.json()["offers"]] == [cid]
        assert (await client.post(f"/api/offers/{cid}/accept", headers=agent)).status_code == 200
        joined = await widget.message("system")
        assert joined["text"] == "Lena from our support team has joined the chat."

        sent = await client.post(
            f"/api/conversations/{cid}/messages", json={"text": "So sorry! Photo?"}, headers=agent
        )
        assert sent.status_code == 201
        assert (await widget.message("agent"))["text"] == "So sorry! Photo?"
        await widget.say("<img src=x onerror=alert(1)> here it is", "h2")
        transcript = (await client.get(f"/api/conversations/{cid}/messages", headers=agent)).json()
        assert transcript[-1]["text"] == "<img src=x onerror=alert(1)> here it is"  # stored verbatim, as text

        assert (await client.post(f"/api/assignments/{cid}/resolve", headers=agent)).status_code == 200
        survey = await widget.message("system")
        assert [b["payload"] for b in survey["buttons"]] == ["1", "2", "3", "4", "5"]
        await widget.say("5", "h3")
        thanks = await widget.message("system")
        assert thanks["text"].startswith("Thank you for your feedback")
        lena = (await client.get(f"/api/agents/{agent_id}", headers=agent)).json()
        assert (lena["rating_count"], lena["rating_average"]) == (1, 5.0)
        surveys = await r.xrange("hub:surveys")
        assert {"conversation_id": cid, "agent_id": agent_id, "stars": "5"} in [f for _, f in surveys]
    await r.aclose()


async def test_a_waiting_customer_sees_their_place_move_up(widget_app) -> None:
    """Position updates reach the customers waiting in the queue that changed (and only follow that queue)."""
    service = {"Authorization": f"Bearer {SERVICE}"}
    async with serving(widget_app()) as base, httpx.AsyncClient(base_url=base) as client:
        agent_id = f"queue-agent-{base.rsplit(':', 1)[1]}"
        token = await agent_with_token(client, agent_id, "Kai", {"complaints": 1.0}, capacity=1)
        widgets, cids = [], []
        for _ in range(2):
            session = await new_session(client)
            widget = Widget(base, session["token"])
            await widget.connect()
            packet = {"conversation_id": session["conversation_id"], "reason": "complaint", "language": "en"}
            assert (await client.post("/api/handoffs/", json=packet, headers=service)).status_code == 201
            widgets.append(widget)
            cids.append(session["conversation_id"])

        async def position(widget: Widget, wanted: int) -> None:
            while (await widget.next("status"))["position"] != wanted:
                pass

        await position(widgets[1], 2)
        online = await client.put(
            f"/api/agents/{agent_id}/presence",
            json={"presence": "online"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert [o["conversation_id"] for o in online.json()["offers"]] == [cids[0]]
        await position(widgets[1], 1)  # pushed: the customer did not ask
        for widget in widgets:
            await widget.ws.close()
        for cid in cids:
            await client.delete(f"/api/handoffs/{cid}", headers={"Authorization": f"Bearer {ADMIN}"})


async def test_a_customer_who_leaves_the_queue_keeps_a_ticket(widget_app, redis_url: str) -> None:
    service = {"Authorization": f"Bearer {SERVICE}"}
    async with serving(widget_app()) as base, httpx.AsyncClient(base_url=base) as client:
        session = await new_session(client)
        cid = session["conversation_id"]
        widget = Widget(base, session["token"])
        await widget.connect()
        await widget.ws.send(json.dumps({"type": "leave"}))
        assert (await widget.next("error"))[
            "code"
        ] == "not_waiting"  # talking to the assistant: nothing to leave

        packet = {"conversation_id": cid, "reason": "complaint", "language": "zh", "channel": "web"}
        assert (await client.post("/api/handoffs/", json=packet, headers=service)).status_code == 201
        while (await widget.next("status"))["owner"] != "queued":
            pass
        await widget.ws.send(json.dumps({"type": "leave"}))
        while True:
            notice = await widget.message("system")
            if "工单" in notice["text"]:
                break
        ticket_id = notice["text"].split("工单 ")[1].split("，")[0]
        while (await widget.next("status"))["owner"] == "queued":
            pass
        ticket = await client.get(f"/api/tickets/{ticket_id}", headers={"Authorization": f"Bearer {ADMIN}"})
        assert ticket.json()["auto_reason"] == "customer_left" and ticket.json()["conversation_id"] == cid
        status = await client.get(f"/api/handoffs/{cid}", headers={"Authorization": f"Bearer {ADMIN}"})
        assert status.json()["owner"] == "closed"
        await widget.ws.close()


def test_the_session_body_is_described_for_clients_and_fuzzers(widget_app) -> None:
    _, response = widget_app().test_client.get("/docs/openapi.json")
    post = response.json["paths"]["/api/widget/session"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"token", "identity"}
    assert {"201", "413", "429"} <= set(post["responses"])

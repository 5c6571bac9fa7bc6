"""The storefront widget through the running stack (real Rasa, real actions): returns in both languages,
a handoff to a person and back with the survey, and a hub restart in the middle of a conversation."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest
import redis.asyncio as aioredis

from tests.e2e.conftest import ROOT, Stack
from tests.redis_server import free_port
from tests.widget_client import Widget, new_session

pytestmark = pytest.mark.e2e
REPLY_TIMEOUT = 30.0


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


async def bot_turn(widget: Widget, text: str, client_id: str) -> str:
    """Send a message and collect the assistant's answer to it (all bot messages until the ack)."""
    before = len([f for f in widget.frames if f["type"] == "message" and f["author"] == "bot"])
    ack = await widget.say(text, client_id)
    assert ack["type"] == "ack", ack
    # Replies are stored before the ack but reach the socket through the fan-out: wait for the first,
    # then give any further ones a moment.
    await widget.message("bot", timeout=REPLY_TIMEOUT)
    await asyncio.sleep(0.5)
    await widget.ws.send('{"type": "ping"}')
    await widget.next("pong", timeout=REPLY_TIMEOUT)
    replies = [f["text"] for f in widget.frames if f["type"] == "message" and f["author"] == "bot"]
    return "\n".join(replies[before:])


async def test_returns_are_resolved_by_the_assistant_on_the_widget_in_both_languages(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.hub_url, timeout=30) as client:
        english = Widget(stack.hub_url, (await new_session(client))["token"])
        await english.connect()
        asked = await bot_turn(english, "I want to return something I bought", "e1")
        assert "SO-12345678" in asked
        await bot_turn(english, "SO-10002665", "e2")
        await bot_turn(english, "my email is chloe.n@example.com", "e2b")  # anonymous: proves the order
        read_back = await bot_turn(english, '/inform{"return_reason":"changed_mind"}', "e3")
        assert "Please confirm" in read_back
        done = await bot_turn(english, "yes", "e4")
        assert "RA-" in done and not has_chinese(done)

        chinese = Widget(stack.hub_url, (await new_session(client))["token"])
        await chinese.connect()
        await bot_turn(chinese, "我想退货", "z1")
        assert has_chinese(await bot_turn(chinese, "订单号10006912", "z2"))
        await bot_turn(chinese, "尾号6004", "z2b")
        await bot_turn(chinese, '/inform{"item":"JEAN-SLIM-32"}', "z3")
        assert "请确认" in await bot_turn(chinese, '/inform{"return_reason":"wrong_size"}', "z4")
        done = await bot_turn(chinese, "好的", "z5")
        assert "RA-" in done and has_chinese(done)
        await english.ws.close()
        await chinese.ws.close()


async def reset_routing(client: httpx.AsyncClient, r: aioredis.Redis, admin: dict) -> None:
    """Earlier tests leave customers waiting and agents online: the new agent must be the only one, with
    nothing waiting ahead of this test's customer."""
    for other in (await client.get("/api/agents", headers=admin)).json():
        if other["presence"] != "offline":
            offline = {"presence": "offline"}
            url = f"/api/agents/{other['id']}/presence"
            assert (await client.put(url, json=offline, headers=admin)).status_code == 200
    waiting = set(await r.zrange("hub:offers", 0, -1))
    for queue in await r.smembers("hub:queues"):
        waiting.update(await r.zrange(f"hub:queue:{queue}", 0, -1))
    for cid in waiting:
        assert (await client.delete(f"/api/handoffs/{cid}", headers=admin)).status_code == 200


async def test_a_person_takes_over_then_hands_back_with_a_survey(stack: Stack) -> None:
    admin = {"Authorization": f"Bearer {stack.env['HUB_ADMIN_TOKEN']}"}
    agent_id = f"e2e-{uuid.uuid4().hex[:8]}"
    r = aioredis.Redis.from_url(stack.redis_url, decode_responses=True)
    async with httpx.AsyncClient(base_url=stack.hub_url, timeout=30) as client:
        body = {
            "id": agent_id,
            "name": "Mia",
            "languages": ["en", "zh"],
            "capacity": 3,
            "skills": {
                s: 0.8 for s in ("general", "returns", "orders", "payments", "shipping", "complaints")
            },
        }
        assert (await client.post("/api/agents", json=body, headers=admin)).status_code == 201
        token = (await client.post(f"/api/agents/{agent_id}/tokens", headers=admin)).json()["token"]
        agent = {"Authorization": f"Bearer {token}"}
        await reset_routing(client, r, admin)
        assert (await client.put(f"/api/agents/{agent_id}/presence", json={"presence": "online"},
                                 headers=agent)).status_code == 200  # fmt: skip

        session = await new_session(client)
        cid = session["conversation_id"]
        widget = Widget(stack.hub_url, session["token"])
        await widget.connect()
        asked = await widget.say("I want to talk to a real person please", "p1")
        assert asked["type"] == "ack"
        # the action server posted the handoff: the conversation is offered to the only online agent
        deadline = time.monotonic() + REPLY_TIMEOUT
        while (await client.get(f"/api/handoffs/{cid}", headers=agent)).json().get("owner") != "offered":
            assert time.monotonic() < deadline, "no offer reached the agent"
            await asyncio.sleep(0.2)
        card = (await client.get(f"/api/conversations/{cid}", headers=agent)).json()
        assert card["packet"]["reason"] == "customer_request" and card["packet"]["transcript"]
        assert (await client.post(f"/api/offers/{cid}/accept", headers=agent)).status_code == 200
        notice = await widget.message("system", timeout=REPLY_TIMEOUT)
        while "Mia" not in notice["text"]:  # the queue notice came first
            notice = await widget.message("system", timeout=REPLY_TIMEOUT)

        hello = {"text": "Hi, Mia here. How can I help?"}
        await client.post(f"/api/conversations/{cid}/messages", json=hello, headers=agent)
        assert (await widget.message("agent", timeout=REPLY_TIMEOUT))[
            "text"
        ] == "Hi, Mia here. How can I help?"
        await widget.say("My parcel is late", "p2")
        transcript = (await client.get(f"/api/conversations/{cid}/messages", headers=agent)).json()
        assert transcript[-1]["author"] == "customer" and transcript[-1]["text"] == "My parcel is late"

        assert (await client.post(f"/api/assignments/{cid}/resolve", headers=agent)).status_code == 200
        survey = await widget.message("system", timeout=REPLY_TIMEOUT)
        while not survey.get("buttons"):
            survey = await widget.message("system", timeout=REPLY_TIMEOUT)
        await widget.say("4", "p3")
        assert (await widget.message("system", timeout=REPLY_TIMEOUT))["text"].startswith("Thank you")
        mia = (await client.get(f"/api/agents/{agent_id}", headers=agent)).json()
        assert (mia["rating_count"], mia["active"]) == (1, 0)
        answers = [f for _, f in await r.xrange("hub:surveys") if f["conversation_id"] == cid]
        assert answers == [{"conversation_id": cid, "agent_id": agent_id, "stars": "4"}]
        # the assistant answers again
        assert await bot_turn(widget, "hello", "p4")
        await client.put(f"/api/agents/{agent_id}/presence", json={"presence": "offline"}, headers=agent)
        await widget.ws.close()
    await r.aclose()


def start_hub(stack: Stack, port: int, **overrides: str) -> subprocess.Popen[bytes]:
    env = {**stack.env, "HUB_PORT": str(port), "PYTHONPATH": str(ROOT), "REDIS_URL": stack.redis_url,
           "RASA_URLS": stack.rasa_urls, "ACTIONS_URL": stack.actions_url, **overrides}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "handoff"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs/openapi.json", timeout=1)
            return proc
        except httpx.HTTPError:
            assert time.monotonic() < deadline and proc.poll() is None, "the second hub did not start"
            time.sleep(0.3)


async def test_killing_the_hub_mid_conversation_loses_no_message(stack: Stack) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    hub = start_hub(stack, port)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            session = await new_session(client)
        widget = Widget(base, session["token"])
        await widget.connect()
        assert await bot_turn(widget, "hi", "k1")
        last = [f for f in widget.frames if f["type"] == "message"][-1]["id"]
        # a message goes out and the service dies before acknowledging it (stored or not: unknown)
        await widget.ws.send('{"type": "message", "text": "thanks", "client_id": "k2"}')
        os.killpg(hub.pid, signal.SIGKILL)
        hub.wait()
        await widget.ws.close()
        hub = start_hub(stack, port)
        # the widget reconnects after the last message it showed and re-sends the unacknowledged one
        resumed = Widget(base, session["token"])
        await resumed.connect(after=last)
        ack = await resumed.say("thanks", "k2")
        assert ack["type"] == "ack" and ack["client_id"] == "k2"
        assert (await resumed.say("thanks", "k2"))["duplicate"] is True  # and again: still once
        await resumed.ws.close()
        fresh = Widget(base, session["token"])
        await fresh.connect()
        await fresh.ws.send('{"type": "ping"}')
        await fresh.next("pong")
        customer = [f["text"] for f in fresh.frames if f["type"] == "message" and f["author"] == "customer"]
        assert customer == ["hi", "thanks"]
        ids = [f["id"] for f in fresh.frames if f["type"] == "message"]
        assert len(ids) == len(set(ids)) and len(ids) >= 3  # hi, its answer, thanks (stored once)
        await fresh.ws.close()
    finally:
        if hub.poll() is None:
            os.killpg(hub.pid, signal.SIGINT)
            try:
                hub.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(hub.pid, signal.SIGKILL)

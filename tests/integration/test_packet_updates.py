"""What a customer adds while the team has the conversation, against a real redis-server: order numbers,
photos and (while they wait) what they said go into the stored handoff packet, an open console hears of
it, the list stays bounded and concurrent updates all land; REST customers are told, without a transcript
entry, that their message was passed on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import websockets
from redis.asyncio import Redis

from handoff.notices import notice
from handoff.packet import UPDATES_CAP, RedisPacketUpdates
from tests.integration.conftest import REST_AUTH, transcript
from tests.integration.live_app import serving
from tests.integration.test_attachments import (
    SERVICE_AUTH,
    Served,
    build_app,
    flushed_database,
    make_agent,
    signed_in,
    upload,
)
from tests.unit.test_attachments import png
from tests.widget_client import new_session

pytestmark = pytest.mark.integration


REDIS_DB = 10  # routing keys are global: this module flushes its own database before each test


@pytest.fixture
def db_url(redis_url: str) -> str:
    return flushed_database(redis_url, REDIS_DB)


@pytest.fixture
async def hub(db_url: str, tmp_path: Path, no_overflow_routing: str) -> AsyncIterator[Served]:
    seen: list[dict[str, Any]] = []
    async with serving(build_app(db_url, tmp_path / "attachments", no_overflow_routing, seen)) as base:
        yield base, seen


def stored_packet(db_url: str, cid: str) -> dict[str, Any]:
    client = redis.Redis.from_url(db_url, decode_responses=True)
    try:
        raw = client.get(f"hub:handoff:{cid}")
        return json.loads(raw) if raw else {}
    finally:
        client.close()


async def hand_off(client: httpx.AsyncClient, cid: str, **packet: Any) -> None:
    body = {"conversation_id": cid, "reason": "damaged_goods", "language": "en", "channel": "rest", **packet}
    response = await client.post("/api/handoffs/", json=body, headers=SERVICE_AUTH)
    assert response.status_code == 201, response.text


async def say(client: httpx.AsyncClient, sender: str, text: str) -> list[dict[str, Any]]:
    response = await client.post(
        "/webhooks/rest/webhook", json={"sender": sender, "message": text}, headers=REST_AUTH
    )
    assert response.status_code == 200, response.text
    replies: list[dict[str, Any]] = response.json()
    return replies


async def test_a_waiting_customer_fills_in_the_card_and_rest_is_told(hub: Served, db_url: str) -> None:
    base, seen = hub
    async with httpx.AsyncClient(base_url=base) as client:
        # before the handoff the assistant answers, and the packet does not exist yet
        assert (await say(client, "w1", "hello"))[0]["text"] == "echo: hello"
        await hand_off(client, "rest-w1", order={})
        before = len(seen)

        replies = await say(client, "w1", "it's order SO-10001021, the lid is cracked")
        assert replies == [{"recipient_id": "w1", "text": notice("passed_to_team", "en")}]
        packet = stored_packet(db_url, "rest-w1")
        assert [(u["kind"], u["value"]) for u in packet["updates"]] == [
            ("text", "it's order SO-10001021, the lid is cracked"),
            ("order_id", "SO-10001021"),
        ]
        assert packet["order_hint"] == "SO-10001021" and packet["reason"] == "damaged_goods"
        assert all(isinstance(u["ts"], float) for u in packet["updates"])

        # Chinese customers are told in Chinese; the notice is never stored
        assert await say(client, "w1", "订单号是10001022") == [
            {"recipient_id": "w1", "text": "已转达给客服。"}
        ]
        assert stored_packet(db_url, "rest-w1")["order_hint"] == "SO-10001022"
        texts = [(m["author"], m["text"]) for m in transcript(db_url, "rest-w1")]
        assert ("customer", "订单号是10001022") in texts
        assert not [t for a, t in texts if t in (notice("passed_to_team", "en"), "已转达给客服。")]
        assert len(seen) == before  # the assistant saw none of it

        # later messages from the REST client's point of view hold no notice either
        later = await client.get("/webhooks/rest/messages", params={"sender": "w1"}, headers=REST_AUTH)
        assert "已转达给客服。" not in [m["text"] for m in later.json()]


async def test_an_order_the_packet_names_is_not_overridden(hub: Served, db_url: str) -> None:
    base, _ = hub
    async with httpx.AsyncClient(base_url=base) as client:
        await hand_off(client, "rest-w2", order={"id": "SO-10001021", "status": "delivered"})
        await say(client, "w2", "also SO-10001099")
        packet = stored_packet(db_url, "rest-w2")
        assert "order_hint" not in packet and packet["order"]["id"] == "SO-10001021"
        assert [u["kind"] for u in packet["updates"]] == ["text", "order_id"]


async def test_photos_before_and_while_waiting_reach_the_card(hub: Served, db_url: str) -> None:
    base, _ = hub
    async with httpx.AsyncClient(base_url=base) as client:
        session = await new_session(client)
        cid, token = session["conversation_id"], session["token"]
        first = (await upload(client, token, png(2, 2, (1, 2, 3)))).json()["attachment"]
        await hand_off(client, cid, channel="web")
        packet = stored_packet(db_url, cid)
        assert [p["id"] for p in packet["photos"]] == [first["id"]] and "updates" not in packet

        second = (await upload(client, token, png(2, 2, (4, 5, 6)))).json()["attachment"]
        packet = stored_packet(db_url, cid)
        assert [(u["kind"], u["value"]) for u in packet["updates"]] == [("photo", second["id"])]
        assert [p["id"] for p in packet["photos"]] == [first["id"]]


async def test_with_an_agent_only_order_numbers_and_photos_are_added_and_the_console_hears(
    hub: Served, db_url: str
) -> None:
    base, _ = hub
    async with httpx.AsyncClient(base_url=base) as client:
        await make_agent(client, "ana")
        ana = await signed_in(base, "ana")
        try:
            assert (await ana.put("/api/agents/ana/presence", json={"presence": "online"})).status_code == 200
            await hand_off(client, "rest-w3")
            assert (await ana.post("/api/offers/rest-w3/accept")).status_code == 200

            cookie = ana.cookies.get("hub_session")
            ws_url = base.replace("http://", "ws://") + "/ws/console"
            headers = {"Cookie": f"hub_session={cookie}", "Origin": base}
            async with websockets.connect(ws_url, additional_headers=headers) as ws:
                await ws.recv()  # hello
                await ws.send(json.dumps({"type": "watch", "conversation_ids": ["rest-w3"]}))

                async def events_until_pong() -> list[dict[str, Any]]:
                    await ws.send(json.dumps({"type": "ping"}))
                    seen: list[dict[str, Any]] = []
                    while (event := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != "pong":
                        seen.append(event)
                    return seen

                await events_until_pong()
                assert await say(client, "w3", "thanks, waiting") == [
                    {"recipient_id": "w3", "text": notice("passed_to_team", "en")}
                ]
                assert "updates" not in stored_packet(db_url, "rest-w3")  # an agent reads the chat itself

                await say(client, "w3", "the number is SO-10001021")
                await asyncio.sleep(0.3)
                messages = [e for e in await events_until_pong() if e["type"] == "message"]
                # one for the new transcript entry, one for the packet: the console reads the card again
                assert len(messages) >= 2 and {e["conversation_id"] for e in messages} == {"rest-w3"}
                card = (await ana.get("/api/conversations/rest-w3")).json()["packet"]
                assert [(u["kind"], u["value"]) for u in card["updates"]] == [("order_id", "SO-10001021")]
                assert card["order_hint"] == "SO-10001021"

            # once resolved, the assistant has it again: nothing more is added
            assert (await ana.post("/api/assignments/rest-w3/resolve")).status_code == 200
            replies = await say(client, "w3", "SO-10001022")
            assert replies and replies[0]["text"] != notice("passed_to_team", "en")
            assert [u["value"] for u in stored_packet(db_url, "rest-w3")["updates"]] == ["SO-10001021"]

            # a new handoff starts from its own packet
            await hand_off(client, "rest-w3", reason="complaint")
            assert "updates" not in stored_packet(db_url, "rest-w3")
        finally:
            await ana.aclose()


async def test_updates_are_bounded_and_concurrent_ones_all_land(db_url: str) -> None:
    client = Redis.from_url(db_url, decode_responses=True)
    try:
        await client.set("hub:handoff:cap-1", json.dumps({"conversation_id": "cap-1", "order": {}}))
        await client.hset("hub:conv:cap-1", mapping={"owner": "queued"})
        updates = RedisPacketUpdates(client)
        results = await asyncio.gather(
            *(updates.add("cap-1", [{"ts": float(n), "kind": "text", "value": f"m{n}"}]) for n in range(8))
        )
        assert all(results)
        values = [u["value"] for u in json.loads(await client.get("hub:handoff:cap-1") or "{}")["updates"]]
        assert sorted(values) == sorted(f"m{n}" for n in range(8))

        for n in range(UPDATES_CAP + 5):
            await updates.add("cap-1", [{"ts": float(n), "kind": "order_id", "value": f"SO-{10000000 + n}"}])
        packet = json.loads(await client.get("hub:handoff:cap-1") or "{}")
        assert len(packet["updates"]) == UPDATES_CAP
        assert packet["order_hint"] == f"SO-{10000000 + UPDATES_CAP + 4}"

        # no packet, or the assistant owns the conversation: nothing is written
        assert await updates.add("none-1", [{"ts": 1.0, "kind": "text", "value": "x"}]) is False
        assert await client.get("hub:handoff:none-1") is None
        await client.hset("hub:conv:cap-1", "owner", "bot")
        assert await updates.add("cap-1", [{"ts": 1.0, "kind": "order_id", "value": "SO-1"}]) is False
    finally:
        await client.aclose()

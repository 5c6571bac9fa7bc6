"""Customer A and customer B on every channel: neither reads, joins or writes into the other's
conversation, whatever they put in a token, a sender id or a Telegram update.

The widget's keys are signed tokens (a session binds one conversation; an identity assertion, minted by
the storefront's backend, names a customer until it expires); REST senders live in a namespace of their
own and only the REST token reads them; Telegram updates need the webhook secret and land in their own
chat's conversation.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis
import websockets

from handoff.channels.telegram.routes import PATH, SECRET_HEADER
from handoff.notices import notice
from handoff.widget_tokens import sign
from tests.integration.conftest import (
    ADMIN,
    IDENTITY_SECRET,
    REST_AUTH,
    WIDGET_SECRET,
    rasa_stand_in,
    transcript,
)
from tests.integration.live_app import serving
from tests.integration.test_telegram_channel import HEADERS, SECRET, BotApiStandIn, update
from tests.unit.test_attachments import png
from tests.widget_client import Widget, new_session

pytestmark = pytest.mark.integration

OTHER_SECRET = "not-the-widget-secret-0123"
STOREFRONT_KEY = "storefront-identity-key-0123"  # what the storefront's backend signs assertions with
A_SAYS = "A here: ship order SO-10001021 to 1 Baker Street"
REST = "/webhooks/rest/webhook"
MESSAGES = "/webhooks/rest/messages"
PHOTOS = "/api/widget/attachments"
PHOTO_RECEIVED = notice("photo_received", "en")
PNG = {"Content-Type": "image/png"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    body = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


def with_claims(token: str, **changes: Any) -> str:
    """The token with its claims changed and its signature kept."""
    claims = {**claims_of(token), **changes}
    body = b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{token.split('.')[1]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def texts(redis_url: str, conversation_id: str) -> list[str]:
    return [m["text"] for m in transcript(redis_url, conversation_id)]


async def hello(base: str, token: str, **extra: Any) -> dict[str, Any]:
    """The widget socket's answer to a hello with `token` (and whatever else a client adds to it):
    `ready` naming the conversation it opened, or `error` before the close (4001)."""
    async with websockets.connect(base.replace("http", "ws") + "/ws/widget") as ws:
        await ws.send(json.dumps({"type": "hello", "token": token, **extra}))
        frame = dict(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        if frame["type"] == "error":
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
        return frame


# -- the widget -----------------------------------------------------------------------------------------


async def test_widget_customers_never_see_or_enter_each_others_conversation(
    hub_app: Callable[..., Any], db_url: str
) -> None:
    seen: list[dict[str, Any]] = []
    async with serving(hub_app(rasa_stand_in(seen))) as base, httpx.AsyncClient(base_url=base) as client:
        a, b = await new_session(client), await new_session(client)
        assert a["conversation_id"] != b["conversation_id"]
        widget_a = Widget(base, a["token"])
        await widget_a.connect()
        await widget_a.say(A_SAYS, "a1")
        await widget_a.message("bot")

        # B's own session, even naming A's conversation beside it, opens B's conversation only
        opened = await hello(base, b["token"], conversation_id=a["conversation_id"], cid=a["conversation_id"])
        assert opened["type"] == "ready" and opened["conversation_id"] == b["conversation_id"]
        widget_b = Widget(base, b["token"])
        await widget_b.connect()
        await widget_b.say("B here", "b1")
        await widget_b.message("bot")
        await widget_b.ws.close()
        renewed = await client.post(
            "/api/widget/session", json={"token": b["token"], "conversation_id": a["conversation_id"]}
        )
        assert renewed.json()["conversation_id"] == b["conversation_id"]

        # tokens for A's conversation that B could make from B's own: all refused
        forged = {
            "B's token with A's conversation": with_claims(b["token"], cid=a["conversation_id"]),
            "A's claims with B's signature": f"{a['token'].split('.')[0]}.{b['token'].split('.')[1]}",
            "signed with another secret": sign(OTHER_SECRET, "session", {"cid": a["conversation_id"]}, 60),
            "expired": sign(WIDGET_SECRET, "session", {"cid": a["conversation_id"]}, -1),
            "an identity assertion as a session": sign(WIDGET_SECRET, "identity", {"sub": "cust-1"}, 60),
            "no signature": a["token"].split(".")[0],
            "three parts": a["token"] + ".x",
        }
        for name, token in forged.items():
            assert (await hello(base, token))["code"] == "unauthorized", name
            response = await client.post("/api/widget/session", json={"token": token})
            assert response.status_code == 401, name

        # A's photo is A's: B's session does not find it, an API token is no session at all
        as_a, as_b = bearer(a["token"]), bearer(b["token"])
        sent = await client.post(PHOTOS, content=png(), headers={**as_a, **PNG})
        assert sent.status_code == 201
        photo = f"{PHOTOS}/{sent.json()['attachment']['id']}"
        assert (await client.get(photo, headers=as_a)).status_code == 200
        assert (await client.get(photo, headers=as_b)).status_code == 404
        assert (await client.get(photo, headers=bearer(ADMIN))).status_code == 401
        assert (await client.get(photo)).status_code == 401

        # A's conversation holds A's words only; B's never reached it and A's never reached B
        await widget_a.ws.send(json.dumps({"type": "ping"}))
        await widget_a.next("pong")
        assert texts(db_url, a["conversation_id"]) == [A_SAYS, f"echo: {A_SAYS}", "", PHOTO_RECEIVED]
        assert texts(db_url, b["conversation_id"]) == ["B here", "echo: B here"]
        assert A_SAYS not in json.dumps(widget_b.frames) and "attachments" not in json.dumps(widget_b.frames)
        assert [s["sender"] for s in seen] == [
            a["conversation_id"],
            b["conversation_id"],
        ]
        await widget_a.ws.close()


async def test_identity_assertions_are_signed_by_the_store_and_expire(
    hub_app: Callable[..., Any], db_url: str
) -> None:
    seen: list[dict[str, Any]] = []
    async with serving(hub_app(rasa_stand_in(seen))) as base, httpx.AsyncClient(base_url=base) as client:
        customer = f"cust-{uuid.uuid4().hex[:8]}"
        identity = sign(IDENTITY_SECRET, "identity", {"sub": customer}, 60)
        session = await new_session(client, identity=identity)
        widget = Widget(base, session["token"])
        await widget.connect()
        await widget.say(A_SAYS, "a1")
        await widget.ws.close()
        other = await new_session(
            client, identity=sign(IDENTITY_SECRET, "identity", {"sub": "cust-other"}, 60)
        )
        assert other["conversation_id"] != session["conversation_id"]

        bad = {
            "a changed signature": identity[:-2] + ("AA" if not identity.endswith("AA") else "BB"),
            "another customer with this signature": with_claims(identity, sub="cust-other"),
            "signed with another secret": sign(OTHER_SECRET, "identity", {"sub": customer}, 60),
            "expired": sign(IDENTITY_SECRET, "identity", {"sub": customer}, -1),
            "signed with the session key": sign(WIDGET_SECRET, "identity", {"sub": customer}, 60),
            "a session token as an identity": session["token"],
            "not a token": "\ud800",
        }
        for name, assertion in bad.items():
            response = await client.post("/api/widget/session", content=json.dumps({"identity": assertion}))
            assert response.status_code == 401, f"{name}: {response.status_code} {response.text}"
        assert texts(db_url, session["conversation_id"]) == [A_SAYS, f"echo: {A_SAYS}"]
        assert [(s["metadata"]["customer_id"], s["metadata"]["verified_by"]) for s in seen] == [
            (customer, "storefront")
        ]


async def test_the_storefronts_key_vouches_for_customers_and_opens_no_conversation(
    hub_app: Callable[..., Any], db_url: str
) -> None:
    """The storefront's backend holds a key to vouch for its signed-in customers. That key must not also
    mint widget sessions: with it, a compromised storefront would open any conversation by its id (an
    anonymous widget chat, a REST sender's, a Telegram chat's) and read and write it as the customer. So
    storefronts sign with a key of their own (HUB_IDENTITY_SECRET) that the hub never signs sessions with,
    and HUB_WIDGET_SECRET stays on the hub."""
    app = hub_app(rasa_stand_in([]), HUB_IDENTITY_SECRET=STOREFRONT_KEY)
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        anonymous = await new_session(client)
        await client.post(REST, json={"sender": "shop-user-7", "message": "hi"}, headers=REST_AUTH)
        assertion = sign(STOREFRONT_KEY, "identity", {"sub": "cust-1001"}, 60)
        vouched = await client.post("/api/widget/session", json={"identity": assertion})
        assert vouched.status_code == 201, "storefronts sign identity assertions with HUB_IDENTITY_SECRET"
        hub_key = sign(WIDGET_SECRET, "identity", {"sub": "cust-1001"}, 60)
        refused = await client.post("/api/widget/session", json={"identity": hub_key})
        assert refused.status_code == 401, "the hub's own key vouches for no customer"
        for conversation_id in (anonymous["conversation_id"], "rest-shop-user-7", "telegram-5128849321"):
            forged = sign(STOREFRONT_KEY, "session", {"cid": conversation_id}, 60)
            assert (await hello(base, forged))["type"] == "error", conversation_id


# -- REST -----------------------------------------------------------------------------------------------


async def test_rest_senders_cannot_reach_widget_telegram_or_each_others_conversations(
    hub_app: Callable[..., Any], db_url: str
) -> None:
    seen: list[dict[str, Any]] = []
    async with serving(hub_app(rasa_stand_in(seen))) as base, httpx.AsyncClient(base_url=base) as client:
        a = await new_session(client)
        widget_a = Widget(base, a["token"])
        await widget_a.connect()
        await widget_a.say(A_SAYS, "a1")
        await widget_a.message("bot")

        # a REST sender named after A's widget conversation, or a Telegram chat, writes into its own
        for sender in (a["conversation_id"], "telegram-5128849321", "rest-shop-user-1"):
            response = await client.post(REST, json={"sender": sender, "message": "hi"}, headers=REST_AUTH)
            assert response.status_code == 200
            assert response.json()[0]["recipient_id"] == sender
            assert texts(db_url, f"rest-{sender}") == ["hi", "echo: hi"]
        assert [s["sender"] for s in seen[1:]] == [
            f"rest-{a['conversation_id']}",
            "rest-telegram-5128849321",
            "rest-rest-shop-user-1",
        ]
        assert texts(db_url, a["conversation_id"]) == [A_SAYS, f"echo: {A_SAYS}"]
        assert texts(db_url, "telegram-5128849321") == []
        await widget_a.ws.send(json.dumps({"type": "ping"}))
        await widget_a.next("pong")
        assert widget_a.messages() == [("customer", A_SAYS), ("bot", f"echo: {A_SAYS}")]

        # reading later messages needs the REST token, and reads the REST conversation only
        query = {"sender": a["conversation_id"]}
        lower_case = {"Authorization": REST_AUTH["Authorization"].lower()}
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, lower_case):
            response = await client.get(MESSAGES, params=query, headers=headers)
            assert response.status_code == 401, headers
        read = await client.get(MESSAGES, params=query, headers=REST_AUTH)
        assert [m["text"] for m in read.json()] == ["echo: hi"]
        for sender in ("../web-x", "web-x/../y", "", "x" * 124, "web x"):
            response = await client.get(MESSAGES, params={"sender": sender}, headers=REST_AUTH)
            assert response.status_code == 400, sender
        await widget_a.ws.close()


# -- Telegram -------------------------------------------------------------------------------------------


def chat_texts(db_url: str, chat: int) -> list[str]:
    return texts(db_url, f"telegram-{chat}")


async def test_telegram_updates_need_the_secret_and_stay_in_their_own_chat(
    telegram_app: Callable[..., Any], bot_api: BotApiStandIn, db_url: str, hub_env: dict[str, str]
) -> None:
    seen: list[dict[str, Any]] = []
    app = telegram_app(seen, **hub_env)
    alice, bob = 7100001, 7100002
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        wrong = [
            {},
            {SECRET_HEADER: "wrong-secret-0123456789"},
            {SECRET_HEADER: SECRET.upper()},
            {SECRET_HEADER: SECRET + "x"},
            {SECRET_HEADER: SECRET[:-1]},
            {"Authorization": f"Bearer {SECRET}"},
        ]
        for n, headers in enumerate(wrong):
            body = update("private_text_en", 1000 + n, alice)
            response = await client.post(PATH, json=body, headers=headers)
            assert response.status_code == 401, headers
        body = update("private_text_en", 1010, alice)
        response = await client.post(PATH, params={"secret_token": SECRET}, json=body)
        assert response.status_code == 401
        assert chat_texts(db_url, alice) == [] and bot_api.calls == [] and seen == []

        # each chat's update lands in that chat's conversation and is answered there only
        for n, chat in enumerate((alice, bob)):
            body = update("private_text_en", 2000 + n, chat)
            body["message"]["text"] = f"hello from {chat}"
            assert (await client.post(PATH, json=body, headers=HEADERS)).status_code == 200
        # an update whose sender is another user still belongs to the chat it came from
        crossed = update("private_text_en", 2002, bob)
        crossed["message"]["from"]["id"] = alice
        crossed["message"]["text"] = "written in bob's chat"
        assert (await client.post(PATH, json=crossed, headers=HEADERS)).status_code == 200
        # someone else's contact card verifies nothing and links nothing
        card = update("contact_other_user", 2003, bob)
        assert (await client.post(PATH, json=card, headers=HEADERS)).status_code == 200
        # a REST sender named after a chat never reaches that chat
        body = {"sender": f"telegram-{alice}", "message": "x"}
        assert (await client.post(REST, json=body, headers=REST_AUTH)).status_code == 200

    assert chat_texts(db_url, alice) == [f"hello from {alice}", f"echo: hello from {alice}"]
    assert chat_texts(db_url, bob)[:4] == [
        f"hello from {bob}",
        f"echo: hello from {bob}",
        "written in bob's chat",
        "echo: written in bob's chat",
    ]
    assert [s["sender"] for s in seen] == [
        f"telegram-{alice}",
        f"telegram-{bob}",
        f"telegram-{bob}",
        f"telegram-{bob}",
        f"rest-telegram-{alice}",
    ]
    assert all("verified_phone" not in s["metadata"] for s in seen)
    assert [reply["chat_id"] for reply in bot_api.sent()] == [alice, bob, bob, bob]
    store = redis.Redis.from_url(db_url)
    try:
        assert store.keys("hub:identity:phone:*") == []
    finally:
        store.close()

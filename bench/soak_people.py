"""Simulated customers and agents for the chaos soak.

Customers write in English and Chinese, on the storefront widget (WebSocket: handoff/channels/widget/)
and on REST, some with routine questions the assistant answers (order status with real order numbers
and the detail that proves them, shipping), some asking for a person. Each records every message the hub
acknowledged (REST: HTTP 200; widget: the ack frame with its client id) with its text. A message without
an acknowledgement is sent once more after a pause, as a customer who sees it unsent would (the widget
re-sends it with the same client id, so the hub keeps it once); if that fails too it is not counted.

Agents (created with the admin API, each with an API token) go online, accept what they are offered,
answer and resolve; one that the hub set away (missed offers while it was down) goes online again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

ROOT = Path(__file__).resolve().parents[1]
ACK_TIMEOUT = 30.0  # RASA_TIMEOUT (10 s) plus a handoff when Rasa does not answer, on two busy cores
SKILLS = ("general", "returns", "orders", "payments", "shipping", "complaints")


# -- what customers say -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Script:
    name: str
    language: str
    wants_person: bool
    messages: tuple[str, ...]


def shipped_orders(currency: str) -> list[tuple[str, str]]:
    """(order number, the customer's email) of shipped orders: the assistant reports their status itself."""
    seed = yaml.safe_load((ROOT / "data" / "orders" / "orders.yml").read_text("utf-8"))
    emails = {c["id"]: c["email"] for c in seed["customers"]}
    return [
        (o["id"], emails[o["customer"]])
        for o in seed["orders"]
        if o["status"] == "shipped" and o["currency"] == currency and o["customer"] in emails
    ]


def scripts() -> list[Script]:
    """One conversation per kind and language; order conversations use every shipped order in turn."""
    out: list[Script] = []
    usd, cny = shipped_orders("USD"), shipped_orders("CNY")
    for i in range(max(len(usd), len(cny))):
        order, email = usd[i % len(usd)]
        out.append(Script("order-en", "en", False, (f"hi, where is my order {order}?", email, "thanks!")))
        order, email = cny[i % len(cny)]
        number = order.removeprefix("SO-")
        out.append(Script("order-zh", "zh", False, (f"我的订单{number}到哪了", f"邮箱是{email}", "谢谢")))
    kinds = [
        Script("shipping-en", "en", False,
               ("how much does shipping cost?", "do you ship to Canada?", "thank you, bye")),
        Script("shipping-zh", "zh", False, ("运费怎么收的，多少钱包邮", "多久能发货", "好的谢谢，再见")),
        Script("person-en", "en", True,
               ("I want to talk to a human", "my parcel is late", "are you still there?", "ok, thanks")),
        Script("person-zh", "zh", True, ("转人工", "我的包裹还没到", "还在吗？", "好的，谢谢")),
    ]  # fmt: skip
    # Interleave so that every stretch of conversations mixes kinds and languages.
    mixed: list[Script] = []
    for i, order_script in enumerate(out):
        mixed.append(order_script)
        mixed.append(kinds[i % len(kinds)])
    return mixed


# -- what happened ----------------------------------------------------------------------------------------


@dataclass
class Said:
    """One customer (or agent) message and whether the hub acknowledged it."""

    conversation_id: str
    channel: str  # "web", "rest" or "agent"
    text: str
    client_id: str | None
    sent_at: float  # wall clock of the first attempt
    acked_at: float | None = None
    attempts: int = 0
    replies: int | None = None  # REST: the messages the answer held (the widget's come later)


@dataclass
class Ledger:
    said: list[Said] = field(default_factory=list)
    agent_said: list[Said] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    conversations: dict[str, str] = field(default_factory=dict)  # id → script name
    accepted: int = 0
    resolved: int = 0
    online_again: int = 0  # an agent the hub had set away went online again

    def error(self, kind: str) -> None:
        self.errors[kind] += 1


@dataclass
class Traffic:
    hub_url: str
    rest_token: str
    ledger: Ledger
    stop_customers: asyncio.Event
    stop_agents: asyncio.Event
    retry_pause: float = 5.0
    think: tuple[float, float] = (2.0, 5.0)  # seconds between a customer's messages
    between: tuple[float, float] = (2.0, 6.0)  # seconds between a customer's conversations
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    run_id: str = field(default_factory=lambda: f"{int(time.time()) % 100000:05d}")


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep unless `stop` is set first; True when it was set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


def error_name(exc: BaseException) -> str:
    return "timeout" if isinstance(exc, TimeoutError | httpx.TimeoutException) else type(exc).__name__


# -- customers ----------------------------------------------------------------------------------------------


class RestConversation:
    def __init__(self, traffic: Traffic, client: httpx.AsyncClient, sender: str) -> None:
        self.traffic, self.client, self.sender = traffic, client, sender
        self.conversation_id = f"rest-{sender}"

    async def open(self) -> bool:
        return True

    async def close(self) -> None:
        return None

    async def attempt(self, said: Said) -> bool:
        headers = {"Authorization": f"Bearer {self.traffic.rest_token}"}
        body = {"sender": self.sender, "message": said.text}
        try:
            response = await self.client.post(
                "/webhooks/rest/webhook", json=body, headers=headers, timeout=ACK_TIMEOUT
            )
        except httpx.HTTPError as exc:
            self.traffic.ledger.error(f"rest: {error_name(exc)}")
            return False
        if response.status_code != 200:
            self.traffic.ledger.error(f"rest: HTTP {response.status_code}")
            return False
        with contextlib.suppress(ValueError):
            answer = response.json()
            said.replies = len(answer) if isinstance(answer, list) else None
        return True


class WidgetConversation:
    """A widget: its session token, one socket at a time, the last message id it showed."""

    def __init__(self, traffic: Traffic, client: httpx.AsyncClient) -> None:
        self.traffic, self.client = traffic, client
        self.conversation_id = ""
        self.token = ""
        self.cursor: str | None = None
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.pending: dict[str, asyncio.Future[tuple[str, str]]] = {}

    async def open(self) -> bool:
        """A new session (a new conversation); False when the hub did not give one."""
        try:
            response = await self.client.post("/api/widget/session", json={}, timeout=15)
        except httpx.HTTPError as exc:
            self.traffic.ledger.error(f"web session: {error_name(exc)}")
            return False
        if response.status_code != 201:
            self.traffic.ledger.error(f"web session: HTTP {response.status_code}")
            return False
        body = response.json()
        self.token, self.conversation_id = body["token"], body["conversation_id"]
        return True

    async def connect(self) -> bool:
        url = self.traffic.hub_url.replace("http", "ws", 1) + "/ws/widget"
        try:
            self.ws = await asyncio.wait_for(connect(url, open_timeout=10), 15)
            await self.ws.send(json.dumps({"type": "hello", "token": self.token, "after": self.cursor}))
            while True:
                frame = json.loads(await asyncio.wait_for(self.ws.recv(), 15))
                if frame.get("type") == "ready":
                    break
                if frame.get("type") == "error":
                    raise ConnectionError(f"hello refused: {frame.get('code')}")
        except (OSError, WebSocketException, TimeoutError, ValueError) as exc:
            self.traffic.ledger.error(f"web connect: {error_name(exc)}")
            await self.close()
            return False
        self.reader = asyncio.create_task(self.read(self.ws))
        return True

    async def read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                kind, client_id = frame.get("type"), frame.get("client_id")
                if kind == "message" and frame.get("id"):
                    self.cursor = frame["id"]
                elif kind in ("ack", "error") and client_id in self.pending:
                    future = self.pending.pop(client_id)
                    if not future.done():
                        future.set_result((kind, str(frame.get("code", ""))))
        except (WebSocketException, OSError, ValueError):
            pass
        finally:
            if self.ws is ws:
                self.ws = None
            for future in self.pending.values():
                if not future.done():
                    future.set_result(("closed", ""))
            self.pending.clear()

    async def close(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 5)
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader
            self.reader = None

    async def attempt(self, said: Said) -> bool:
        if self.ws is None and not await self.connect():
            return False
        assert self.ws is not None and said.client_id is not None
        future: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
        self.pending[said.client_id] = future
        frame = {"type": "message", "text": said.text, "client_id": said.client_id}
        try:
            await self.ws.send(json.dumps(frame, ensure_ascii=False))
            kind, code = await asyncio.wait_for(future, ACK_TIMEOUT)
        except (WebSocketException, OSError, TimeoutError) as exc:
            self.pending.pop(said.client_id, None)
            self.traffic.ledger.error(f"web send: {error_name(exc)}")
            await self.close()  # a socket that lost an ack is not trusted with the re-send
            return False
        if kind == "ack":
            return True
        self.traffic.ledger.error(f"web: {'socket closed' if kind == 'closed' else 'error frame ' + code}")
        if kind == "closed":
            await self.close()
        return False


Conversation = RestConversation | WidgetConversation


async def say(traffic: Traffic, conversation: Conversation, text: str, client_id: str | None) -> Said:
    channel = "web" if isinstance(conversation, WidgetConversation) else "rest"
    said = Said(conversation.conversation_id, channel, text, client_id, time.time())
    traffic.ledger.said.append(said)
    for attempt in (1, 2):
        said.attempts = attempt
        if await conversation.attempt(said):
            said.acked_at = time.time()
            return said
        # The retry waits on the agents' stop, not the customers': a customer told to stop still
        # finishes the message in hand.
        if attempt == 1 and await pause(traffic.stop_agents, traffic.retry_pause):
            break
    return said


async def customer(traffic: Traffic, number: int, count: int) -> None:
    """Conversation after conversation until told to stop: the scripts in turn, widget and REST in turn."""
    plans = scripts()
    rng = random.Random(number)
    cycle = 0
    async with httpx.AsyncClient(base_url=traffic.hub_url) as client:
        while not traffic.stop_customers.is_set():
            script = plans[(number + cycle * count) % len(plans)]
            conversation: Conversation
            if (number + cycle) % 2 == 0:
                conversation = WidgetConversation(traffic, client)
            else:
                sender = f"soak{traffic.run_id}-{number}-{cycle}"
                conversation = RestConversation(traffic, client, sender)
            cycle += 1
            if not await conversation.open():
                if await pause(traffic.stop_customers, traffic.retry_pause):
                    break
                continue
            traffic.ledger.conversations[conversation.conversation_id] = script.name
            try:
                for i, text in enumerate(script.messages):
                    if traffic.stop_customers.is_set():
                        break
                    client_id = f"m{i}" if isinstance(conversation, WidgetConversation) else None
                    await say(traffic, conversation, text, client_id)
                    if await pause(traffic.stop_customers, rng.uniform(*traffic.think)):
                        break
            except Exception as exc:  # a simulator's own failure is counted, and the next customer comes
                traffic.ledger.error(f"customer failed: {type(exc).__name__}")
            finally:
                await conversation.close()
            if await pause(traffic.stop_customers, rng.uniform(*traffic.between)):
                break


# -- agents -------------------------------------------------------------------------------------------------


@dataclass
class Agent:
    agent_id: str
    name: str
    token: str
    went_online: bool = False  # after that, going online again means the hub had set the agent away


GREETING = {
    "en": "Hi, this is {name} from the support team. Let me look into that for you.",
    "zh": "您好，我是客服{name}，我来帮您查一下。",
}
ANSWER = {
    "en": "Thanks for waiting: {name} has checked it, and it is on its way.",
    "zh": "感谢等待，{name}已经帮您查好了，正在配送中。",
}


async def create_agents(hub_url: str, admin_token: str, count: int, run_id: str) -> list[Agent]:
    """Agents with every skill and both languages (capacity 2), each with an API token."""
    names = ("Ana", "Ben", "Chen", "Dana", "Eli", "Fang", "Gus", "Hana")
    admin = {"Authorization": f"Bearer {admin_token}"}
    agents = []
    async with httpx.AsyncClient(base_url=hub_url, headers=admin, timeout=30) as client:
        for i in range(count):
            name = names[i % len(names)]
            agent_id = f"soak{run_id}-{name.lower()}-{i}"
            body = {
                "id": agent_id,
                "name": name,
                "languages": ["en", "zh"],
                "capacity": 2,
                "skills": dict.fromkeys(SKILLS, 0.8),
            }
            response = await client.post("/api/agents", json=body)
            response.raise_for_status()
            issued = await client.post(f"/api/agents/{agent_id}/tokens")
            issued.raise_for_status()
            agents.append(Agent(agent_id, name, issued.json()["token"]))
    return agents


@dataclass
class Chat:
    seen_at: float
    resolve_at: float
    replies: int = 0


async def agent_message(traffic: Traffic, client: httpx.AsyncClient, cid: str, text: str) -> bool:
    said = Said(cid, "agent", text, None, time.time(), attempts=1)
    traffic.ledger.agent_said.append(said)
    try:
        response = await client.post(f"/api/conversations/{cid}/messages", json={"text": text})
    except httpx.HTTPError as exc:
        traffic.ledger.error(f"agent reply: {error_name(exc)}")
        return False
    if response.status_code not in (200, 201):
        traffic.ledger.error(f"agent reply: HTTP {response.status_code}")
        return False
    said.acked_at = time.time()
    return True


async def work_inbox(
    traffic: Traffic, client: httpx.AsyncClient, agent: Agent, chats: dict[str, Chat]
) -> None:
    ledger = traffic.ledger
    response = await client.get("/api/console/inbox")
    if response.status_code != 200:
        ledger.error(f"agent inbox: HTTP {response.status_code}")
        return
    inbox: dict[str, Any] = response.json()
    if (inbox.get("agent") or {}).get("presence") != "online":
        presence = await client.put(f"/api/agents/{agent.agent_id}/presence", json={"presence": "online"})
        if presence.status_code == 200:
            ledger.online_again += agent.went_online
            agent.went_online = True
        else:
            ledger.error(f"agent presence: HTTP {presence.status_code}")
    for offer in inbox.get("offers", []):
        accepted = await client.post(f"/api/offers/{offer['conversation_id']}/accept")
        if accepted.status_code == 200:
            ledger.accepted += 1
        else:
            code = accepted.json().get("error", "") if accepted.status_code == 409 else ""
            ledger.error(f"agent accept: HTTP {accepted.status_code} {code}".rstrip())
    now = time.monotonic()
    held = {chat["conversation_id"]: chat for chat in inbox.get("chats", [])}
    for cid in set(chats) - set(held):
        del chats[cid]  # resolved, or taken back by a supervisor
    for cid, chat in held.items():
        state = chats.setdefault(cid, Chat(now, now + traffic.rng.uniform(12, 25)))
        language = chat.get("language") if chat.get("language") in GREETING else "en"
        if state.replies == 0 or (state.replies == 1 and now - state.seen_at > 6):
            template = GREETING if state.replies == 0 else ANSWER
            if await agent_message(traffic, client, cid, template[language].format(name=agent.name)):
                state.replies += 1
        elif now >= state.resolve_at:
            resolved = await client.post(f"/api/assignments/{cid}/resolve")
            if resolved.status_code == 200:
                ledger.resolved += 1
                del chats[cid]
            else:
                ledger.error(f"agent resolve: HTTP {resolved.status_code}")


async def agent_loop(traffic: Traffic, agent: Agent, poll: float = 1.0) -> None:
    """Poll the inbox like the console does after an event; go online, accept, answer, resolve."""
    chats: dict[str, Chat] = {}
    headers = {"Authorization": f"Bearer {agent.token}"}
    async with httpx.AsyncClient(base_url=traffic.hub_url, headers=headers, timeout=15) as client:
        while not traffic.stop_agents.is_set():
            try:
                await work_inbox(traffic, client, agent, chats)
            except httpx.HTTPError as exc:
                traffic.ledger.error(f"agent: {error_name(exc)}")
            except ValueError:
                traffic.ledger.error("agent: not JSON")
            except Exception as exc:  # counted; the agent goes on
                traffic.ledger.error(f"agent failed: {type(exc).__name__}")
            if await pause(traffic.stop_agents, poll):
                break

"""The Telegram channel against a real redis-server and a stand-in Bot API server on a local port.

The app's shared HTTP client carries both Rasa and Bot API calls (as in production). Its transport here
routes by host: the Bot API stand-in is a real HTTP server reached over the network stack, Rasa stays
the usual in-process MockTransport.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sanic import Sanic
from sanic.response import json as sanic_json

from handoff.blueprints.telegram import PATH, SECRET_HEADER, register, update_key
from handoff.channels.telegram import (
    CALLBACK_PREFIX,
    TEXT_ONLY_NOTICE,
    TelegramChannel,
    TelegramSettings,
)
from handoff.transcript import Message
from tests.integration.conftest import rasa_stand_in, transcript

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telegram"
BOT_TOKEN = "987654321:AAF-integration-token-abcdefghijklmnop"
SECRET = "telegram-webhook-secret-0123"
HEADERS = {SECRET_HEADER: SECRET}


class BotApiStandIn:
    """A real HTTP server that answers /bot<token>/<method> like the Bot API and records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures: list[tuple[int, dict[str, Any]]] = []
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                prefix, _, method = self.path.rpartition("/")
                with stand_in.lock:
                    if prefix != f"/bot{BOT_TOKEN}":
                        status, reply = 404, {"ok": False, "error_code": 404, "description": "Not Found"}
                    elif stand_in.failures:
                        status, reply = stand_in.failures.pop(0)
                    else:
                        stand_in.calls.append((method, body))
                        status, reply = 200, {"ok": True, "result": True}
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def fail_next(self, status: int, description: str, retry_after: int | None = None) -> None:
        reply: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            reply["parameters"] = {"retry_after": retry_after}
        with self.lock:
            self.failures.append((status, reply))

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        with self.lock:
            return [body for name, body in self.calls if name == method]


class RoutingTransport(httpx.AsyncBaseTransport):
    """Requests to the Bot API stand-in go over the network; everything else (Rasa) to the mock."""

    def __init__(self, api_port: int, fallback: httpx.AsyncBaseTransport) -> None:
        self._api_port = api_port
        self._network = httpx.AsyncHTTPTransport()
        self._fallback = fallback

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "127.0.0.1" and request.url.port == self._api_port:
            return await self._network.handle_async_request(request)
        return await self._fallback.handle_async_request(request)

    async def aclose(self) -> None:
        await self._network.aclose()
        await self._fallback.aclose()


@pytest.fixture
def bot_api() -> Iterator[BotApiStandIn]:
    stand_in = BotApiStandIn()
    thread = threading.Thread(target=stand_in.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        stand_in.server.shutdown()
        stand_in.server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def telegram_app(make_app: Callable[..., Sanic], bot_api: BotApiStandIn) -> Callable[..., Sanic]:
    def build(seen: list[dict] | None = None) -> Sanic:
        settings = TelegramSettings.from_env(
            {
                "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": SECRET,
                "TELEGRAM_API_URL": bot_api.url,
            }
        )
        assert settings is not None
        app = make_app(RoutingTransport(bot_api.port, rasa_stand_in([] if seen is None else seen)))
        register(app, settings)
        return app

    return build


def update(name: str, update_id: int, chat_id: int | None = None) -> dict[str, Any]:
    """A fixture update with a fresh update_id (and chat) so tests sharing the redis-server don't meet."""
    body = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    body["update_id"] = update_id
    if chat_id is not None:
        for holder in (body.get("message"), (body.get("callback_query") or {}).get("message")):
            if holder:
                holder["chat"]["id"] = chat_id
                if "from" in holder and holder["from"].get("is_bot") is False:
                    holder["from"]["id"] = chat_id
                if "contact" in holder:
                    holder["contact"]["user_id"] = chat_id
        if "callback_query" in body:
            body["callback_query"]["from"]["id"] = chat_id
    return body


def texts(redis_url: str, chat_id: int) -> list[tuple[str, str]]:
    return [(m["author"], m["text"]) for m in transcript(redis_url, f"telegram-{chat_id}")]


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong-secret-0123456789"}])
def test_a_missing_or_wrong_secret_is_401_and_nothing_is_stored(
    telegram_app, bot_api: BotApiStandIn, redis_url: str, headers: dict[str, str]
) -> None:
    app = telegram_app()
    _, response = app.test_client.post(PATH, json=update("private_text_en", 9100, 9100), headers=headers)
    assert response.status == 401
    assert response.json["error"] == "unauthorized"
    assert transcript(redis_url, "telegram-9100") == []
    assert bot_api.calls == []


def test_a_text_message_is_stored_and_the_reply_sent_to_the_chat(
    telegram_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    seen: list[dict] = []
    app = telegram_app(seen)
    _, response = app.test_client.post(PATH, json=update("private_text_en", 9201, 9201), headers=HEADERS)
    assert response.status == 200
    assert texts(redis_url, 9201) == [
        ("customer", "Where is my order #10482?"),
        ("bot", "echo: Where is my order #10482?"),
    ]
    assert seen[0]["sender"] == "telegram-9201"
    assert seen[0]["metadata"] == {"telegram_user_id": 9201, "language_code": "en", "channel": "telegram"}
    assert bot_api.sent() == [{"chat_id": 9201, "text": "echo: Where is my order #10482?"}]


def test_a_chinese_message_is_stored_as_it_is(telegram_app, bot_api: BotApiStandIn, redis_url: str) -> None:
    app = telegram_app()
    _, response = app.test_client.post(PATH, json=update("private_text_zh", 9202, 9202), headers=HEADERS)
    assert response.status == 200
    assert texts(redis_url, 9202)[0] == ("customer", "我的订单什么时候发货？")
    assert bot_api.sent() == [{"chat_id": 9202, "text": "echo: 我的订单什么时候发货？"}]


def test_a_retried_update_is_processed_once(telegram_app, bot_api: BotApiStandIn, redis_url: str) -> None:
    app = telegram_app()
    body = update("private_text_en", 9301, 9301)
    _, first = app.test_client.post(PATH, json=body, headers=HEADERS)
    _, retry = app.test_client.post(PATH, json=body, headers=HEADERS)
    assert (first.status, retry.status) == (200, 200)
    assert retry.json == {"ok": True, "duplicate": True}
    assert [author for author, _ in texts(redis_url, 9301)] == ["customer", "bot"]
    assert len(bot_api.sent()) == 1


def test_a_hub_failure_is_503_and_the_retry_is_processed(
    telegram_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    app = telegram_app()
    body = update("private_text_en", 9302, 9302)

    @app.after_server_start
    async def break_the_hub(app: Sanic) -> None:
        async def failing(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("redis went away")

        app.ctx.hub.customer_message = failing

    _, response = app.test_client.post(PATH, json=body, headers=HEADERS)
    assert response.status == 503
    assert texts(redis_url, 9302) == []

    app = telegram_app()  # the hub is back
    _, response = app.test_client.post(PATH, json=body, headers=HEADERS)
    assert response.status == 200
    assert [author for author, _ in texts(redis_url, 9302)] == ["customer", "bot"]


def test_an_update_still_in_progress_elsewhere_is_503(
    telegram_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    import redis as sync_redis

    client = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        client.set(update_key(9303), "processing", ex=60)  # another worker has it
    finally:
        client.close()
    app = telegram_app()
    _, response = app.test_client.post(PATH, json=update("private_text_en", 9303, 9303), headers=HEADERS)
    assert response.status == 503
    assert texts(redis_url, 9303) == []


def test_a_button_press_becomes_the_customer_message_and_is_answered(
    telegram_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    app = telegram_app()
    _, response = app.test_client.post(PATH, json=update("callback_query", 9401, 9401), headers=HEADERS)
    assert response.status == 200
    assert texts(redis_url, 9401)[0] == ("customer", '/inform{"return_reason":"wrong_size"}')
    assert bot_api.sent("answerCallbackQuery") == [{"callback_query_id": "2203162787612458519"}]
    assert bot_api.sent()[0]["chat_id"] == 9401


def test_a_long_payload_button_round_trips_through_redis(
    telegram_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    payload = '/inform{"return_reason":"not_as_described","note":"颜色和图片完全不一样"}'
    app = telegram_app()

    @app.post("/test/buttons")
    async def buttons(request: Any) -> Any:
        channel: TelegramChannel = request.app.ctx.telegram
        await channel.send("9402", "为什么退货？", [{"title": "与描述不符", "payload": payload}])
        return sanic_json({})

    app.test_client.post("/test/buttons")
    data = bot_api.sent()[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert data.startswith(CALLBACK_PREFIX)
    assert len(data.encode()) <= 64

    body = update("callback_query", 9402, 9402)
    body["callback_query"]["data"] = data
    _, response = app.test_client.post(PATH, json=body, headers=HEADERS)
    assert response.status == 200
    assert texts(redis_url, 9402)[0] == ("customer", payload)

    body = update("callback_query", 9403, 9403)
    body["callback_query"]["data"] = CALLBACK_PREFIX + "expired"
    _, response = app.test_client.post(PATH, json=body, headers=HEADERS)
    assert response.status == 200
    assert texts(redis_url, 9403) == []
    assert "expired" in bot_api.sent("answerCallbackQuery")[-1]["text"]


def test_a_shared_contact_is_passed_as_a_verified_phone(
    telegram_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    seen: list[dict] = []
    app = telegram_app(seen)
    _, response = app.test_client.post(PATH, json=update("contact_own", 9501, 9501), headers=HEADERS)
    assert response.status == 200
    assert texts(redis_url, 9501)[0] == ("customer", "+447700900123")
    assert seen[0]["metadata"]["verified_phone"] == "+447700900123"


def test_ignored_and_unsupported_updates_store_nothing(
    telegram_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    app = telegram_app()
    for n, name in enumerate(["edited_message", "group_message"]):
        _, response = app.test_client.post(PATH, json=update(name, 9600 + n), headers=HEADERS)
        assert response.status == 200
        assert "ignored" in response.json
    assert bot_api.calls == []
    _, response = app.test_client.post(PATH, json=update("photo", 9602, 9602), headers=HEADERS)
    assert response.status == 200
    assert texts(redis_url, 9602) == []
    assert bot_api.sent() == [{"chat_id": 9602, "text": TEXT_ONLY_NOTICE}]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "JSON"),
        ("", "JSON"),
        ("[1, 2]", "JSON object"),
        ('{"update_id": "7"}', "update_id"),
        ('{"update_id": 7, "message": {"chat": "private"}}', "message.chat"),
    ],
)
def test_malformed_bodies_are_400_with_a_message(
    telegram_app, bot_api: BotApiStandIn, content: str, message: str
) -> None:
    app = telegram_app()
    _, response = app.test_client.post(
        PATH, content=content, headers={**HEADERS, "Content-Type": "application/json"}
    )
    assert response.status == 400
    assert message in response.json["message"]
    assert bot_api.calls == []


def test_an_oversized_body_is_refused(telegram_app, bot_api: BotApiStandIn) -> None:
    app = telegram_app()
    body = update("private_text_en", 9701, 9701)
    body["message"]["text"] = "x" * 1_100_000
    _, response = app.test_client.post(PATH, json=body, headers=HEADERS)
    assert response.status == 413
    assert bot_api.calls == []


def test_a_rate_limited_reply_is_sent_after_retry_after(
    telegram_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    bot_api.fail_next(429, "Too Many Requests: retry after 1", retry_after=1)
    app = telegram_app()
    _, response = app.test_client.post(PATH, json=update("private_text_en", 9801, 9801), headers=HEADERS)
    assert response.status == 200
    assert bot_api.failures == []  # the 429 was answered, then the retry went through
    assert bot_api.sent() == [{"chat_id": 9801, "text": "echo: Where is my order #10482?"}]


def test_a_failed_reply_still_acknowledges_the_stored_message(
    telegram_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    bot_api.fail_next(403, "Forbidden: bot was blocked by the user")
    app = telegram_app()
    _, response = app.test_client.post(PATH, json=update("private_text_en", 9802, 9802), headers=HEADERS)
    assert response.status == 200  # a retry would only store the customer's message twice
    assert [author for author, _ in texts(redis_url, 9802)] == ["customer", "bot"]
    assert bot_api.sent() == []


def test_hub_pushes_reach_the_chat_and_internal_notes_never_do(
    telegram_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    app = telegram_app()

    @app.post("/test/push")
    async def push(request: Any) -> Any:
        # What agents and the router cause: notices pushed by the hub, agent messages via deliver.
        hub = request.app.ctx.hub
        channel: TelegramChannel = request.app.ctx.telegram
        await hub.system_notice("telegram-9901", "Dana from our support team has joined the chat.")
        await hub.system_notice("telegram-9901", "How would you rate it?", [{"title": "5", "payload": "5"}])
        await channel.deliver(
            "9901",
            [
                Message(author="system", text="handoff requested: refund", channel="telegram", internal=True),
                Message(author="agent", text="Hi Emma, I'm on it.", channel="telegram", agent_id="dana"),
            ],
        )
        return sanic_json({})

    _, response = app.test_client.post(PATH, json=update("private_text_en", 9901, 9901), headers=HEADERS)
    assert response.status == 200
    _, response = app.test_client.post("/test/push")
    assert response.status == 200
    assert bot_api.sent() == [
        {"chat_id": 9901, "text": "echo: Where is my order #10482?"},
        {"chat_id": 9901, "text": "Dana from our support team has joined the chat."},
        {
            "chat_id": 9901,
            "text": "How would you rate it?",
            "reply_markup": {"inline_keyboard": [[{"text": "5", "callback_data": "5"}]]},
        },
        {"chat_id": 9901, "text": "Hi Emma, I'm on it."},
    ]
    assert [m["text"] for m in transcript(redis_url, "telegram-9901") if m["author"] == "system"] == [
        "Dana from our support team has joined the chat.",
        "How would you rate it?",
    ]

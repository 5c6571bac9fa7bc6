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

from handoff import keys
from handoff.channels.telegram.channel import VERIFIED_PHONE_TTL_SECONDS, TelegramChannel
from handoff.channels.telegram.messages import CALLBACK_PREFIX, REMOVE_KEYBOARD, SHARE_CONTACT_PAYLOAD
from handoff.channels.telegram.notices import (
    EXPIRED_BUTTON_NOTICE,
    PHONE_VERIFIED_NOTICE,
    PHOTO_FAILED_NOTICE,
    PHOTO_TOO_LARGE_NOTICE,
    PHOTO_UNSUPPORTED_NOTICE,
    RATE_LIMITED_NOTICE,
    TEXT_ONLY_NOTICE,
    TOO_LONG_NOTICE,
    UNREADABLE_TEXT_NOTICE,
)
from handoff.channels.telegram.routes import PATH, SECRET_HEADER, register
from handoff.channels.telegram.settings import TelegramSettings
from handoff.channels.telegram.updates import VERIFIED_BY
from handoff.transcript import Message
from tests.integration.conftest import TOKEN, rasa_stand_in, transcript
from tests.unit.test_attachments import HTML, png

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
        self.files: dict[str, dict[str, Any]] = {}  # getFile results by file_id
        self.downloads: dict[str, bytes] = {}  # file contents by file_path
        self.download_status = 200
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
                    elif method == "getFile" and body.get("file_id") not in stand_in.files:
                        stand_in.calls.append((method, body))
                        status, reply = (
                            400,
                            {"ok": False, "error_code": 400, "description": "invalid file_id"},
                        )
                    else:
                        stand_in.calls.append((method, body))
                        result = stand_in.files[body["file_id"]] if method == "getFile" else True
                        status, reply = 200, {"ok": True, "result": result}
                self._send(status, json.dumps(reply).encode(), "application/json")

            def do_GET(self) -> None:  # file downloads: /file/bot<token>/<file_path>
                prefix = f"/file/bot{BOT_TOKEN}/"
                path = self.path.removeprefix(prefix)
                with stand_in.lock:
                    stand_in.calls.append(("download", {"file_path": path}))
                    data = stand_in.downloads.get(path) if self.path.startswith(prefix) else None
                    status = stand_in.download_status if data is not None else 404
                self._send(
                    status, data if status == 200 and data else b"Not Found", "application/octet-stream"
                )

            def _send(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
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

    def add_file(self, file_id: str, data: bytes, file_path: str, file_size: int | None = None) -> None:
        """A file getFile knows (with `file_size` as Telegram reports it) and the download serves."""
        with self.lock:
            self.files[file_id] = {
                "file_id": file_id,
                "file_unique_id": file_id[-8:],
                "file_size": len(data) if file_size is None else file_size,
                "file_path": file_path,
            }
            self.downloads[file_path] = data

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


def rasa_asking_for_contact(seen: list[dict]) -> httpx.MockTransport:
    """Rasa that asks an unverified customer to share their number and tells a verified one theirs."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/webhooks/hub/webhook":
            return httpx.Response(200, json={"status": "ok"})
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        body = json.loads(request.content)
        seen.append(body)
        phone = body["metadata"].get("verified_phone")
        if phone:
            return httpx.Response(200, json=[{"recipient_id": body["sender"], "text": f"verified {phone}"}])
        button = {"title": "Share my phone number", "payload": SHARE_CONTACT_PAYLOAD}
        reply = {"recipient_id": body["sender"], "text": "Please verify first.", "buttons": [button]}
        return httpx.Response(200, json=[reply])

    return httpx.MockTransport(handler)


@pytest.fixture
def telegram_app(make_app: Callable[..., Sanic], bot_api: BotApiStandIn) -> Callable[..., Sanic]:
    def build(
        seen: list[dict] | None = None,
        rasa: Callable[[list[dict]], httpx.MockTransport] = rasa_stand_in,
        **overrides: str,
    ) -> Sanic:
        settings = TelegramSettings.from_env(
            {
                "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": SECRET,
                "TELEGRAM_API_URL": bot_api.url,
            }
        )
        assert settings is not None
        app = make_app(RoutingTransport(bot_api.port, rasa([] if seen is None else seen)), **overrides)
        register(app, settings)
        return app

    return build


def update(name: str, update_id: int, chat_id: int | None = None) -> dict[str, Any]:
    """A fixture update with a fresh update_id (and chat) so tests sharing the redis-server don't meet;
    update ids are unique in this file, since a processed one is remembered for a day.

    A contact card gets a number of its own for the chat; an own contact stays the sender's.
    """
    body = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    body["update_id"] = update_id
    if chat_id is not None:
        for holder in (body.get("message"), (body.get("callback_query") or {}).get("message")):
            if holder:
                holder["chat"]["id"] = chat_id
                own = holder.get("contact", {}).get("user_id") == holder.get("from", {}).get("id")
                if "from" in holder and holder["from"].get("is_bot") is False:
                    holder["from"]["id"] = chat_id
                if "contact" in holder:
                    holder["contact"]["phone_number"] = phone_of(chat_id).removeprefix("+")
                    if own:
                        holder["contact"]["user_id"] = chat_id
        if "callback_query" in body:
            body["callback_query"]["from"]["id"] = chat_id
    return body


def phone_of(chat_id: int) -> str:
    """A number per test chat: identities link conversations across the whole redis-server."""
    return f"+4477009{chat_id:05d}"


def phone_key_ttl(redis_url: str, chat_id: int) -> tuple[str | None, int]:
    import redis as sync_redis

    client = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        key = keys.telegram_phone(str(chat_id))
        return client.get(key), client.ttl(key)
    finally:
        client.close()


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
    metadata = seen[0]["metadata"]
    assert (metadata["channel"], metadata["client_address"]) == ("telegram", "telegram:9201")
    assert "verified_phone" not in metadata and "verified_by" not in metadata
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
        client.set(keys.telegram_update(9303), "processing", ex=60)  # another worker has it
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

    for n, data in enumerate([CALLBACK_PREFIX + "expired", CALLBACK_PREFIX + "not/an/id"]):
        body = update("callback_query", 9403 + n, 9403 + n)
        body["callback_query"]["data"] = data
        _, response = app.test_client.post(PATH, json=body, headers=HEADERS)
        assert response.status == 200
        assert texts(redis_url, 9403 + n) == []
        assert bot_api.sent("answerCallbackQuery")[-1]["text"] == EXPIRED_BUTTON_NOTICE


def test_a_shared_own_contact_verifies_the_chat_and_removes_the_keyboard(
    telegram_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    seen: list[dict] = []
    app = telegram_app(seen)
    _, response = app.test_client.post(PATH, json=update("contact_own", 9501, 9501), headers=HEADERS)
    assert response.status == 200
    assert texts(redis_url, 9501)[0] == ("customer", phone_of(9501))
    assert seen[0]["message"] == phone_of(9501)
    assert seen[0]["metadata"]["verified_phone"] == phone_of(9501)
    assert seen[0]["metadata"]["verified_by"] == VERIFIED_BY
    assert seen[0]["metadata"]["client_address"] == "telegram:9501"
    assert bot_api.sent() == [
        {"chat_id": 9501, "text": f"echo: {phone_of(9501)}", "reply_markup": REMOVE_KEYBOARD}
    ]
    phone, ttl = phone_key_ttl(redis_url, 9501)
    assert phone == phone_of(9501)
    assert VERIFIED_PHONE_TTL_SECONDS - 60 < ttl <= VERIFIED_PHONE_TTL_SECONDS


def test_the_assistant_asks_for_the_contact_and_later_messages_carry_the_phone(
    telegram_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    seen: list[dict] = []
    app = telegram_app(seen, rasa=rasa_asking_for_contact)
    _, response = app.test_client.post(PATH, json=update("private_text_en", 9511, 9511), headers=HEADERS)
    assert response.status == 200
    (asking,) = bot_api.sent()
    assert asking["reply_markup"] == {
        "keyboard": [[{"text": "Share my phone number", "request_contact": True}]],
        "one_time_keyboard": True,
        "resize_keyboard": True,
    }

    _, response = app.test_client.post(PATH, json=update("contact_own", 9512, 9511), headers=HEADERS)
    assert response.status == 200
    assert bot_api.sent()[-1] == {
        "chat_id": 9511,
        "text": f"verified {phone_of(9511)}",
        "reply_markup": REMOVE_KEYBOARD,
    }

    app = telegram_app(seen, rasa=rasa_asking_for_contact)  # another worker: the phone is in Redis
    for n, name in enumerate(["private_text_en", "callback_query"]):
        _, response = app.test_client.post(PATH, json=update(name, 9513 + n, 9511), headers=HEADERS)
        assert response.status == 200
    assert [m["metadata"].get("verified_phone") for m in seen] == [None, *[phone_of(9511)] * 3]
    assert [m["metadata"].get("verified_by") for m in seen] == [None, *[VERIFIED_BY] * 3]
    assert all("reply_markup" not in body for body in bot_api.sent()[-2:])  # nothing left to remove


@pytest.mark.parametrize(
    ("name", "chat_id"),
    [("contact_other_user", 9521), ("contact_without_user_id", 9522), ("contact_forwarded", 9523)],
)
def test_a_contact_telegram_does_not_vouch_for_is_unverified_text(
    telegram_app, bot_api: BotApiStandIn, redis_url: str, name: str, chat_id: int
) -> None:
    seen: list[dict] = []
    app = telegram_app(seen, rasa=rasa_asking_for_contact)
    _, response = app.test_client.post(PATH, json=update(name, chat_id, chat_id), headers=HEADERS)
    assert response.status == 200
    assert texts(redis_url, chat_id)[0] == ("customer", phone_of(chat_id).removeprefix("+"))
    _, response = app.test_client.post(
        PATH, json=update("private_text_en", chat_id * 10, chat_id), headers=HEADERS
    )
    assert response.status == 200
    assert [("verified_phone" in m["metadata"], "verified_by" in m["metadata"]) for m in seen] == [
        (False, False),
        (False, False),
    ]
    assert phone_key_ttl(redis_url, chat_id) == (None, -2)
    sent = bot_api.sent()
    assert [body["text"] for body in sent] == ["Please verify first."] * 2
    assert all(body["reply_markup"] != REMOVE_KEYBOARD for body in sent)


def test_a_contact_while_an_agent_has_the_chat_still_removes_the_keyboard(
    telegram_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    import redis as sync_redis

    client = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        client.hset("hub:conv:telegram-9531", "owner", "agent")  # the assistant does not answer now
    finally:
        client.close()
    seen: list[dict] = []
    app = telegram_app(seen)
    _, response = app.test_client.post(PATH, json=update("contact_own", 9531, 9531), headers=HEADERS)
    assert response.status == 200
    assert seen == []
    assert texts(redis_url, 9531) == [("customer", phone_of(9531))]
    assert bot_api.sent() == [
        {"chat_id": 9531, "text": PHONE_VERIFIED_NOTICE, "reply_markup": REMOVE_KEYBOARD}
    ]


def test_ignored_and_unsupported_updates_store_nothing(
    telegram_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    app = telegram_app()
    for n, name in enumerate(["edited_message", "group_message"]):
        _, response = app.test_client.post(PATH, json=update(name, 9600 + n), headers=HEADERS)
        assert response.status == 200
        assert "ignored" in response.json
    assert bot_api.calls == []
    body = update("photo", 9602, 9602)
    body["message"]["sticker"] = body["message"].pop("photo")
    _, response = app.test_client.post(PATH, json=body, headers=HEADERS)
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


def test_json_nested_too_deeply_is_400_not_500(telegram_app, bot_api: BotApiStandIn) -> None:
    app = telegram_app()
    content = '{"update_id": 7, "message": ' + "[" * 200_000 + "]" * 200_000 + "}"
    _, response = app.test_client.post(
        PATH, content=content, headers={**HEADERS, "Content-Type": "application/json"}
    )
    assert response.status == 400
    assert "nested" in response.json["message"]
    assert bot_api.calls == []


@pytest.mark.parametrize(
    ("text", "chat_id"),
    [("\ud83d order", 9711), ("\u0000\u0007 \n", 9712)],  # a lone surrogate; nothing readable
)
def test_unreadable_text_is_answered_with_a_notice_and_not_stored(
    telegram_app, bot_api: BotApiStandIn, redis_url: str, text: str, chat_id: int
) -> None:
    app = telegram_app()
    body = update("private_text_en", chat_id, chat_id)
    body["message"]["text"] = "@@TEXT@@"
    content = json.dumps(body).replace('"@@TEXT@@"', json.dumps(text))  # JSON escapes, as sent on the wire
    _, response = app.test_client.post(
        PATH, content=content, headers={**HEADERS, "Content-Type": "application/json"}
    )
    assert response.status == 200  # a 4xx would make Telegram retry and hold up the chat
    assert texts(redis_url, chat_id) == []
    assert bot_api.sent() == [{"chat_id": chat_id, "text": UNREADABLE_TEXT_NOTICE}]


def test_a_message_over_the_hub_limit_is_answered_with_a_notice(
    telegram_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    app = telegram_app(HUB_MAX_MESSAGE_CHARS="50")
    body = update("private_text_en", 9721, 9721)
    body["message"]["text"] = "x" * 51
    _, response = app.test_client.post(PATH, json=body, headers=HEADERS)
    assert response.status == 200
    assert texts(redis_url, 9721) == []
    assert bot_api.sent() == [{"chat_id": 9721, "text": TOO_LONG_NOTICE.format(limit=50)}]


def test_messages_over_the_per_minute_limit_are_answered_with_a_notice(
    telegram_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    app = telegram_app(HUB_MESSAGES_PER_MINUTE="1")
    for n in range(3):  # one-minute windows: at least one of the last two shares a window with another
        _, response = app.test_client.post(
            PATH, json=update("private_text_en", 9731 + n, 9730), headers=HEADERS
        )
        assert response.status == 200
    refused = [b for b in bot_api.sent() if b["text"].startswith(RATE_LIMITED_NOTICE.split("{")[0])]
    stored = [author for author, _ in texts(redis_url, 9730) if author == "customer"]
    assert 1 <= len(refused) <= 2
    assert len(stored) == 3 - len(refused)


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


# -- photos ---------------------------------------------------------------------------------------------

PHOTO_LIMIT = 65536  # the smallest HUB_ATTACHMENT_MAX_BYTES
SMALL_ID = "AgACAgQAAxkBAAIBpWZnQ2x1c3RvbWVyX3Bob3RvX3NtYWxsAAJbwDEbJ8Q5U2RpAAEC"  # photo.json's sizes
LARGE_ID = "AgACAgQAAxkBAAIBpWZnQ2x1c3RvbWVyX3Bob3RvX2xhcmdlAAJbwDEbJ8Q5U2RpAAED"
DOCUMENT_ID = "BQACAgQAAxkBAAIBpmZnQ2x1c3RvbWVyX2RvY3VtZW50X3BuZwACW8AxGyfEOVM0"  # document_image.json


@pytest.fixture
def photo_app(telegram_app, tmp_path: Path) -> Callable[..., Sanic]:
    def build(seen: list[dict] | None = None) -> Sanic:
        return telegram_app(
            seen,
            HUB_ATTACHMENTS_DIR=str(tmp_path / "attachments"),
            HUB_ATTACHMENT_MAX_BYTES=str(PHOTO_LIMIT),
        )

    return build


def stored_file(tmp_path: Path, attachment_id: str) -> bytes:
    return (tmp_path / "attachments" / attachment_id).read_bytes()


def customer_messages(redis_url: str, chat_id: int) -> list[dict[str, Any]]:
    return [m for m in transcript(redis_url, f"telegram-{chat_id}") if m["author"] == "customer"]


def test_a_photo_reaches_the_transcript_as_an_attachment_and_the_store_keeps_it(
    photo_app, bot_api: BotApiStandIn, redis_url: str, tmp_path: Path
) -> None:
    seen: list[dict] = []
    app = photo_app(seen)
    photo = png(40, 30)
    bot_api.add_file(LARGE_ID, photo, "photos/file_12.png")
    body = update("photo", 9951, 9951)
    body["message"]["caption"] = "The box arrived crushed"
    _, response = app.test_client.post(PATH, json=body, headers=HEADERS)
    assert response.status == 200
    (message,) = customer_messages(redis_url, 9951)
    assert message["text"] == "The box arrived crushed"
    (ref,) = message["attachments"]
    assert (ref["content_type"], ref["size"]) == ("image/png", len(photo))
    assert stored_file(tmp_path, ref["id"]) == photo
    # The largest size within the limit was fetched: getFile, then the download.
    assert [name for name, _ in bot_api.calls[:2]] == ["getFile", "download"]
    assert bot_api.sent("getFile") == [{"file_id": LARGE_ID}]
    assert seen[0]["message"].startswith("The box arrived crushed")  # the assistant gets a stand-in too
    assert bot_api.sent()[0]["chat_id"] == 9951


def test_an_image_document_is_kept_with_its_declared_type(
    photo_app, bot_api: BotApiStandIn, redis_url: str, tmp_path: Path
) -> None:
    app = photo_app()
    photo = png(3, 3)
    bot_api.add_file(DOCUMENT_ID, photo, "documents/file_3.png")
    _, response = app.test_client.post(PATH, json=update("document_image", 9952, 9952), headers=HEADERS)
    assert response.status == 200
    (message,) = customer_messages(redis_url, 9952)
    (ref,) = message["attachments"]
    assert ref["content_type"] == "image/png"
    assert stored_file(tmp_path, ref["id"]) == photo


def test_a_photo_over_the_limit_is_refused_before_the_download(
    photo_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    app = photo_app()
    body = update("photo", 9953, 9953)
    for size in body["message"]["photo"]:
        size["file_size"] = PHOTO_LIMIT + 1  # every size: nothing to fetch at all
    _, response = app.test_client.post(PATH, json=body, headers=HEADERS)
    assert response.status == 200
    assert customer_messages(redis_url, 9953) == []
    assert bot_api.sent() == [{"chat_id": 9953, "text": PHOTO_TOO_LARGE_NOTICE.format(limit="0.1")}]
    assert bot_api.sent("getFile") == [] and bot_api.sent("download") == []

    # The update says nothing of its size, getFile does: still refused before the download.
    bot_api.add_file(DOCUMENT_ID, png(2, 2), "documents/file_4.png", file_size=PHOTO_LIMIT * 4)
    body = update("document_image", 9954, 9954)
    del body["message"]["document"]["file_size"]
    _, response = app.test_client.post(PATH, json=body, headers=HEADERS)
    assert response.status == 200
    assert customer_messages(redis_url, 9954) == []
    assert bot_api.sent()[-1]["text"].startswith(PHOTO_TOO_LARGE_NOTICE.split("(")[0])
    assert bot_api.sent("getFile") == [{"file_id": DOCUMENT_ID}]
    assert bot_api.sent("download") == []


def test_a_document_that_is_not_an_image_is_refused_politely(
    photo_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    app = photo_app()
    _, response = app.test_client.post(PATH, json=update("document_pdf", 9955, 9955), headers=HEADERS)
    assert response.status == 200
    assert customer_messages(redis_url, 9955) == []
    assert bot_api.sent() == [{"chat_id": 9955, "text": TEXT_ONLY_NOTICE}]
    assert bot_api.sent("getFile") == []


@pytest.mark.parametrize(
    ("mime_type", "content", "chat_id"),
    [
        ("image/gif", b"GIF89a", 9956),  # an image type the store does not keep: never downloaded
        ("image/png", HTML, 9957),  # a page dressed up as a PNG: downloaded, refused by its bytes
    ],
)
def test_a_picture_the_store_refuses_gets_a_notice(
    photo_app, bot_api: BotApiStandIn, redis_url: str, mime_type: str, content: bytes, chat_id: int
) -> None:
    app = photo_app()
    bot_api.add_file(DOCUMENT_ID, content, f"documents/file_{chat_id}.png")
    body = update("document_image", chat_id, chat_id)
    body["message"]["document"]["mime_type"] = mime_type
    _, response = app.test_client.post(PATH, json=body, headers=HEADERS)
    assert response.status == 200
    assert customer_messages(redis_url, chat_id) == []
    assert bot_api.sent() == [{"chat_id": chat_id, "text": PHOTO_UNSUPPORTED_NOTICE}]


@pytest.mark.parametrize("failure", ["get_file", "download"])
def test_a_download_failure_is_answered_politely_and_never_a_500(
    photo_app, bot_api: BotApiStandIn, redis_url: str, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    chat_id = 9958 if failure == "get_file" else 9959
    app = photo_app()
    if failure == "download":
        bot_api.add_file(LARGE_ID, png(2, 2), "photos/file_9.jpg")
        bot_api.download_status = 502
    with caplog.at_level("DEBUG"):
        _, response = app.test_client.post(PATH, json=update("photo", chat_id, chat_id), headers=HEADERS)
    assert response.status == 200  # Telegram must not retry
    assert customer_messages(redis_url, chat_id) == []
    assert bot_api.sent() == [{"chat_id": chat_id, "text": PHOTO_FAILED_NOTICE}]
    assert BOT_TOKEN not in caplog.text  # neither the download URL nor any Bot API URL


def test_a_photo_retried_by_telegram_is_stored_once(
    photo_app, bot_api: BotApiStandIn, redis_url: str
) -> None:
    app = photo_app()
    bot_api.add_file(LARGE_ID, png(2, 2), "photos/file_10.png")
    body = update("photo", 9960, 9960)
    for _ in range(2):
        _, response = app.test_client.post(PATH, json=body, headers=HEADERS)
        assert response.status == 200
    assert len(customer_messages(redis_url, 9960)) == 1
    assert len(bot_api.sent("download")) == 1

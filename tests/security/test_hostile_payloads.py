"""Hostile input on every public entry point: the REST channel, the widget's session and socket, sign-in,
Telegram. Each refusal is the documented one (413 over a cap, 400 naming what is wrong, an error frame on
the widget's socket, which stays open), never a 500, and a refused message is stored nowhere and never
reaches the assistant.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import httpx
import pytest
import websockets

from handoff.channels.telegram.notices import TOO_LONG_NOTICE, UNREADABLE_TEXT_NOTICE
from handoff.channels.telegram.routes import PATH as TELEGRAM
from tests.integration.conftest import ADMIN, REST_AUTH, transcript
from tests.integration.live_app import serving
from tests.integration.test_telegram_channel import HEADERS, BotApiStandIn, update
from tests.security import rawhttp
from tests.widget_client import Widget, new_session

pytestmark = pytest.mark.integration

WEBHOOK = "/webhooks/rest/webhook"
MESSAGES = "/webhooks/rest/messages"
SESSION = "/api/widget/session"
CAP = 64 * 1024  # HUB_MAX_BODY_BYTES
MAX_CHARS = 4000  # HUB_MAX_MESSAGE_CHARS
INVISIBLE = "\u202e\u200b\u2066\u2069\ufeff\u200e\u061c\u2060"  # bidirectional controls, zero-width
BLANK_TEXTS = {
    "bidirectional and zero-width only": INVISIBLE,
    "a lone zero-width joiner": "\u200d",
    "control characters only": "\x00\x07\x1b\x7f\x9b",
    "blank look-alikes": "\u3164\u2800\u115f",
    "white space only": " \t\n\u3000",
}
BAD_CURSORS = [
    "garbage",
    "-1",
    "1-",
    "0-0-0",
    "1e3-0",
    " 1-0",
    "١-1",  # an Arabic-Indic digit: a digit to Python, not to Redis
    "18446744073709551616-0",  # past 64 bits
    "18446744073709551615-18446744073709551615",  # the largest id: nothing can come after it
]


Hub = tuple[str, list[dict[str, Any]]]  # the served app's URL, and what the Rasa stand-in received


def sender() -> str:
    return f"h-{uuid.uuid4().hex[:12]}"


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


async def chunks(total: int) -> AsyncIterator[bytes]:
    yield b'{"sender": "a", "message": "hi", "padding": "'
    for _ in range(total // 4096):
        yield b"x" * 4096


def rest_body(sender: str, message: str) -> bytes:
    return json.dumps({"sender": sender, "message": message}).encode()


# REST bodies: (body for a sender, expected status, the field the 400 names or None)
REST_CASES: dict[str, tuple[Callable[[str], bytes], int, str | None]] = {
    "a body over the cap": (lambda s: json.dumps({"sender": s, "message": "x" * CAP}).encode(), 413, None),
    "a message over HUB_MAX_MESSAGE_CHARS": (
        lambda s: json.dumps({"sender": s, "message": "x" * (MAX_CHARS + 1)}).encode(),
        400,
        "message",
    ),
    "JSON deeper than the parser goes": (
        lambda s: f'{{"sender": "{s}", "message": "hi", "x": {deep(30_000)}}}'.encode(),
        400,
        None,
    ),
    "a lone surrogate in the message": (
        lambda s: f'{{"sender": "{s}", "message": "hi \\ud800"}}'.encode(),
        400,
        "message",
    ),
    "a lone low surrogate in the sender": (
        lambda s: f'{{"sender": "{s}\\udfff", "message": "hi"}}'.encode(),
        400,
        "sender",
    ),
    "a lone surrogate in metadata": (
        lambda s: f'{{"sender": "{s}", "message": "hi", "metadata": {{"locale": "\\ud83d"}}}}'.encode(),
        400,
        "metadata.locale",
    ),
    "bytes that are not UTF-8": (
        lambda s: f'{{"sender": "{s}", "message": "'.encode() + b'\xff"}',
        400,
        None,
    ),
    "a message that is a number": (
        lambda s: f'{{"sender": "{s}", "message": 1e999}}'.encode(),
        400,
        "message",
    ),
    "a message that is an object": (
        lambda s: json.dumps({"sender": s, "message": {"text": "hi"}}).encode(),
        400,
        "message",
    ),
    "a body that is a list": (lambda s: json.dumps([s, "hi"]).encode(), 400, None),
    "a body that is not JSON": (lambda s: f"sender={s}&message=hi".encode(), 400, None),
    "a sender too long for a conversation id": (
        lambda s: json.dumps({"sender": s + "x" * 120, "message": "hi"}).encode(),
        400,
        "sender",
    ),
    **{name: (partial(rest_body, message=text), 400, "message") for name, text in BLANK_TEXTS.items()},
}


@pytest.fixture
async def hub(telegram_app: Callable[..., Any], hub_env: dict[str, str]) -> AsyncIterator[Hub]:
    """Every public entry point, Telegram included, served; yields its URL and what Rasa received."""
    seen: list[dict[str, Any]] = []
    async with serving(telegram_app(seen, **hub_env)) as base:
        yield base, seen


async def test_every_http_entry_point_refuses_hostile_input(
    hub: Hub, bot_api: BotApiStandIn, db_url: str, subtests: pytest.Subtests
) -> None:
    """One server for the HTTP entry points (each start costs seconds); each part is a subtest."""
    await rest_channel(hub, db_url, subtests)
    await bad_cursors(hub, subtests)
    await widget_session_and_sign_in(hub, subtests)
    await bodies_over_their_cap(hub, subtests)
    await telegram_updates(hub, bot_api, db_url, subtests)


async def rest_channel(hub: Hub, db_url: str, subtests: pytest.Subtests) -> None:
    """The REST channel refuses hostile bodies and stores nothing of them."""
    base, seen = hub
    before = len(seen)
    async with httpx.AsyncClient(base_url=base) as client:
        for name, (body, status, field) in REST_CASES.items():
            with subtests.test(msg=name):
                who = sender()
                response = await client.post(WEBHOOK, content=body(who), headers=REST_AUTH)
                assert response.status_code == status, response.text
                assert response.json().get("field") == field
                assert transcript(db_url, f"rest-{who}") == []
        with subtests.test(msg="a chunked body without a length, cut off at the cap"):
            response = await client.post(WEBHOOK, content=chunks(4 * CAP), headers=REST_AUTH)
            assert response.status_code == 413
        assert len(seen) == before

        with subtests.test(msg="controls inside a message are removed, the rest is kept"):
            who = sender()
            typed = "my invoice\u202egnp.exe\x1b[31m is \x00wrong\u200b"
            response = await client.post(WEBHOOK, json={"sender": who, "message": typed}, headers=REST_AUTH)
            assert response.status_code == 200
            stored = transcript(db_url, f"rest-{who}")[0]["text"]
            assert stored == "my invoicegnp.exe[31m is wrong" == seen[-1]["message"]


async def bad_cursors(hub: Hub, subtests: pytest.Subtests) -> None:
    """A message id Redis cannot take as a stream position is a 400 (an error on the widget's socket)."""
    base, _ = hub
    admin = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(base_url=base) as client:
        who = sender()
        await client.post(WEBHOOK, json={"sender": who, "message": "hi"}, headers=REST_AUTH)
        token = (await new_session(client))["token"]
        for after in BAD_CURSORS:
            with subtests.test(msg=after):
                response = await client.get(
                    MESSAGES, params={"sender": who, "after": after}, headers=REST_AUTH
                )
                assert (response.status_code, response.json().get("field")) == (400, "after")
                path = f"/api/conversations/rest-{who}/messages"
                response = await client.get(path, params={"after": after}, headers=admin)
                assert (response.status_code, response.json().get("field")) == (400, "after")
                refused = await Widget(base, token).connect(after=after)
                assert refused["type"] == "error"


async def widget_session_and_sign_in(hub: Hub, subtests: pytest.Subtests) -> None:
    """The public routes that take a body besides the REST channel: 413 over the cap, 400 or 401 else."""
    base, _ = hub
    cases: dict[str, tuple[bytes, set[int]]] = {
        "a body over the cap": (json.dumps({"identity": "x" * CAP}).encode(), {413}),
        "JSON deeper than the parser goes": (f'{{"identity": {deep(30_000)}}}'.encode(), {400}),
        "a body that is a list": (b"[]", {400}),
        "a body that is not JSON": (b"identity=x", {400}),
        "bytes that are not UTF-8": (b'{"token": "\xff"}', {400, 401}),
        "a lone surrogate as the identity": (b'{"identity": "\\ud800.\\udc00"}', {401}),
        "a lone surrogate as the token": (b'{"token": "\\udfff"}', {401}),
        "an identity that is an object": (b'{"identity": {"sub": "cust-1"}}', {401}),
        "a long identity": (json.dumps({"identity": "a." + "b" * 60_000}).encode(), {401}),
    }
    async with httpx.AsyncClient(base_url=base) as client:
        for name, (body, statuses) in cases.items():
            with subtests.test(msg=f"widget session: {name}"):
                response = await client.post(SESSION, content=body)
                assert response.status_code in statuses, response.text
        with subtests.test(msg="widget session: a chunked body cut off at the cap"):
            response = await client.post(SESSION, content=chunks(4 * CAP))
            assert response.status_code == 413
        sign_in = {
            "JSON deeper than the parser goes": (f'{{"user_id": {deep(30_000)}}}'.encode(), {400}),
            "a body that is a list": (b"[]", {400}),
            "a lone surrogate as the password": (
                b'{"user_id": "root", "password": "\\ud800xxxxxxxxxx"}',
                {400, 401},
            ),
            "a lone surrogate as the user": (
                b'{"user_id": "\\ud800", "password": "xxxxxxxxxxxx"}',
                {400, 401},
            ),
            "a password longer than any": (
                json.dumps({"user_id": "r", "password": "p" * 10_000}).encode(),
                {400, 401},
            ),
        }
        for name, (body, statuses) in sign_in.items():
            with subtests.test(msg=f"sign-in: {name}"):
                response = await client.post(
                    "/api/session", content=body, headers={"Content-Type": "application/json"}
                )
                assert response.status_code in statuses, response.text


async def bodies_over_their_cap(hub: Hub, subtests: pytest.Subtests) -> None:
    """A body announced larger than any cap (1 MiB for routes that read their body whole; 64 KB, 1 MB or
    the photo limit on the streamed ones) is refused from its length, before a byte of it is read, on
    every kind of route: public, streamed, and behind a token or session the caller does not have."""
    base, _ = hub
    announced = str(32 * 1024 * 1024)
    for method, path in (
        ("POST", "/api/session"),
        ("POST", "/api/tickets"),
        ("POST", "/api/handoffs"),
        ("PUT", "/api/routing/weights"),
        ("POST", WEBHOOK),
        ("POST", SESSION),
        ("POST", TELEGRAM),
        ("POST", "/api/widget/attachments"),
    ):
        with subtests.test(msg=f"{method} {path}"):
            head = rawhttp.request(
                method, path, {"Content-Type": "application/json", "Content-Length": announced}
            )
            response = await rawhttp.exchange(base, head)
            assert response.status in (401, 413), response.body[:200]


async def test_the_widget_socket_answers_hostile_frames_with_errors_and_stays_open(
    hub: Hub, db_url: str, subtests: pytest.Subtests
) -> None:
    base, seen = hub
    async with httpx.AsyncClient(base_url=base) as client:
        session = await new_session(client)
    widget = Widget(base, session["token"])
    await widget.connect()

    async def frame(raw: str | bytes) -> dict[str, Any]:
        await widget.ws.send(raw)
        return await widget.next("ack", "error")

    def message(text: Any, client_id: Any = "c1") -> str:
        return json.dumps({"type": "message", "text": text, "client_id": client_id})

    bad_messages = {
        **BLANK_TEXTS,
        "a lone surrogate": "hi \ud800",
        "a message over HUB_MAX_MESSAGE_CHARS": "x" * (MAX_CHARS + 1),
    }
    for n, (name, text) in enumerate(bad_messages.items()):
        with subtests.test(msg=name):
            answer = await frame(message(text, f"bad{n}"))
            assert (answer["type"], answer["code"], answer["client_id"]) == (
                "error",
                "bad_message",
                f"bad{n}",
            )
    frames: dict[str, str | bytes] = {
        "a number as text": message(12),
        "an object as text": message({"text": "hi"}),
        "JSON deeper than the parser goes": deep(5000),
        "a frame that is a list": "[]",
        "bytes that are not UTF-8": b"\xff\xfe",
        "a client id with spaces": message("hi", "a b"),
        "a client id too long": message("hi", "c" * 65),
        "a lone surrogate as the type": json.dumps({"type": "\ud800"}),
    }
    for name, raw in frames.items():
        with subtests.test(msg=name):
            answer = await frame(raw)
            assert answer["type"] == "error" and answer["code"] in ("bad_frame", "bad_message")
    with subtests.test(msg="controls inside a message are removed"):
        assert (await frame(message("my\x1b[2J order\u202e is late", "ok1")))["type"] == "ack"
    await widget.ws.send(json.dumps({"type": "ping"}))
    await widget.next("pong")  # still open after all of it
    with subtests.test(msg="a frame over 64 KB closes the socket (1009) and stores nothing"):
        await widget.ws.send(message("x" * (64 * 1024)))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await widget.next("ack", "error")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    customer = [
        m["text"] for m in transcript(db_url, session["conversation_id"]) if m["author"] == "customer"
    ]
    assert customer == ["my[2J order is late"]
    assert [s["message"] for s in seen] == customer


async def telegram_updates(hub: Hub, bot_api: BotApiStandIn, db_url: str, subtests: pytest.Subtests) -> None:
    """Telegram: what is not an update is a 4xx; unreadable text is answered with a notice, not stored."""
    base, seen = hub
    before = len(seen)
    chat = 7300001
    async with httpx.AsyncClient(base_url=base) as client:
        requests: dict[str, tuple[bytes, int]] = {
            "a body over 1 MB": (json.dumps({"update_id": 1, "x": "y" * 1_000_001}).encode(), 413),
            "JSON deeper than the parser goes": (f'{{"update_id": 2, "x": {deep(30_000)}}}'.encode(), 400),
            "not JSON": (b"update_id=3", 400),
            "an update id that is a boolean": (b'{"update_id": true}', 400),
            "an update id past 64 bits": (b'{"update_id": 18446744073709551616}', 400),
            "a negative update id": (b'{"update_id": -1}', 400),
            "a chat id that is a string": (
                json.dumps({**update("private_text_en", 4, chat), "message": {"chat": {"id": "1"}}}).encode(),
                400,
            ),
        }
        for name, (body, status) in requests.items():
            with subtests.test(msg=name):
                response = await client.post(TELEGRAM, content=body, headers=HEADERS)
                assert response.status_code == status, response.text
        unreadable = {
            **BLANK_TEXTS,
            "a lone surrogate": "hi \ud800",
            "a message over HUB_MAX_MESSAGE_CHARS": "x" * (MAX_CHARS + 1),
        }
        for n, (name, text) in enumerate(unreadable.items()):
            with subtests.test(msg=f"text: {name}"):
                message = update("private_text_en", 100 + n, chat)
                message["message"]["text"] = text
                response = await client.post(TELEGRAM, content=json.dumps(message), headers=HEADERS)
                assert response.status_code == 200  # answered with a notice: a 4xx would hold up the chat
    assert transcript(db_url, f"telegram-{chat}") == [] and len(seen) == before
    notices = {body["text"] for body in bot_api.sent()}
    assert notices <= {UNREADABLE_TEXT_NOTICE, TOO_LONG_NOTICE.format(limit=MAX_CHARS)}
    # Text that is only white space is no text to Telegram's parser: dropped like a service message.
    assert len(bot_api.sent()) == len(unreadable) - 1

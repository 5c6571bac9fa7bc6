"""The Telegram channel without a network: settings, parsing, buttons, text splitting, Bot API errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from common.env import SettingsError
from handoff import keys
from handoff.channels.base import DeliveryFailed
from handoff.channels.telegram.api import BotApi, FileTooLarge
from handoff.channels.telegram.channel import VERIFIED_PHONE_TTL_SECONDS, TelegramChannel
from handoff.channels.telegram.messages import (
    BUTTONS_ONLY_TEXT,
    CALLBACK_PREFIX,
    MAX_CALLBACK_BYTES,
    MAX_TEXT_UNITS,
    REMOVE_KEYBOARD,
    SHARE_CONTACT_PAYLOAD,
    SHARE_CONTACT_TITLE,
    callback_key,
    contact_keyboard,
    inline_callback_data,
    message_bodies,
    short_callback_id,
    split_text,
    utf16_units,
    with_keyboard_removed,
)
from handoff.channels.telegram.notices import PHONE_VERIFIED_NOTICE
from handoff.channels.telegram.settings import TelegramSettings
from handoff.channels.telegram.updates import (
    GREET_PAYLOAD,
    VERIFIED_BY,
    TelegramFile,
    UpdateError,
    normalize_phone,
    parse_update,
    pick_photo,
    readable_text,
)
from handoff.inbound import TRUSTED_KEYS
from handoff.transcript import Message

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telegram"
TOKEN = "123456789:AAH-abcdefghijklmnopqrstuvwxyz_012345"
SECRET = "webhook-secret-0123456789"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


# -- settings ---------------------------------------------------------------------------------------------


def test_settings_are_off_without_a_token() -> None:
    assert TelegramSettings.from_env({}) is None
    assert TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": ""}) is None


def test_valid_settings_with_defaults_and_hidden_secrets() -> None:
    settings = TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET})
    assert settings == TelegramSettings(TOKEN, SECRET, "https://api.telegram.org")
    assert TOKEN not in repr(settings)
    assert SECRET not in repr(settings)


def test_local_http_api_url_is_allowed() -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_API_URL": "http://127.0.0.1:8081/",
    }
    settings = TelegramSettings.from_env(env)
    assert settings is not None
    assert settings.api_url == "http://127.0.0.1:8081"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_BOT_TOKEN": "123456789:short"}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_BOT_TOKEN": "abc:AAH-abcdefghijklmnopqrstuvwxyz_012345"}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_BOT_TOKEN": TOKEN}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": "short"}, "TELEGRAM_WEBHOOK_SECRET"),
        (
            {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": "has spaces and ! marks 123"},
            "TELEGRAM_WEBHOOK_SECRET",
        ),
        ({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": "x" * 257}, "TELEGRAM_WEBHOOK_SECRET"),
        (
            {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_API_URL": "ftp://x"},
            "TELEGRAM_API_URL",
        ),
    ],
)
def test_invalid_settings_name_the_variable_without_echoing_secrets(
    env: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError, match=variable) as caught:
        TelegramSettings.from_env(env)
    assert TOKEN not in str(caught.value)
    assert env.get("TELEGRAM_WEBHOOK_SECRET", "\0") not in str(caught.value)


# -- parsing ----------------------------------------------------------------------------------------------


def test_private_text_in_english() -> None:
    update = parse_update(fixture("private_text_en"))
    assert update.kind == "text"
    assert update.update_id == 733810001
    assert update.text == "Where is my order #10482?"
    assert update.conversation_id == "telegram-5128849321"
    assert update.address == "5128849321"
    assert update.metadata() == {"client_address": "telegram:5128849321", "client": {"locale": "en"}}


def test_private_text_in_chinese() -> None:
    update = parse_update(fixture("private_text_zh"))
    assert update.kind == "text"
    assert update.text == "我的订单什么时候发货？"
    assert update.metadata() == {"client_address": "telegram:6203417755", "client": {"locale": "zh-hans"}}


def test_callback_query_carries_the_button_data() -> None:
    update = parse_update(fixture("callback_query"))
    assert update.kind == "callback"
    assert update.text == '/inform{"return_reason":"wrong_size"}'
    assert update.callback_query_id == "2203162787612458519"
    assert update.conversation_id == "telegram-5128849321"


def test_own_contact_is_a_verified_phone() -> None:
    update = parse_update(fixture("contact_own"))
    assert update.kind == "contact"
    assert update.text == "+447700900123"
    assert update.verified_phone == "+447700900123"
    assert update.metadata() == {
        "client_address": "telegram:5128849321",
        "verified_phone": "+447700900123",
        "verified_by": VERIFIED_BY,
        "client": {"locale": "en"},
    }
    assert set(update.metadata()) <= TRUSTED_KEYS  # nothing the hub would drop


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("contact_other_user", "+447700900456"),  # a friend's card from the attachment menu
        ("contact_without_user_id", "07700 900789"),  # a phone-book entry not on Telegram
        ("contact_forwarded", "447700900123"),  # the sender's own card, but forwarded
    ],
)
def test_a_contact_that_telegram_does_not_vouch_for_is_unverified_text(name: str, text: str) -> None:
    update = parse_update(fixture(name))
    assert update.kind == "text"
    assert update.text == text
    assert update.verified_phone is None
    assert "verified_phone" not in update.metadata()
    assert "verified_by" not in update.metadata()


@pytest.mark.parametrize(
    "change",
    [
        {"user_id": True},  # equal to 1 in Python, but not an id
        {"user_id": "5128849321"},
        {"user_id": None},
    ],
)
def test_only_the_senders_own_integer_id_verifies(change: dict[str, Any]) -> None:
    body = fixture("contact_own")
    body["message"]["from"]["id"] = body["message"]["chat"]["id"] = 1
    body["message"]["contact"].update(change)
    assert parse_update(body).verified_phone is None


def test_a_contact_sent_through_an_inline_bot_is_not_verified() -> None:
    body = fixture("contact_own")
    body["message"]["via_bot"] = {"id": 42, "is_bot": True, "first_name": "Cards"}
    assert parse_update(body).verified_phone is None


def test_a_contact_without_a_number_is_unsupported() -> None:
    body = fixture("contact_own")
    del body["message"]["contact"]["phone_number"]
    assert parse_update(body).kind == "unsupported"


def test_a_remembered_phone_verifies_later_messages_and_a_new_contact_wins() -> None:
    text = parse_update(fixture("private_text_en"))
    assert text.metadata("+447700900123")["verified_phone"] == "+447700900123"
    assert text.metadata("+447700900123")["verified_by"] == VERIFIED_BY
    assert "verified_by" not in text.metadata(None)
    contact = parse_update(fixture("contact_own"))
    assert contact.metadata("+8613800138000")["verified_phone"] == "+447700900123"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("edited_message", "'edited_message' updates are not handled"),
        ("group_message", "only private chats are handled"),
    ],
)
def test_edits_and_group_chats_are_ignored(name: str, reason: str) -> None:
    update = parse_update(fixture(name))
    assert update.kind == "ignored"
    assert update.reason == reason


def test_a_photo_carries_its_sizes_smallest_first() -> None:
    update = parse_update(fixture("photo"))
    assert update.kind == "photo"
    assert update.address == "5128849321"
    assert update.text == ""  # no caption
    assert [(f.width, f.file_size, f.mime_type) for f in update.files] == [
        (90, 1302, None),
        (1280, 64210, None),
    ]
    assert update.files[1].file_id.endswith("X2xhcmdlAAJbwDEbJ8Q5U2RpAAED")
    assert update.metadata()["client_address"] == "telegram:5128849321"


def test_a_photo_caption_is_the_text() -> None:
    body = fixture("photo")
    body["message"]["caption"] = "The box arrived crushed"
    assert parse_update(body).text == "The box arrived crushed"
    body["message"]["caption"] = "   "
    assert parse_update(body).text == ""


def test_an_image_document_is_a_photo_with_its_declared_type() -> None:
    update = parse_update(fixture("document_image"))
    assert update.kind == "photo"
    assert update.text == "The box arrived crushed"
    (file,) = update.files
    assert (file.mime_type, file.file_size) == ("image/png", 48213)


def test_a_document_that_is_not_an_image_is_unsupported() -> None:
    update = parse_update(fixture("document_pdf"))
    assert update.kind == "unsupported"
    assert "document" in update.reason
    body = fixture("document_image")
    del body["message"]["document"]["mime_type"]  # no declared type: not taken for a picture
    assert parse_update(body).kind == "unsupported"


@pytest.mark.parametrize(
    "photo",
    [[], [{"file_id": "../../etc/passwd", "file_size": 10}], [{"file_size": 10}], "not a list"],
)
def test_a_photo_without_a_usable_file_is_unsupported(photo: object) -> None:
    body = fixture("photo")
    body["message"]["photo"] = photo
    assert parse_update(body).kind == "unsupported"


def test_the_largest_photo_size_within_the_limit_is_picked() -> None:
    sizes = parse_update(fixture("photo")).files
    assert pick_photo(sizes, 5 * 1024 * 1024) == sizes[1]
    assert pick_photo(sizes, 64209) == sizes[0]
    assert pick_photo(sizes, 1000) is None
    unknown = TelegramFile("abc", None, None, 2560, 1920)
    assert pick_photo([*sizes, unknown], 1000) == unknown  # getFile tells its size


def test_channel_posts_and_other_update_types_are_ignored() -> None:
    assert parse_update({"update_id": 1, "channel_post": {"message_id": 1}}).kind == "ignored"
    assert parse_update({"update_id": 2, "my_chat_member": {}}).kind == "ignored"


@pytest.mark.parametrize(
    ("text", "param"),
    [
        ("/start", None),
        ("/start promo-summer", "promo-summer"),
        ("/start@shop_bot", None),
        ("/start promo!summer", None),  # outside Telegram's deep-link alphabet
        ("/start " + "x" * 65, None),
    ],
)
def test_start_command_becomes_a_greeting(text: str, param: str | None) -> None:
    body = fixture("private_text_en")
    body["message"]["text"] = text
    update = parse_update(body)
    assert update.text == GREET_PAYLOAD
    assert update.start_param == param
    assert update.metadata()["client"].get("telegram_start") == param


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "JSON object"),
        ({}, "update_id"),
        ({"update_id": "1"}, "update_id"),
        ({"update_id": True}, "update_id"),
        ({"update_id": -5}, "update_id"),
        ({"update_id": 1, "message": "hi"}, "message"),
        ({"update_id": 1, "message": {"text": "hi"}}, "message.chat"),
        ({"update_id": 1, "message": {"chat": {"id": "12", "type": "private"}}}, "message.chat.id"),
        ({"update_id": 1, "message": {"chat": {"id": 12, "type": "private"}, "text": "hi"}}, "message.from"),
        ({"update_id": 1, "callback_query": {"from": {"id": 1}}}, "callback_query.id"),
        ({"update_id": 1, "callback_query": {"id": "\ud800", "from": {"id": 1}}}, "callback_query.id"),
        ({"update_id": 2**63}, "update_id"),
        ({"update_id": 1, "message": {"chat": {"id": 10**30, "type": "private"}}}, "message.chat.id"),
    ],
)
def test_wrong_shapes_are_update_errors_naming_the_field(body: object, field: str) -> None:
    with pytest.raises(UpdateError, match=field):
        parse_update(body)


@pytest.mark.parametrize(
    ("raw", "phone"),
    [
        ("447700900123", "+447700900123"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("12", None),
        (None, None),
        ("07700 900789", None),  # a national number: no country code
    ],
)
def test_phone_numbers_are_normalised(raw: object, phone: str | None) -> None:
    assert normalize_phone(raw) == phone


def test_a_language_code_that_is_not_a_language_tag_is_dropped() -> None:
    body = fixture("private_text_en")
    body["message"]["from"]["language_code"] = "en\u202e<script>"
    assert "client" not in parse_update(body).metadata()


# -- text normalisation -----------------------------------------------------------------------------------


def test_readable_text_keeps_what_customers_write() -> None:
    assert readable_text("Where is my order SO-10001021?") == "Where is my order SO-10001021?"
    assert readable_text("我的订单什么时候发货？") == "我的订单什么时候发货？"


@pytest.mark.parametrize("text", ["\ud800", "order \udfff", " \n\t "])
def test_unreadable_text_is_none(text: str) -> None:
    assert readable_text(text) is None


# -- callback data --------------------------------------------------------------------------------------


def test_short_payloads_are_sent_as_they_are() -> None:
    assert inline_callback_data("/affirm") == "/affirm"
    assert inline_callback_data("x" * MAX_CALLBACK_BYTES) == "x" * MAX_CALLBACK_BYTES
    assert inline_callback_data("x" * (MAX_CALLBACK_BYTES + 1)) is None


def test_the_limit_is_in_utf8_bytes_not_characters() -> None:
    payload = '/inform{"return_reason":"不想要了，七天无理由退货退款"}'
    assert len(payload) < MAX_CALLBACK_BYTES < len(payload.encode())
    assert inline_callback_data(payload) is None


def test_payloads_that_look_like_short_ids_are_always_stored() -> None:
    assert inline_callback_data(CALLBACK_PREFIX + "abc") is None


def test_short_ids_are_stable_and_fit() -> None:
    payload = "/inform" + json.dumps({"return_reason": "not_as_described", "order_id": "A" * 80})
    short = short_callback_id(payload)
    assert short == short_callback_id(payload)
    assert short != short_callback_id(payload + " ")
    assert short.startswith(CALLBACK_PREFIX)
    assert len(short.encode()) <= MAX_CALLBACK_BYTES
    assert callback_key(short) == f"hub:telegram:cb:{short.removeprefix(CALLBACK_PREFIX)}"


# -- text splitting -------------------------------------------------------------------------------------


def test_short_text_is_one_chunk_and_empty_text_none() -> None:
    assert split_text("hello") == ["hello"]
    assert split_text("") == []
    assert split_text("  \n ") == []


def test_long_text_splits_at_line_breaks_under_the_limit() -> None:
    lines = [f"line {n}: " + "x" * 90 for n in range(100)]
    text = "\n".join(lines)
    chunks = split_text(text)
    assert len(chunks) == 3
    assert all(utf16_units(c) <= MAX_TEXT_UNITS for c in chunks)
    assert "\n".join(chunks) == text
    assert all(chunk.endswith("x") for chunk in chunks)


def test_text_without_breaks_is_cut_hard() -> None:
    chunks = split_text("a" * 10_000)
    assert [len(c) for c in chunks] == [4096, 4096, 1808]


def test_emoji_count_as_two_units_and_are_never_cut_in_half() -> None:
    text = "😀" * 3000  # 6000 UTF-16 units
    chunks = split_text(text)
    assert [len(c) for c in chunks] == [2048, 952]
    assert "".join(chunks) == text


def test_chinese_text_splits_after_a_full_stop() -> None:
    sentence = "您的退款已经处理完毕，预计三到五个工作日到账。"
    text = sentence * 400
    chunks = split_text(text)
    assert all(c.endswith("。") and utf16_units(c) <= MAX_TEXT_UNITS for c in chunks)
    assert "".join(chunks) == text


# -- delivery ---------------------------------------------------------------------------------------------


class FakeRedis:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.ttls: dict[str, int] = {}

    async def set(self, key: str, value: str, ex: int | None = None, nx: bool = False) -> bool:
        self.values[key] = value
        self.ttls[key] = ex or -1
        return True

    async def get(self, key: str) -> str | None:
        return self.values.get(key)


class FakeBotApi:
    """A Bot API behind httpx.MockTransport: a queue of canned failures, then ok."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures: list[httpx.Response] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[-1]
        self.calls.append((method, json.loads(request.content)))
        if self.failures:
            return self.failures.pop(0)
        return httpx.Response(200, json={"ok": True, "result": {"message_id": len(self.calls)}})


@pytest.fixture
def api() -> FakeBotApi:
    return FakeBotApi()


@pytest.fixture
def redis() -> FakeRedis:
    return FakeRedis()


@pytest.fixture
async def channel(api: FakeBotApi, redis: FakeRedis):
    async with httpx.AsyncClient(transport=httpx.MockTransport(api.handler)) as client:
        clients = SimpleNamespace(http=client, redis=redis)
        yield TelegramChannel(TelegramSettings(TOKEN, SECRET), clients)


async def test_deliver_sends_each_visible_message_and_skips_internal_notes(
    channel: TelegramChannel, api: FakeBotApi
) -> None:
    await channel.deliver(
        "5128849321",
        [
            Message(author="system", text="Dana joined", channel="telegram"),
            Message(author="system", text="handoff requested: refund", channel="telegram", internal=True),
            Message(author="agent", text="Hi, I'm Dana", channel="telegram", agent_id="a1"),
        ],
    )
    assert [(m, c["chat_id"], c["text"]) for m, c in api.calls] == [
        ("sendMessage", 5128849321, "Dana joined"),
        ("sendMessage", 5128849321, "Hi, I'm Dana"),
    ]


async def test_buttons_become_an_inline_keyboard_with_long_payloads_stored(
    channel: TelegramChannel, api: FakeBotApi
) -> None:
    long_payload = '/inform{"return_reason":"not_as_described","note":"与描述不符，颜色不一样"}'
    buttons = [
        {"title": "Wrong size", "payload": '/inform{"return_reason":"wrong_size"}'},
        {"title": "与描述不符", "payload": long_payload},
    ]
    await channel.send("42", "Why are you returning it?", buttons)
    keyboard = api.calls[0][1]["reply_markup"]["inline_keyboard"]
    assert keyboard[0] == [{"text": "Wrong size", "callback_data": '/inform{"return_reason":"wrong_size"}'}]
    short = keyboard[1][0]["callback_data"]
    assert short.startswith(CALLBACK_PREFIX)
    assert all(len(row[0]["callback_data"].encode()) <= MAX_CALLBACK_BYTES for row in keyboard)
    assert await channel.resolve_callback(short) == long_payload
    assert await channel.resolve_callback("/affirm") == "/affirm"
    assert await channel.resolve_callback(CALLBACK_PREFIX + "expired") is None
    assert await channel.resolve_callback(CALLBACK_PREFIX + "not an id \ud800") is None


async def test_short_survey_buttons_share_one_row(channel: TelegramChannel, api: FakeBotApi) -> None:
    buttons = [{"title": str(n), "payload": str(n)} for n in range(1, 6)]
    await channel.send("42", "How would you rate the help?", buttons)
    assert [len(row) for row in api.calls[0][1]["reply_markup"]["inline_keyboard"]] == [5]


async def test_long_text_is_sent_in_parts_with_buttons_on_the_last(
    channel: TelegramChannel, api: FakeBotApi
) -> None:
    await channel.send("42", "word " * 2000, [{"title": "Yes", "payload": "/affirm"}])
    assert len(api.calls) == 3
    assert ["reply_markup" in c for _, c in api.calls] == [False, False, True]


async def test_rate_limit_is_waited_out_once() -> None:
    fake = FakeBotApi()
    fake.failures = [
        httpx.Response(
            429,
            json={"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3",
                  "parameters": {"retry_after": 3}},
        )
    ]  # fmt: skip
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as client:
        api = BotApi(TelegramSettings(TOKEN, SECRET), lambda: client, sleep=sleep)
        assert await api.call("sendMessage", {"chat_id": 1, "text": "hi"}) == {"message_id": 2}
        assert slept == [3.0]
        fake.failures = [_too_many(1), _too_many(1)]
        with pytest.raises(DeliveryFailed, match="429"):
            await api.call("sendMessage", {"chat_id": 1, "text": "hi"})
        fake.failures = [_too_many(3600)]
        calls = len(fake.calls)
        with pytest.raises(DeliveryFailed, match="Too Many Requests"):
            await api.call("sendMessage", {"chat_id": 1, "text": "hi"})
        assert len(fake.calls) == calls + 1  # an hour's back-off is not waited out


def _too_many(seconds: int) -> httpx.Response:
    return httpx.Response(
        429,
        json={
            "ok": False,
            "error_code": 429,
            "description": f"Too Many Requests: retry after {seconds}",
            "parameters": {"retry_after": seconds},
        },
    )


async def test_errors_carry_telegrams_description_and_never_the_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/sendMessage"):
            return httpx.Response(
                400, json={"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
            )
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        api = BotApi(TelegramSettings(TOKEN, SECRET), lambda: client)
        with pytest.raises(DeliveryFailed, match="chat not found"):
            await api.call("sendMessage", {"chat_id": 1, "text": "hi"})
        with pytest.raises(DeliveryFailed) as caught:
            await api.call("answerCallbackQuery", {"callback_query_id": "1"})
        assert "ConnectError" in str(caught.value)
        assert TOKEN not in str(caught.value)


def test_the_bot_token_is_redacted_from_http_client_logs(caplog: pytest.LogCaptureFixture) -> None:
    from handoff.channels.telegram.routes import _redact_token_in_http_logs

    _redact_token_in_http_logs(TOKEN)
    with caplog.at_level(logging.INFO, logger="httpx"):
        url = httpx.URL(f"https://api.telegram.org/bot{TOKEN}/sendMessage")
        logging.getLogger("httpx").info('HTTP Request: %s %s "%s"', "POST", url, "HTTP/1.1 200 OK")
    assert TOKEN not in caplog.text
    assert "/bot<bot-token>/sendMessage" in caplog.text


# -- phone verification -----------------------------------------------------------------------------------


def test_the_contact_button_is_a_one_time_request_contact_keyboard() -> None:
    keyboard = contact_keyboard({"title": "分享我的手机号", "payload": SHARE_CONTACT_PAYLOAD})
    assert keyboard == {
        "keyboard": [[{"text": "分享我的手机号", "request_contact": True}]],
        "one_time_keyboard": True,
        "resize_keyboard": True,
    }
    assert (
        contact_keyboard({"payload": SHARE_CONTACT_PAYLOAD})["keyboard"][0][0]["text"] == SHARE_CONTACT_TITLE
    )


def test_a_contact_request_beside_inline_buttons_gets_a_message_of_its_own() -> None:
    inline = {"inline_keyboard": [[{"text": "No", "callback_data": "/deny"}]]}
    contact = contact_keyboard({"title": "Share my phone number"})
    bodies = message_bodies(["Can you verify?"], inline, contact)
    assert bodies == [
        {"text": "Can you verify?", "reply_markup": inline},
        {"text": BUTTONS_ONLY_TEXT, "reply_markup": contact},
    ]
    assert message_bodies(["Can you verify?"], None, contact) == [
        {"text": "Can you verify?", "reply_markup": contact}
    ]
    assert message_bodies([], None, contact) == [{"text": BUTTONS_ONLY_TEXT, "reply_markup": contact}]


def test_the_keyboard_is_removed_by_the_first_part_without_one() -> None:
    inline = {"inline_keyboard": [[{"text": "Yes", "callback_data": "/affirm"}]]}
    assert with_keyboard_removed([{"text": "Thanks"}]) == [
        {"text": "Thanks", "reply_markup": REMOVE_KEYBOARD}
    ]
    assert with_keyboard_removed([{"text": "part 1"}, {"text": "part 2", "reply_markup": inline}]) == [
        {"text": "part 1", "reply_markup": REMOVE_KEYBOARD},
        {"text": "part 2", "reply_markup": inline},
    ]
    assert with_keyboard_removed([{"text": "Anything else?", "reply_markup": inline}]) is None
    asking_again = [{"text": BUTTONS_ONLY_TEXT, "reply_markup": contact_keyboard({})}]
    assert with_keyboard_removed(asking_again) == asking_again  # the new keyboard replaces the old one


async def test_share_contact_buttons_render_as_a_request_contact_keyboard(
    channel: TelegramChannel, api: FakeBotApi
) -> None:
    buttons = [
        {"title": "Share my phone number", "payload": SHARE_CONTACT_PAYLOAD},
        {"title": "Type the order details instead", "payload": "/deny"},
    ]
    await channel.send("42", "To show your orders I need to verify you.", buttons)
    (_, first), (_, second) = api.calls
    assert first["reply_markup"] == {
        "inline_keyboard": [[{"text": "Type the order details instead", "callback_data": "/deny"}]]
    }
    assert second["reply_markup"]["keyboard"] == [
        [{"text": "Share my phone number", "request_contact": True}]
    ]
    assert second["reply_markup"]["one_time_keyboard"] is True
    assert "callback_data" not in json.dumps(second)  # the payload itself never reaches Telegram


async def test_the_answer_to_a_contact_removes_the_keyboard_once(
    channel: TelegramChannel, api: FakeBotApi
) -> None:
    replies = [
        Message(author="bot", text="Thanks, you're verified.", channel="telegram"),
        Message(author="bot", text="Which order?", channel="telegram"),
    ]
    await channel.deliver("42", replies, remove_keyboard=True)
    assert [c.get("reply_markup") for _, c in api.calls] == [REMOVE_KEYBOARD, None]


async def test_a_notice_removes_the_keyboard_when_no_reply_can(
    channel: TelegramChannel, api: FakeBotApi
) -> None:
    buttons = [{"title": "Yes", "payload": "/affirm"}]
    replies = [
        Message(author="system", text="handoff requested", channel="telegram", internal=True),
        Message(author="bot", text="Anything else?", channel="telegram", buttons=buttons),
    ]
    await channel.deliver("42", replies, remove_keyboard=True)
    assert [c["text"] for _, c in api.calls] == ["Anything else?", PHONE_VERIFIED_NOTICE]
    assert api.calls[1][1]["reply_markup"] == REMOVE_KEYBOARD
    api.calls.clear()
    await channel.deliver("42", [])  # an ordinary answer leaves the keyboard alone
    await channel.deliver("42", [Message(author="bot", text="Hi", channel="telegram")])
    assert [c.get("reply_markup") for _, c in api.calls] == [None]


async def test_a_verified_phone_is_remembered_for_the_chat_for_a_month(
    channel: TelegramChannel, redis: FakeRedis
) -> None:
    assert await channel.remembered_phone("42") is None
    await channel.remember_phone("42", "+447700900123")
    assert await channel.remembered_phone("42") == "+447700900123"
    assert await channel.remembered_phone("43") is None
    assert redis.ttls[keys.telegram_phone("42")] == VERIFIED_PHONE_TTL_SECONDS
    assert keys.telegram_phone("42") == "hub:telegram:phone:42"


# -- photos: getFile and the download ---------------------------------------------------------------------


class FakeFiles:
    """getFile and the file download behind httpx.MockTransport."""

    def __init__(
        self, data: bytes, file_size: int | None = None, file_path: str = "photos/file_7.jpg"
    ) -> None:
        self.data = data
        self.file_size = len(data) if file_size is None else file_size
        self.file_path = file_path
        self.requests: list[str] = []
        self.download_status = 200

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        if request.url.path == f"/bot{TOKEN}/getFile":
            result = {"file_id": json.loads(request.content)["file_id"], "file_unique_id": "u1"}
            result |= {"file_size": self.file_size, "file_path": self.file_path}
            return httpx.Response(200, json={"ok": True, "result": result})
        if request.url.path == f"/file/bot{TOKEN}/{self.file_path}" and request.method == "GET":
            return httpx.Response(self.download_status, content=self.data)
        return httpx.Response(404, json={"ok": False, "description": "Not Found"})


async def _channel_for(files: FakeFiles) -> tuple[TelegramChannel, httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(files.handler))
    return TelegramChannel(
        TelegramSettings(TOKEN, SECRET), SimpleNamespace(http=client, redis=FakeRedis())
    ), client


async def test_a_file_is_fetched_with_get_file_then_downloaded() -> None:
    files = FakeFiles(b"\xff\xd8\xff photo bytes")
    channel, client = await _channel_for(files)
    async with client:
        data, path = await channel.fetch_file(TelegramFile("abc", None), 1000)
    assert (data, path) == (b"\xff\xd8\xff photo bytes", "photos/file_7.jpg")
    assert files.requests == [f"/bot{TOKEN}/getFile", f"/file/bot{TOKEN}/photos/file_7.jpg"]


async def test_a_file_over_the_limit_is_refused_before_the_download() -> None:
    files = FakeFiles(b"x" * 100, file_size=5000)
    channel, client = await _channel_for(files)
    async with client:
        with pytest.raises(FileTooLarge):
            await channel.fetch_file(TelegramFile("abc", 5000), 1000)  # the update's own figure
        assert files.requests == []
        with pytest.raises(FileTooLarge):
            await channel.fetch_file(TelegramFile("abc", None), 1000)  # getFile's figure
        assert files.requests == [f"/bot{TOKEN}/getFile"]
        files.file_size = 10  # Telegram understated it: the download stops past the limit
        files.data = b"x" * 5000
        with pytest.raises(FileTooLarge):
            await channel.fetch_file(TelegramFile("abc", None), 1000)


@pytest.mark.parametrize("file_path", ["../bot/other", "/etc/passwd", "photos/../../x", ""])
async def test_an_unexpected_file_path_is_never_requested(file_path: str) -> None:
    files = FakeFiles(b"x", file_path=file_path)
    channel, client = await _channel_for(files)
    async with client:
        with pytest.raises(DeliveryFailed):
            await channel.fetch_file(TelegramFile("abc", None), 1000)
    assert files.requests == [f"/bot{TOKEN}/getFile"]


async def test_a_failed_download_is_delivery_failed_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = FakeFiles(b"x")
    files.download_status = 502
    channel, client = await _channel_for(files)
    async with client:
        with pytest.raises(DeliveryFailed, match="502") as caught:
            await channel.fetch_file(TelegramFile("abc", None), 1000)
    assert TOKEN not in str(caught.value)

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(unreachable)) as client:
        api = BotApi(TelegramSettings(TOKEN, SECRET), lambda: client)
        with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryFailed) as caught:
            await api.download("photos/file_7.jpg", 1000)
    assert "ConnectError" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert TOKEN not in caplog.text

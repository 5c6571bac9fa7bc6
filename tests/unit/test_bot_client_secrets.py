"""Rasa's API token travels in the query string; it must never reach a log line or an exception text."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable

import httpx
import pytest

from handoff.bot_client import BotUnavailable, RasaBot, RedactTokens, redact_tokens

API_TOKEN = "rasa-api-secret-0123456789"
CHANNEL_TOKEN = "channel-token-0123456789"
Handler = Callable[[httpx.Request], httpx.Response]


def bot_with(handler: Handler) -> tuple[RasaBot, httpx.AsyncClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(record))
    return RasaBot(client, "http://127.0.0.1:5005", CHANNEL_TOKEN, 2.0, API_TOKEN), client, seen


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record as a handler would print it, with its exception and stack, plus its extra fields."""
    formatter = logging.Formatter("%(name)s %(message)s")
    parts = []
    for record in caplog.records:
        parts.append(formatter.format(record))
        parts.append(json.dumps({k: str(v) for k, v in record.__dict__.items() if k not in ("exc_info",)}))
    return "\n".join(parts)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # the most a deployment could turn on
    return caplog


async def test_a_successful_resume_logs_the_request_without_the_token(
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    bot, client, seen = bot_with(lambda request: httpx.Response(200, json={"messages": [{"text": "hi"}]}))
    async with client:
        replies = await bot.resume("conv-1", "greet")
    assert [r.text for r in replies] == ["hi"]
    assert all(request.url.params["token"] == API_TOKEN for request in seen)  # Rasa still gets it
    http_lines = [r.getMessage() for r in debug_logs.records if r.name == "httpx"]
    assert len(http_lines) == 2  # httpx did log both requests: redacted, not silenced
    assert all("token=***" in line for line in http_lines)
    assert API_TOKEN not in everything_logged(debug_logs)


@pytest.mark.parametrize(
    "failure",
    [
        lambda request: httpx.Response(401, json={"message": "unauthorized"}, request=request),
        lambda request: httpx.Response(500, text="oops", request=request),
        lambda request: httpx.Response(200, text="not json", request=request),
    ],
)
async def test_a_failed_resume_names_no_token_in_logs_or_the_exception(
    debug_logs: pytest.LogCaptureFixture, failure: Handler
) -> None:
    bot, client, _ = bot_with(failure)
    async with client:
        with pytest.raises(BotUnavailable) as raised:
            await bot.resume("conv-2", "greet")
    logging.getLogger("handoff.hub").warning("hub.bot.resume_failed", exc_info=raised.value)
    shown = "".join(traceback.format_exception(raised.value))  # what any later traceback would print
    assert API_TOKEN not in shown
    assert API_TOKEN not in everything_logged(debug_logs)
    assert str(raised.value)  # still says what went wrong


async def test_a_transport_error_quoting_the_url_is_redacted(debug_logs: pytest.LogCaptureFixture) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    bot, client, _ = bot_with(refuse)
    async with client:
        with pytest.raises(BotUnavailable) as raised:
            await bot.resume("conv-3", None)
    assert "ConnectError" in str(raised.value)
    assert API_TOKEN not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert API_TOKEN not in everything_logged(debug_logs)


def test_the_filter_redacts_message_arguments_and_exception_text() -> None:
    try:
        raise RuntimeError(f"failed for url 'http://rasa/model?token={API_TOKEN}'")
    except RuntimeError:
        record = logging.LogRecord(
            "httpx", logging.INFO, __file__, 1, "HTTP Request: %s %s", ("PUT", f"http://rasa/model?token={API_TOKEN}"),
            exc_info=__import__("sys").exc_info(),
        )  # fmt: skip
    assert RedactTokens().filter(record)  # redacts, never drops
    assert record.getMessage() == "HTTP Request: PUT http://rasa/model?token=***"
    assert API_TOKEN not in logging.Formatter().format(record)


def test_redaction_keeps_the_rest_of_the_url() -> None:
    assert redact_tokens("GET /x?a=1&token=abc&b=2") == "GET /x?a=1&token=***&b=2"
    assert redact_tokens("auth_token=abc access_TOKEN=def") == "auth_token=*** access_TOKEN=***"
    assert redact_tokens("secret abc here", ("abc",)) == "secret *** here"

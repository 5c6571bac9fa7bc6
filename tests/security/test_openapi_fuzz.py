"""A bounded, schema-driven fuzz run over the handoff service's OpenAPI document (/docs/openapi.json) with
schemathesis: every operation the document describes, with the credentials each needs, a fixed seed and a
fixed number of examples, against the real app on a free port (Rasa replaced by its stand-in).

What must hold: no answer is a 5xx, and an operation that declares its status codes answers with one of
them. Schemathesis can only be as thorough as the document: operations without a request body or query
parameters in it get requests without them (see docs/security.md, "What is not covered yet").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import status_code_conformance

from handoff.channels.telegram.routes import SECRET_HEADER
from tests.integration.conftest import ADMIN, REST_TOKEN, SERVICE, rasa_stand_in
from tests.integration.live_app import serving
from tests.integration.test_telegram_channel import BOT_TOKEN, SECRET

pytestmark = pytest.mark.integration

SEED = 20261206
EXAMPLES = 10  # per operation and generation mode: under a minute on two shared cores
EMAIL_INBOUND_TOKEN = "inbound-webhook-token-0123456789"
TELEGRAM_ENV = {
    "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
    "TELEGRAM_WEBHOOK_SECRET": SECRET,
    "TELEGRAM_API_URL": "http://127.0.0.1:9",  # replies to a fuzzed update that parses fail, and are logged
    "ORDER_WEBHOOK_SECRET": "order-webhook-secret-0123456789",  # fuzzed events are unsigned: 401
    # Email on, so its webhook parses what it is sent; a fuzzed reply's email fails at the relay, logged.
    "SMTP_HOST": "127.0.0.1",
    "SMTP_PORT": "9",
    "SMTP_SECURITY": "none",
    "EMAIL_FROM": "Shop Support <support@shop.example>",
    "EMAIL_REPLY_DOMAIN": "reply.shop.example",
    "EMAIL_TOKEN_SECRET": "reply-token-secret-0123456789",
    "EMAIL_INBOUND_TOKEN": EMAIL_INBOUND_TOKEN,
}


# Server-sent event streams answer for minutes, so each example would only time out; their refusals and
# bad headers are covered by the authorisation matrix and tests/integration/test_studio_training_api.py.
STREAMS = frozenset({("GET", "/api/studio/training/events")})


def credentials(method: str, path: str, widget_session: str) -> dict[str, str]:
    """What a legitimate caller of the operation sends: the REST token on the REST channel, the webhook
    secret on Telegram's, the mail provider's token on the inbound email webhook, a widget session on the
    widget's photos, the service token for creating handoffs, the admin token for the rest of the API
    (public routes ignore it)."""
    if path.startswith("/api/widget/attachments"):
        return {"Authorization": f"Bearer {widget_session}"}
    if path.startswith("/webhooks/rest/"):
        return {"Authorization": f"Bearer {REST_TOKEN}"}
    if path.startswith("/webhooks/telegram/"):
        return {SECRET_HEADER: SECRET}
    if path.startswith("/webhooks/email/"):
        return {"Authorization": f"Bearer {EMAIL_INBOUND_TOKEN}"}
    if (method, path) == ("POST", "/api/handoffs"):
        return {"Authorization": f"Bearer {SERVICE}"}
    return {"Authorization": f"Bearer {ADMIN}"}


def examples(operation: Any, mode: GenerationMode, base: str, session: requests.Session, widget: str) -> int:
    """Run the operation's examples of one generation mode; raises on the first failure (shrunk)."""
    headers = credentials(operation.method.upper(), operation.path, widget)
    sent = 0

    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        derandomize=False,
        print_blob=False,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @seed(SEED)
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        nonlocal sent
        sent += 1
        response = case.call(base_url=base, session=session, headers=headers, timeout=10)
        case.validate_response(
            response, checks=[not_a_server_error, status_code_conformance], headers=headers
        )

    with contextlib.suppress(Unsatisfiable):  # nothing in the document to violate (no body, no constraint)
        call()
    return sent


def fuzz(base: str) -> tuple[list[str], int]:
    """Every operation of the document, positive and negative examples; the failures and the count."""
    schema = schemathesis.openapi.from_url(f"{base}/docs/openapi.json")
    failures: list[str] = []
    sent = 0
    with requests.Session() as session:
        widget = session.post(f"{base}/api/widget/session", json={}, timeout=10).json()["token"]
        for result in schema.get_all_operations():
            if not isinstance(result, Ok):
                failures.append(f"an operation schemathesis cannot read: {result.err()}")
                continue
            operation = result.ok()
            if (operation.method.upper(), operation.path) in STREAMS:
                continue
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    sent += examples(operation, mode, base, session, widget)
                except (Exception, FailureGroup) as exc:  # a FailureGroup is a BaseExceptionGroup
                    failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures, sent


async def test_the_documented_api_never_answers_a_5xx_or_an_undeclared_status(
    hub_app: Callable[..., Any],
) -> None:
    async with serving(hub_app(rasa_stand_in([]), **TELEGRAM_ENV)) as base:
        failures, sent = await asyncio.to_thread(fuzz, base)
    assert sent > 300  # the run reached the operations
    assert failures == [], "\n\n".join(failures)

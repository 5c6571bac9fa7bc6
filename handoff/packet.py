"""The handoff packet: what the assistant knows when it hands a conversation to a person."""

from __future__ import annotations

import re
from typing import Any

from handoff.errors import BadRequest
from handoff.routing.config import TIERS

REASONS = frozenset(
    {
        "customer_request",
        "complaint",
        "low_confidence",
        "kb_miss",
        "damaged_goods",
        "wrong_item",
        "outside_window",
        "policy_exception",
        "payment_issue",
        "backend_error",
        "bot_unavailable",
        "repeated_failure",  # two unclear answers to the same question
        "refund_overdue",  # a refund later than the policy promised
        "injury",  # harm from a product: safety first
    }
)
LANGUAGES = frozenset({"en", "zh"})
CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_.:@+-]{1,128}\Z")
LIST_FIELDS = ("intent_history", "entities", "kb_hits", "transcript")
DICT_FIELDS = ("slots", "order")
STRING_FIELDS = ("channel", "customer_id", "intent")
#: How the customer's identity was verified (actions/orders/verification.py); None when it was not.
VERIFIED_BY = frozenset({"storefront", "rest_token", "telegram_contact", "order_check"})


def validate_packet(body: Any) -> dict[str, Any]:
    """Return the packet if well-formed; otherwise raise BadRequest naming the field."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object (the handoff packet)")
    conversation_id = body.get("conversation_id")
    if not isinstance(conversation_id, str) or not CONVERSATION_ID.match(conversation_id):
        raise BadRequest("'conversation_id' must be 1-128 letters, digits or _.:@+-", field="conversation_id")
    if body.get("reason") not in REASONS:
        raise BadRequest(f"'reason' must be one of {', '.join(sorted(REASONS))}", field="reason")
    if body.get("language") not in LANGUAGES:
        raise BadRequest("'language' must be 'en' or 'zh'", field="language")
    for name in LIST_FIELDS:
        if not isinstance(body.get(name, []), list):
            raise BadRequest(f"'{name}' must be a list", field=name)
    for name in DICT_FIELDS:
        if not isinstance(body.get(name) or {}, dict):
            raise BadRequest(f"'{name}' must be an object", field=name)
    for name in STRING_FIELDS:
        if body.get(name) is not None and not isinstance(body[name], str):
            raise BadRequest(f"'{name}' must be a string", field=name)
    _check_identity(body.get("identity"))
    tier = body.get("customer_tier")
    if tier is not None and tier not in TIERS:
        raise BadRequest(f"'customer_tier' must be one of {', '.join(TIERS)}", field="customer_tier")
    return body


def _check_identity(identity: Any) -> None:
    if identity is None:
        return
    if not isinstance(identity, dict):
        raise BadRequest("'identity' must be an object", field="identity")
    for name in ("customer_id", "verified_phone"):
        if identity.get(name) is not None and not isinstance(identity[name], str):
            raise BadRequest(f"'identity.{name}' must be a string", field="identity")
    verified_by = identity.get("verified_by")
    if verified_by is not None and verified_by not in VERIFIED_BY:
        raise BadRequest(
            f"'identity.verified_by' must be one of {', '.join(sorted(VERIFIED_BY))}", field="identity"
        )

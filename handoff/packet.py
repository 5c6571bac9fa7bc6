"""The handoff packet: what the assistant knows when it hands a conversation to a person, and what the
customer adds while the conversation is with the team.

Fields the hub owns (a packet posted with any of them is a 400):
- `photos`: the customer's latest photos before the handoff (`{id, content_type, size, ts}`), added by
  the hub from the transcript when it queues the conversation.
- `updates`: `[{ts, kind, value}]`, what a customer's messages added while the conversation was queued,
  offered or with an agent: `order_id` (an order number they wrote, canonical `SO-12345678`), `photo` (an
  attachment id) and, while they wait for a person, `text` (what they said, shortened). The latest
  UPDATES_CAP are kept.
- `order_hint`: the latest order number from those updates, when the packet names no order.
Updates are applied atomically (WATCH on the packet and the conversation; a new handoff's packet is never
overwritten by an update of the previous one) and announced on the transcript events channel
(`{"conversation_id", "type": "packet"}`), which open consoles watching the conversation hear as a
`message` event and answer by reading the context card again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import WatchError

from common.affect import FRUSTRATION_LEVELS, RISK_FLAGS
from common.patterns import ORDER_ID, normalise_order_id
from handoff import keys
from handoff.errors import BadRequest
from handoff.routing.config import TIERS

logger = logging.getLogger(__name__)

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
        # Risk flags on a customer's message (common/affect.py): handed off at once, whatever the topic.
        "injury",  # harm from a product: safety first
        "fraud",  # orders or charges the customer did not make, a taken-over account
        "legal",  # chargeback, lawyer, consumer protection
        "counterfeit",
        "repeat_contact",  # the customer has asked about this before
        "frustrated",  # accepted the person offered after turns of high frustration
        "presales_question",  # a product question the catalogue cannot answer surely
    }
)
LANGUAGES = frozenset({"en", "zh"})
CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_.:@+-]{1,128}\Z")
LIST_FIELDS = ("intent_history", "entities", "kb_hits", "transcript")
DICT_FIELDS = ("slots", "order")
STRING_FIELDS = ("channel", "customer_id", "intent")
#: How the customer's identity was verified (actions/orders/verification.py); None when it was not.
VERIFIED_BY = frozenset({"storefront", "rest_token", "telegram_contact", "order_check"})
HUB_FIELDS = ("photos", "updates", "order_hint", "routing_weights")
EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z")
EXPERIMENTS_MAX = 8
UPDATE_KINDS = ("order_id", "photo", "text")
UPDATES_CAP = 50  # the latest updates kept in a packet
TEXT_EXCERPT = 280  # characters of a waiting customer's message kept in an update
ORDER_IDS_PER_MESSAGE = 3
WAITING = ("queued", "offered")
WITH_THE_TEAM = (*WAITING, "agent")


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
    for name in HUB_FIELDS:
        if name in body:
            raise BadRequest(f"'{name}' is set by the hub, not by the packet's sender", field=name)
    _check_identity(body.get("identity"))
    _check_affect(body.get("affect"))
    _check_experiments(body.get("experiments"))
    tier = body.get("customer_tier")
    if tier is not None and tier not in TIERS:
        raise BadRequest(f"'customer_tier' must be one of {', '.join(TIERS)}", field="customer_tier")
    return body


def _check_experiments(experiments: Any) -> None:
    """`experiments`: {experiment id: variant} for the variants that led to the handoff."""
    if experiments is None:
        return
    if not isinstance(experiments, dict) or len(experiments) > EXPERIMENTS_MAX:
        raise BadRequest(
            f"'experiments' must be an object of at most {EXPERIMENTS_MAX} experiment ids",
            field="experiments",
        )
    for key, value in experiments.items():
        if not EXPERIMENT_NAME.match(key) or not isinstance(value, str) or not EXPERIMENT_NAME.match(value):
            raise BadRequest("'experiments' maps experiment ids to variant names", field="experiments")


def _check_affect(affect: Any) -> None:
    """`affect`: {risk: [flags], frustration, peak_frustration}, as the agent's card and routing read it."""
    if affect is None:
        return
    if not isinstance(affect, dict):
        raise BadRequest("'affect' must be an object", field="affect")
    risk = affect.get("risk", [])
    if not isinstance(risk, list) or not set(risk) <= set(RISK_FLAGS):
        raise BadRequest(f"'affect.risk' must be a list of {', '.join(RISK_FLAGS)}", field="affect")
    for name in ("frustration", "peak_frustration"):
        if affect.get(name, "calm") not in FRUSTRATION_LEVELS:
            raise BadRequest(
                f"'affect.{name}' must be one of {', '.join(FRUSTRATION_LEVELS)}", field="affect"
            )


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


# -- what the customer adds while the conversation is with the team -------------------------------------


def order_ids(text: str) -> list[str]:
    """Order numbers written in the text, canonical and without repeats (at most ORDER_IDS_PER_MESSAGE)."""
    found: list[str] = []
    for match in ORDER_ID.finditer(text):
        order_id = normalise_order_id(match.group(0))
        if order_id and order_id not in found:
            found.append(order_id)
    return found[:ORDER_IDS_PER_MESSAGE]


def excerpt(text: str, limit: int = TEXT_EXCERPT) -> str:
    """The text on one line, cut to `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def customer_updates(text: str, photo_ids: Iterable[str], ts: float) -> list[dict[str, Any]]:
    """The updates one customer message may add: what they said, the order numbers in it, its photos.
    Which of them apply depends on who owns the conversation (apply_updates)."""
    entries: list[dict[str, Any]] = []
    if text.strip():
        entries.append({"ts": ts, "kind": "text", "value": excerpt(text)})
        entries += [{"ts": ts, "kind": "order_id", "value": o} for o in order_ids(text)]
    entries += [{"ts": ts, "kind": "photo", "value": p} for p in photo_ids]
    return entries


def apply_updates(
    packet: Any, owner: str | None, entries: Sequence[Mapping[str, Any]], cap: int = UPDATES_CAP
) -> dict[str, Any] | None:
    """The packet with the entries that apply to a conversation with this owner, or None if none do.

    Order numbers and photos apply while the conversation is queued, offered or with an agent; text only
    while the customer waits (an agent reads the chat live). `order_hint` is set when the packet names no
    order. The updates list keeps the latest `cap` entries."""
    if not isinstance(packet, dict) or owner not in WITH_THE_TEAM:
        return None
    kept = [
        dict(e)
        for e in entries
        if e.get("kind") in UPDATE_KINDS and (owner in WAITING or e["kind"] != "text")
    ]
    if not kept:
        return None
    previous = packet.get("updates")
    updated = {**packet, "updates": ([*previous] if isinstance(previous, list) else []) + kept}
    updated["updates"] = updated["updates"][-cap:]
    orders = [e["value"] for e in kept if e["kind"] == "order_id"]
    if orders and not packet.get("order"):
        updated["order_hint"] = orders[-1]
    return updated


class PacketUpdates(Protocol):
    async def add(self, conversation_id: str, entries: Sequence[Mapping[str, Any]]) -> bool:
        """Apply the entries to the stored packet (apply_updates); True if it changed."""
        ...


class RedisPacketUpdates:
    """Updates of the stored packet (`hub:handoff:<id>`), read and written under WATCH so that a new
    handoff or a change of owner in between makes the update start over instead of writing stale data."""

    ATTEMPTS = 10  # each round of contenders lets at least one through: enough for a customer's bursts

    def __init__(self, redis: Redis, cap: int = UPDATES_CAP) -> None:
        self._redis: Any = redis  # decode_responses=True: str replies, which redis-py's stubs cannot say
        self._cap = cap

    async def add(self, conversation_id: str, entries: Sequence[Mapping[str, Any]]) -> bool:
        packet_key, conversation_key = (
            keys.handoff_packet(conversation_id),
            keys.conversation(conversation_id),
        )
        for _ in range(self.ATTEMPTS):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(packet_key, conversation_key)
                    raw = await pipe.get(packet_key)
                    owner = await pipe.hget(conversation_key, "owner")
                    try:
                        packet = json.loads(raw) if raw else None
                    except ValueError:
                        packet = None
                    updated = apply_updates(packet, owner, entries, self._cap)
                    if updated is None:
                        return False
                    pipe.multi()
                    pipe.set(packet_key, json.dumps(updated, ensure_ascii=False), keepttl=True)
                    await pipe.execute()
                except WatchError:
                    await asyncio.sleep(random.uniform(0, 0.01))  # noqa: S311  (spreading retries, not secrecy)
                    continue
            # Consoles watching the conversation read the context card again (see the module docstring).
            event = {"conversation_id": conversation_id, "type": "packet"}
            await self._redis.publish(keys.transcript_events(), json.dumps(event))
            return True
        logger.warning("hub.packet.update_contended", extra={"conversation_id": conversation_id})
        return False

"""The studio's inbox: real customer messages worth an editor's look (docs/studio.md).

A message comes in when the assistant was unsure of it (its best intent scored below the low-confidence
threshold, or it fell back), when a handoff followed it for a reason that says the assistant did not cope, or
when an agent flags it in the console. The text is masked of personal data before it is stored, because an
accepted item becomes training data. One item per customer message: a second reason (low confidence, then a
handoff, then an agent's flag) is added to the same item.

Redis: a hash per item (reasons and flags as fields, so two workers adding a reason at once never lose one), a
sorted set of open items by time and one of resolved items; both capped, items expire after ITEM_DAYS.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis

from handoff import keys
from handoff.studio.masking import mask

ITEM_DAYS = 90
OPEN_CAPACITY = 5000  # the oldest open items go first: an inbox nobody reads must not fill Redis
DONE_CAPACITY = 5000
MAX_TEXT = 1000
FALLBACK_INTENT = "nlu_fallback"

# Handoff reasons that say the assistant did not cope with what the customer wrote. A risk flag, a policy
# exception or an unavailable backend is the assistant doing its job, not misunderstanding.
MISUNDERSTOOD_HANDOFFS = frozenset({"low_confidence", "kb_miss", "repeated_failure", "frustrated"})
# A customer who asks for a person usually does so after the assistant missed the message before: that one
# is the item, not "let me talk to a person" (which was understood).
GAVE_UP_HANDOFFS = frozenset({"customer_request"})

REASONS = ("low_confidence", "fallback", "handoff", "flagged")
STATUSES = ("open", "accepted", "dismissed")


def _prefix() -> str:
    return f"{keys.PREFIX}:studio:inbox"


def item_key(item_id: str) -> str:
    return f"{_prefix()}:item:{item_id}"


def open_key() -> str:
    return f"{_prefix()}:open"


def done_key() -> str:
    return f"{_prefix()}:done"


def item_id_for(conversation_id: str, message: str) -> str:
    """Stable id of a customer message in a conversation, from its (masked) words."""
    return hashlib.sha256(f"{conversation_id}\x00{message}".encode()).hexdigest()[:20]


@dataclass
class InboxItem:
    id: str
    text: str
    language: str
    conversation_id: str
    message_id: str | None
    ts: float
    status: str
    reasons: list[str]
    predicted: dict[str, Any] | None
    handoff_reason: str | None = None
    flags: list[dict[str, Any]] = field(default_factory=list)
    masked: list[str] = field(default_factory=list)
    resolved_by: str | None = None
    resolved_at: float | None = None
    accepted_intent: str | None = None

    @property
    def suggested_intent(self) -> str | None:
        """The newest intent an agent proposed, if any."""
        named = [f["intent"] for f in sorted(self.flags, key=lambda f: f["ts"]) if f.get("intent")]
        return named[-1] if named else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "suggested_intent": self.suggested_intent}

    @classmethod
    def from_hash(cls, item_id: str, raw: Mapping[str, str]) -> InboxItem:
        reasons = [r for r in REASONS if f"reason:{r}" in raw]
        flags = [json.loads(v) for k, v in raw.items() if k.startswith("flag:")]
        return cls(
            id=item_id,
            text=raw.get("text", ""),
            language=raw.get("language", "en"),
            conversation_id=raw.get("conversation_id", ""),
            message_id=raw.get("message_id") or None,
            ts=float(raw.get("ts", "0")),
            status=raw.get("status", "open"),
            reasons=reasons,
            predicted=json.loads(raw["predicted"]) if raw.get("predicted") else None,
            handoff_reason=raw.get("handoff_reason") or None,
            flags=sorted(flags, key=lambda f: f.get("ts", 0)),
            masked=json.loads(raw.get("masked", "[]")),
            resolved_by=raw.get("resolved_by") or None,
            resolved_at=float(raw["resolved_at"]) if raw.get("resolved_at") else None,
            accepted_intent=raw.get("accepted_intent") or None,
        )


def summarise_prediction(understood: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The parse summary the assistant returned (bot.rasa_fixes.understanding), trimmed to what is shown."""
    if not understood or not understood.get("intent"):
        return None
    kept = {k: understood[k] for k in ("intent", "confidence", "ranking", "entities") if k in understood}
    copied: dict[str, Any] = json.loads(json.dumps(kept))
    return copied


class StudioInbox:
    def __init__(self, redis: Redis, low_confidence: float = 0.4, clock: Any = time.time) -> None:
        self._redis: Any = redis  # decode_responses=True: strings in and out
        self.low_confidence = low_confidence
        self._clock = clock

    def worth_a_look(self, understood: Mapping[str, Any] | None) -> str | None:
        """Why a parsed message belongs in the inbox, or None. Button payloads (`/intent`) never do."""
        if not understood:
            return None
        intent = understood.get("intent")
        if intent == FALLBACK_INTENT:
            return "fallback"
        confidence = understood.get("confidence")
        if isinstance(confidence, int | float) and confidence < self.low_confidence:
            return "low_confidence"
        return None

    async def capture_parse(
        self,
        conversation_id: str,
        message_id: str | None,
        text: str,
        language: str | None,
        understood: Mapping[str, Any] | None,
    ) -> str | None:
        """Keep the message if the assistant was unsure of it; returns the item id when kept."""
        reason = self.worth_a_look(understood)
        if reason is None or not text.strip() or text.lstrip().startswith("/"):
            return None
        return await self._add(
            conversation_id, message_id, text, language, reason, summarise_prediction(understood)
        )

    async def capture_handoff(self, conversation_id: str, packet: Mapping[str, Any]) -> str | None:
        """Keep the message a handoff says the assistant did not cope with (see MISUNDERSTOOD_HANDOFFS)."""
        reason = str(packet.get("reason") or "")
        history = [h for h in packet.get("intent_history") or [] if isinstance(h, Mapping)]
        if reason in MISUNDERSTOOD_HANDOFFS:
            turn = history[-1] if history else None
        elif reason in GAVE_UP_HANDOFFS:
            turn = history[-2] if len(history) >= 2 else None
        else:
            return None
        if turn is None or not isinstance(turn.get("text"), str) or not turn["text"].strip():
            return None
        if turn["text"].lstrip().startswith("/"):
            return None
        predicted = summarise_prediction(
            {"intent": turn.get("intent"), "confidence": turn.get("confidence") or 0.0}
        )
        language = packet.get("language") if isinstance(packet.get("language"), str) else None
        return await self._add(
            conversation_id, None, turn["text"], language, "handoff", predicted, handoff_reason=reason
        )

    async def flag(
        self,
        conversation_id: str,
        message_id: str,
        text: str,
        language: str | None,
        understood: Mapping[str, Any] | None,
        by: str,
        intent: str | None = None,
        note: str | None = None,
    ) -> str:
        """An agent says the assistant misunderstood this message (and, if they know, what it meant)."""
        flag = {"by": by, "intent": intent, "note": note, "ts": self._clock()}
        item_id = await self._add(
            conversation_id, message_id, text, language, "flagged", summarise_prediction(understood)
        )
        key = item_key(item_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, f"flag:{by}", json.dumps(flag, ensure_ascii=False))
            # A flag on something already dismissed or accepted brings it back: a person saw a problem.
            pipe.hset(key, "status", "open")
            pipe.zadd(open_key(), {item_id: self._clock()})
            pipe.zrem(done_key(), item_id)
            await pipe.execute()
        return item_id

    async def _add(
        self,
        conversation_id: str,
        message_id: str | None,
        text: str,
        language: str | None,
        reason: str,
        predicted: dict[str, Any] | None,
        handoff_reason: str | None = None,
    ) -> str:
        masked = mask(text[:MAX_TEXT])
        # By the words, not the transcript id: a handoff's history names the message by its text only, and
        # the same words twice in one conversation teach the same example.
        item_id = item_id_for(conversation_id, masked.text)
        key = item_key(item_id)
        now = self._clock()
        base = {
            "text": masked.text,
            "language": language or "en",
            "conversation_id": conversation_id,
            "ts": repr(now),
            "status": "open",
            "masked": json.dumps(sorted(set(masked.kinds))),
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            for name, value in base.items():
                pipe.hsetnx(key, name, value)
            if predicted is not None:
                pipe.hsetnx(key, "predicted", json.dumps(predicted, ensure_ascii=False))
            if message_id:
                pipe.hset(key, "message_id", message_id)
            if handoff_reason:
                pipe.hset(key, "handoff_reason", handoff_reason)
            pipe.hset(key, f"reason:{reason}", repr(now))
            pipe.expire(key, ITEM_DAYS * 86400)
            pipe.zadd(open_key(), {item_id: now}, nx=True)
            pipe.hget(key, "status")
            results = await pipe.execute()
        if results[-1] != "open":  # already resolved: a new low-confidence parse does not reopen it
            await self._redis.zrem(open_key(), item_id)
        await self._trim()
        return item_id

    async def _trim(self) -> None:
        extra = await self._redis.zcard(open_key()) - OPEN_CAPACITY
        if extra > 0:
            dropped = await self._redis.zpopmin(open_key(), extra)
            if dropped:
                await self._redis.delete(*(item_key(str(member)) for member, _ in dropped))

    async def get(self, item_id: str) -> InboxItem | None:
        raw = await self._redis.hgetall(item_key(item_id))
        return InboxItem.from_hash(item_id, raw) if raw else None

    async def items(
        self,
        status: str = "open",
        language: str | None = None,
        reason: str | None = None,
        limit: int = 200,
    ) -> list[InboxItem]:
        """Newest first; `status` open or resolved (accepted and dismissed)."""
        source = open_key() if status == "open" else done_key()
        ids = await self._redis.zrevrange(source, 0, 4 * limit if (language or reason) else limit - 1)
        found = await self._many(ids)
        out = [
            i
            for i in found
            if (language is None or i.language == language)
            and (reason is None or reason in i.reasons)
            and (status in ("open", "resolved") or i.status == status)
        ]
        return out[:limit]

    async def _many(self, ids: Sequence[str]) -> list[InboxItem]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for item_id in ids:
                pipe.hgetall(item_key(item_id))
            raws = await pipe.execute()
        gone = [i for i, raw in zip(ids, raws, strict=True) if not raw]
        if gone:  # expired items leave their ids behind
            await self._redis.zrem(open_key(), *gone)
            await self._redis.zrem(done_key(), *gone)
        return [InboxItem.from_hash(i, raw) for i, raw in zip(ids, raws, strict=True) if raw]

    async def counts(self) -> dict[str, int]:
        return {
            "open": int(await self._redis.zcard(open_key())),
            "resolved": int(await self._redis.zcard(done_key())),
        }

    async def resolve(
        self, item_ids: Iterable[str], status: str, by: str, intent: str | None = None
    ) -> list[str]:
        """Mark items accepted (with the intent they went to) or dismissed; returns the ids that existed."""
        if status not in ("accepted", "dismissed"):
            raise ValueError(f"unknown status {status!r}")
        ids = list(dict.fromkeys(item_ids))
        existing = [i for i in ids if await self._redis.exists(item_key(i))]
        now = self._clock()
        async with self._redis.pipeline(transaction=True) as pipe:
            for item_id in existing:
                fields = {"status": status, "resolved_by": by, "resolved_at": repr(now)}
                if intent:
                    fields["accepted_intent"] = intent
                pipe.hset(item_key(item_id), mapping=fields)
                pipe.zrem(open_key(), item_id)
                pipe.zadd(done_key(), {item_id: now})
            await pipe.execute()
        extra = await self._redis.zcard(done_key()) - DONE_CAPACITY
        if extra > 0:
            dropped = await self._redis.zpopmin(done_key(), extra)
            if dropped:
                await self._redis.delete(*(item_key(str(member)) for member, _ in dropped))
        return existing


def group_by_similarity(
    items: Sequence[InboxItem], vectors: Mapping[str, Sequence[float]], threshold: float = 0.8
) -> list[list[str]]:
    """Greedy grouping of items whose sentence vectors (unit length) are at least `threshold` alike, within a
    language: an editor can accept or dismiss a whole group at once. Items without a vector stand alone."""
    groups: list[tuple[str, list[float], list[str]]] = []  # language, the first member's vector, members
    singles: list[list[str]] = []
    for item in items:
        vector = vectors.get(item.id)
        if vector is None:
            singles.append([item.id])
            continue
        for language, head, members in groups:
            if language == item.language and _dot(head, vector) >= threshold:
                members.append(item.id)
                break
        else:
            groups.append((item.language, list(vector), [item.id]))
    return [members for _, _, members in groups] + singles


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return float(sum(x * y for x, y in zip(a, b, strict=False)))

"""What one contact is and what it adds to the dashboard's rollups; pure, no I/O (the store applies it).

A contact is one episode of a conversation (docs/analytics.md). Its rollup contribution is a function of
its current state alone, so a change to a contact, however late (a rating the next morning, a re-contact
days later), is applied as "minus the old contribution, plus the new one".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

TEXT_MAX = 200  # every stored text: customer messages, ids, the list of intents
NAME_MAX = 64  # dimension values: channel, language, queue, intent, agent, reason, experiment ids
EXPERIMENTS_MAX = 10

ENDINGS = ("resolved", "closed", "abandoned", "ticket")
KNOWN_TYPES = frozenset(
    {
        "customer_message",
        "bot_turn",
        "kb_miss",
        "handoff",
        "accepted",
        "agent_message",
        "transfer",
        "csat",
        "proactive",
        *ENDINGS,
    }
)
RESOLUTIONS = ("assistant", "person", "abandoned", "ticket", "open")
AFFECT_RANK = {"calm": 0, "annoyed": 1, "angry": 2}
# Greetings and acknowledgements say nothing about what the contact is about, so they are not its first
# intent (unless nothing else was recognised): "hi" then "where is my order" is an order_status contact.
NON_TOPICAL_INTENTS = frozenset(
    {"greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "inform", "nlu_fallback"}
)
MISS_KINDS = ("kb_miss", "fallback")
# Proactive messages (docs/proactive.md): the shop writes first about an order. A contact that begins with one
# was started by the shop; one of these triggers means the order is late, as does a customer's first
# question about where their order is.
LATE_ORDER_TRIGGERS = frozenset({"late_shipment", "delivery_exception", "stuck_processing"})
LATE_ORDER_INTENT = "order_status"

# Time percentiles come from fixed logarithmic buckets: [0, 0.1 s) and then each bucket 10% wider than the
# one before. A percentile is reported as its bucket's geometric middle, within 4.9% of the exact value
# (0.05 s below 0.1 s).
BUCKET_BASE = 0.1
BUCKET_RATIO = 1.1
_LOG_RATIO = math.log(BUCKET_RATIO)
MAX_BUCKET = 200  # 0.1 s * 1.1**199: far beyond any real wait or handle time
METRICS = ("first_reply", "first_person", "handle")

DIMENSIONS = ("day", "channel", "language", "queue")
# Rollup tables: key columns (after the common dimensions) and summed measures.
ROLLUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "daily": (
        (*DIMENSIONS, "intent", "resolution"),
        (
            "contacts",
            "ended",
            "recontacted",
            "handoffs",
            "sl_hits",
            "sl_total",
            "csat_n",
            "csat_sum",
            "csat_45",
            "kb_answers",
            "kb_misses",
            "fallbacks",
            "transfers",
        ),
    ),
    "reasons": ((*DIMENSIONS, "reason"), ("handoffs",)),
    "agents": (
        (*DIMENSIONS, "agent"),
        ("handled", "handle_n", "handle_sum", "csat_n", "csat_sum", "csat_45"),
    ),
    "hist": ((*DIMENSIONS, "metric", "bucket"), ("n",)),
    "variants": (
        ("experiment", "variant", *DIMENSIONS),
        (
            "contacts",
            "ended",
            "assistant",
            "recontacted",
            "handoffs",
            "answered_in_target",
            "wait_n",
            "wait_sum",
            "wait_sumsq",
            "csat_n",
            "csat_sum",
            "csat_sumsq",
        ),
    ),
    # Contacts the shop started (by their first trigger) and late-order contacts the customer started
    # (trigger ""), with proactive messages counted by their own trigger.
    "proactive": (
        (*DIMENSIONS, "proactive_trigger", "started_by"),
        ("contacts", "late", "replied", "handoffs", "sent"),
    ),
}

Contribution = dict[tuple[str, tuple[Any, ...]], list[float]]


class MalformedEvent(ValueError):
    """An analytics event that cannot be applied; the store counts and skips it."""


@dataclass(frozen=True)
class Event:
    type: str
    conversation_id: str
    ts: float
    data: Mapping[str, Any]

    def text(self, name: str, limit: int = NAME_MAX) -> str | None:
        """A string field, bounded; None when absent, empty or of another type (fields are optional)."""
        value = self.data.get(name)
        if not isinstance(value, str) or not value.strip():
            return None
        return value.strip()[:limit]

    def number(self, name: str) -> float | None:
        value = self.data.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return float(value)

    def flag(self, name: str) -> bool:
        return self.data.get(name) is True

    def experiments(self) -> dict[str, str]:
        value = self.data.get("experiments")
        if not isinstance(value, Mapping):
            return {}
        return {
            str(k)[:NAME_MAX]: v[:NAME_MAX]
            for k, v in list(value.items())[:EXPERIMENTS_MAX]
            if isinstance(k, str) and k and isinstance(v, str) and v
        }


def parse_event(raw: Any) -> Event | None:
    """The event, or None for a type this version does not know (ignored, for forward compatibility).
    Raises MalformedEvent when a required field is missing or of the wrong type."""
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise MalformedEvent("not JSON") from exc
    if not isinstance(raw, Mapping):
        raise MalformedEvent("not an object")
    kind, conversation_id, ts = raw.get("type"), raw.get("conversation_id"), raw.get("ts")
    if not isinstance(kind, str) or not kind:
        raise MalformedEvent("type")
    if not isinstance(conversation_id, str) or not conversation_id or len(conversation_id) > TEXT_MAX:
        raise MalformedEvent("conversation_id")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts) or ts <= 0:
        raise MalformedEvent("ts")
    if kind not in KNOWN_TYPES:
        return None
    event = Event(kind, conversation_id, float(ts), raw)
    if kind == "csat":
        stars = raw.get("stars")
        if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
            raise MalformedEvent("stars")
    return event


def parse_stream_id(stream_id: Any) -> tuple[int, int] | None:
    """Redis stream ids ("1700000000000-3") compare as (milliseconds, sequence) integers."""
    if not isinstance(stream_id, str | bytes):
        return None
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = text.partition("-")
    if not ms.isdigit() or not (seq or "0").isdigit():
        return None
    return int(ms), int(seq or "0")


def format_stream_id(key: tuple[int, int]) -> str:
    return f"{key[0]}-{key[1]}"


def bucket_of(seconds: float) -> int:
    if seconds < BUCKET_BASE:
        return 0
    return min(int(math.log(seconds / BUCKET_BASE) / _LOG_RATIO) + 1, MAX_BUCKET)


def bucket_value(bucket: int) -> float:
    """The value a bucket stands for: the geometric middle of its bounds."""
    if bucket <= 0:
        return BUCKET_BASE / 2
    return BUCKET_BASE * BUCKET_RATIO ** (bucket - 1) * math.sqrt(BUCKET_RATIO)


def percentile(counts: Mapping[int, float], share: float) -> float | None:
    """Nearest-rank percentile of a bucketed distribution, rounded to 0.1 s; None when it is empty."""
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(share * total - 1e-9))
    seen = 0.0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if seen >= rank:
            return round(bucket_value(bucket), 1)
    return round(bucket_value(max(counts)), 1)


@dataclass
class Contact:
    id: int
    conversation_id: str
    seq: int  # 1 for the conversation's first contact: later ones may be re-contacts
    started_at: float
    day: str
    last_activity: float
    channel: str | None = None
    language: str | None = None
    first_intent: str | None = None
    intents: list[str] = field(default_factory=list)
    resolution: str = "open"
    end_cause: str | None = None  # resolved | closed | abandoned | ticket | idle
    ended_at: float | None = None
    first_customer_at: float | None = None
    first_reply_s: float | None = None
    handoff_at: float | None = None
    handoff_reason: str | None = None
    queue: str | None = None
    accepted_at: float | None = None
    first_person_s: float | None = None
    agent_id: str | None = None
    handle_s: float | None = None
    abandon_wait_s: float | None = None
    transfers: int = 0
    csat: int | None = None
    csat_agent: str | None = None
    kb_answers: int = 0
    kb_misses: int = 0
    fallbacks: int = 0
    affect: str | None = None
    order_id: str | None = None
    ticket_id: str | None = None
    recontacted: bool = False
    experiments: dict[str, str] = field(default_factory=dict)
    # Added in schema 2: stored as the last columns of the table (an older store gains them by ALTER TABLE).
    started_by: str = "customer"  # customer | proactive (the contact began with a proactive message)
    proactive_trigger: str | None = None  # the trigger of the message that started it
    proactive_replied: bool = False  # started proactively and the customer wrote in it
    proactive_sent: dict[str, int] = field(default_factory=dict)  # proactive messages in it, per trigger

    @property
    def is_open(self) -> bool:
        return self.resolution == "open"

    @property
    def engaged(self) -> bool:
        """The customer took part: every contact they started, one the shop started once they answer. Only
        these count as contacts on the dashboard (a notification nobody answered is not a conversation)."""
        return self.started_by != "proactive" or self.proactive_replied

    @property
    def awaits_reply(self) -> bool:
        return self.started_by == "proactive" and not self.proactive_replied

    @property
    def late_order(self) -> bool:
        """About a late order: the shop said so first (a late trigger), or the customer asked first."""
        if self.started_by == "proactive":
            return self.proactive_trigger in LATE_ORDER_TRIGGERS
        return self.first_intent == LATE_ORDER_INTENT

    # -- changes from events --------------------------------------------------------------------------

    def touch(self, ts: float) -> None:
        self.last_activity = max(self.last_activity, ts)

    def add_intent(self, intent: str | None) -> None:
        if not intent:
            return
        if intent not in self.intents and len(json.dumps([*self.intents, intent])) <= TEXT_MAX:
            self.intents.append(intent)
        if self.first_intent is None or (
            self.first_intent in NON_TOPICAL_INTENTS and intent not in NON_TOPICAL_INTENTS
        ):
            self.first_intent = intent

    def replied(self, ts: float) -> None:
        if self.first_reply_s is None:
            self.first_reply_s = max(0.0, ts - (self.first_customer_at or self.started_at))

    def note_affect(self, affect: str | None) -> None:
        if affect in AFFECT_RANK and (
            self.affect is None or AFFECT_RANK[affect] > AFFECT_RANK.get(self.affect, -1)
        ):
            self.affect = affect

    def merge_experiments(self, experiments: Mapping[str, str]) -> None:
        for experiment, variant in experiments.items():
            if len(self.experiments) >= EXPERIMENTS_MAX:
                break
            self.experiments.setdefault(experiment, variant)  # the first assignment counts

    def handed_off(self, ts: float, reason: str | None, queue: str | None) -> None:
        """The first handoff of the contact decides its reason and queue (where its wait was measured)."""
        if self.handoff_at is None:
            self.handoff_at = ts
            self.handoff_reason = reason
            self.queue = queue

    def accepted(self, ts: float, agent_id: str | None, wait: float | None) -> None:
        if self.handoff_at is None:  # an accept we saw no handoff for: its wait says when it was queued
            self.handoff_at = ts - (wait or 0.0)
        if self.accepted_at is None:
            self.accepted_at = ts
            self.first_person_s = max(0.0, wait if wait is not None else ts - self.handoff_at)
        if agent_id:
            self.agent_id = agent_id

    def proactive(self, trigger: str | None, opening: bool) -> None:
        """A proactive message in this contact; `opening`: nothing of the customer's came before it."""
        key = trigger or ""
        self.proactive_sent[key] = self.proactive_sent.get(key, 0) + 1
        if opening and self.started_by != "proactive":
            self.started_by = "proactive"
            self.proactive_trigger = trigger

    def customer_wrote(self, ts: float) -> None:
        if self.first_customer_at is None:
            self.first_customer_at = ts
        if self.started_by == "proactive":
            self.proactive_replied = True

    def end(self, cause: str, ts: float) -> None:
        self.end_cause = cause
        self.ended_at = max(ts, self.started_at)
        if cause == "ticket":
            self.resolution = "ticket"
        elif self.accepted_at is not None:
            self.resolution = "person"
        elif self.handoff_at is not None:
            self.resolution = "abandoned"
        else:
            self.resolution = "assistant"
        self.handle_s = max(0.0, self.ended_at - self.accepted_at) if self.accepted_at is not None else None

    def reopen(self) -> None:
        """A contact closed for inactivity gets an event from within its idle window (the stream was
        behind when it was closed): it goes on."""
        self.resolution, self.end_cause, self.ended_at, self.handle_s = "open", None, None, None

    # -- what it adds to the rollups ------------------------------------------------------------------

    def contributions(self, service_level_seconds: float) -> Contribution:
        out: Contribution = {}

        def add(table: str, key: tuple[Any, ...], values: list[float]) -> None:
            current = out.get((table, key))
            if current is None:
                out[(table, key)] = values
            else:
                for i, value in enumerate(values):
                    current[i] += value

        dims = (self.day, self.channel or "", self.language or "", self.queue or "")
        handed = int(self.handoff_at is not None)
        if self.started_by == "proactive":
            add(
                "proactive",
                (*dims, self.proactive_trigger or "", "proactive"),
                [1, int(self.late_order), int(self.proactive_replied), handed, 0],
            )
        elif self.late_order:
            add("proactive", (*dims, "", "customer"), [1, 1, 0, handed, 0])
        for trigger, sent in self.proactive_sent.items():
            add("proactive", (*dims, trigger, self.started_by), [0, 0, 0, 0, sent])
        if not self.engaged:
            return out
        ended = int(not self.is_open)
        recontacted = int(bool(ended and self.recontacted))
        answered_in_target = int(
            bool(handed and self.first_person_s is not None and self.first_person_s <= service_level_seconds)
        )
        # A handoff counts for the service level once its wait is over: answered, or ended unanswered.
        sl_total = int(bool(handed and (self.accepted_at is not None or ended)))
        rated = self.csat is not None
        stars = self.csat or 0
        csat_45 = int(stars >= 4)
        add(
            "daily",
            (*dims, self.first_intent or "", self.resolution),
            [1, ended, recontacted, handed, answered_in_target, sl_total, int(rated), stars, csat_45,
             self.kb_answers, self.kb_misses, self.fallbacks, self.transfers],
        )  # fmt: skip
        if handed:
            add("reasons", (*dims, self.handoff_reason or ""), [1])
        if self.accepted_at is not None and self.agent_id:
            handle = self.handle_s
            add("agents", (*dims, self.agent_id), [1, int(handle is not None), handle or 0.0, 0, 0, 0])
        if rated and self.csat_agent:
            add("agents", (*dims, self.csat_agent), [0, 0, 0.0, 1, stars, csat_45])
        for metric, value in (
            ("first_reply", self.first_reply_s),
            ("first_person", self.first_person_s),
            ("handle", self.handle_s),
        ):
            if value is not None:
                add("hist", (*dims, metric, bucket_of(value)), [1])
        wait = self.first_person_s
        for experiment, variant in self.experiments.items():
            add(
                "variants",
                (experiment, variant, *dims),
                [1, ended, int(self.resolution == "assistant"), recontacted, handed, answered_in_target,
                 int(wait is not None), wait or 0.0, (wait or 0.0) ** 2, int(rated), stars, stars * stars],
            )  # fmt: skip
        return out


def iter_deltas(old: Contribution, new: Contribution) -> Iterator[tuple[str, tuple[Any, ...], list[float]]]:
    """new − old per rollup row, leaving out rows that do not change."""
    for key in old.keys() | new.keys():
        before, after = old.get(key), new.get(key)
        if before is None:
            delta = list(after or ())
        elif after is None:
            delta = [-v for v in before]
        else:
            delta = [a - b for a, b in zip(after, before, strict=True)]
        if any(delta):
            yield key[0], key[1], delta


def normalise_text(text: str) -> str:
    """The grouping key of a missed question: case and spacing do not make a different question."""
    return " ".join(text.casefold().split())[:TEXT_MAX]

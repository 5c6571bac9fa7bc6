"""A month of plausible traffic for the dashboard before any real traffic exists (docs/analytics.md).

Everything goes through `AnalyticsStore.ingest` as the hub's events would, in stream order, so the demo
exercises the same contact rules as production. Deterministic for a seed: the same seed and month give the
same facts, whatever the machine.

The shape: more contacts in the day and evening than at night, a weekly rhythm and the shopping days of
November (11.11, Black Friday, Cyber Monday); 70% English, 30% Chinese; about 70% of contacts solved by the
assistant; waits that grow with the hour's load, customers who give up, tickets outside opening hours;
ratings from about 60% of the people helped; some customers come back about the same order. The shop writes
first about late orders, refunds and returns (proactive messages, outside quiet hours): some customers answer
with their question, most messages go unanswered.
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import Any

from handoff.analytics.facts import LATE_ORDER_TRIGGERS
from handoff.analytics.store import AnalyticsStore

DEFAULT_MONTH = "2026-11"
DEFAULT_SEED = 20261101
DEFAULT_CONTACTS = 20_000  # a mid-sized shop: about 650 contacts a day
BATCH = 1000

OPENING_HOURS = (8, 22)  # people answer from 08:00 to 22:00 in the store's time zone
CHANNELS = (("widget", 0.60), ("telegram", 0.25), ("rest", 0.15))
HOURLY = (0.15, 0.08, 0.05, 0.04, 0.04, 0.08, 0.2, 0.45, 0.75, 0.95, 1.05, 1.1,
          1.05, 1.0, 1.0, 1.0, 0.95, 0.95, 1.0, 1.15, 1.25, 1.2, 0.9, 0.45)  # fmt: skip
WEEKDAY = (1.1, 1.05, 1.0, 1.0, 0.95, 0.85, 0.95)  # Monday first
SHOPPING_DAYS = {(11, 11): 2.2, (11, 12): 1.5, (11, 27): 1.8, (11, 28): 1.4, (11, 30): 1.6}
RECONTACT_SHARE = 0.12
AGENTS = {"en": ("ana", "bo", "dana", "eli", "chen"), "zh": ("chen", "fang")}
EXPERIMENTS = {"welcome-copy": ("control", "friendly"), "rating-weight": ("control", "heavier")}
# Proactive messages come from a generator of their own, seeded from the month's seed: the customers'
# contacts, and every number that does not ask who spoke first, are the same as without them. A customer's
# first contact about one of these topics, on the widget or Telegram, may answer a message the shop sent
# earlier that day (its share, and the triggers); other messages go unanswered (per contact of the month).
PROACTIVE_ANSWERED = {
    "order_status": (0.3, (("late_shipment", 0.6), ("delivery_exception", 0.25), ("stuck_processing", 0.15))),
    "refund_status": (0.2, (("refund_processed", 0.8), ("return_received", 0.2))),
}  # fmt: skip
PROACTIVE_UNANSWERED = {
    "late_shipment": 0.06, "delivery_exception": 0.013, "stuck_processing": 0.012, "refund_processed": 0.085,
    "return_received": 0.037,
}  # fmt: skip
PROACTIVE_CHANNELS = (("widget", 0.45), ("telegram", 0.25), ("email", 0.30))
SENDING_HOURS = (9, 21)  # quiet hours from 21:00 to 09:00: what falls due then goes out at 09:00
POSTPONED_SHARE = 0.2  # messages that waited for the end of the quiet hours
PROACTIVE_LEAD_S = 12 * 3600  # the longest a message comes before the customer's answer
LATE_AFTER_DAYS = 3  # orders run late a few days after the shopping days


@dataclass(frozen=True)
class Topic:
    intent: str
    weight: float
    handoff: float  # chance the contact reaches a person
    reasons: tuple[tuple[str, float], ...]
    order: bool = False  # the customer names an order
    knowledge: bool = False  # answered from the knowledge base
    article: str = ""


TOPICS = (
    Topic("order_status", 0.22, 0.12, (("customer_request", 0.5), ("repeat_contact", 0.2),
          ("low_confidence", 0.3)), order=True),
    Topic("request_return", 0.13, 0.35, (("damaged_goods", 0.35), ("wrong_item", 0.25),
          ("outside_window", 0.2), ("customer_request", 0.2)), order=True, knowledge=True,
          article="returns-guide"),
    Topic("cancel_order", 0.08, 0.30, (("customer_request", 0.6), ("policy_exception", 0.4)), order=True),
    Topic("refund_status", 0.09, 0.30, (("refund_overdue", 0.5), ("customer_request", 0.5)), order=True,
          knowledge=True, article="refunds-timeline"),
    Topic("change_address", 0.05, 0.25, (("customer_request", 1.0),), order=True, knowledge=True,
          article="orders-change-address"),
    Topic("ask_policy", 0.10, 0.10, (("kb_miss", 0.6), ("customer_request", 0.4)), knowledge=True,
          article="returns-window"),
    Topic("ask_shipping", 0.08, 0.08, (("kb_miss", 0.6), ("customer_request", 0.4)), knowledge=True,
          article="shipping-times"),
    Topic("product_question", 0.10, 0.15, (("presales_question", 0.7), ("kb_miss", 0.3)), knowledge=True,
          article="care-washing-clothes"),
    Topic("payment_problem", 0.05, 0.50, (("payment_issue", 0.8), ("customer_request", 0.2)),
          knowledge=True, article="payment-double-charge"),
    Topic("complain", 0.04, 0.85, (("complaint", 0.6), ("frustrated", 0.4))),
    Topic("request_human", 0.04, 0.95, (("customer_request", 1.0),)),
    Topic("out_of_scope", 0.02, 0.05, (("low_confidence", 1.0),)),
)  # fmt: skip
_TOPIC_WEIGHTS = list(accumulate(t.weight for t in TOPICS))
QUEUE_BY_REASON = {
    "damaged_goods": "returns", "wrong_item": "returns", "outside_window": "returns",
    "policy_exception": "returns", "refund_overdue": "returns", "frustrated": "complaints",
    "repeat_contact": "complaints", "complaint": "complaints", "presales_question": "presales",
    "payment_issue": "payments",
}  # fmt: skip
QUEUE_BY_INTENT = {
    "request_return": "returns", "refund_status": "returns", "order_status": "orders",
    "cancel_order": "orders", "change_address": "orders", "payment_problem": "payments",
    "ask_shipping": "shipping", "complain": "complaints", "product_question": "presales",
}  # fmt: skip
# What customers asked that no article answered, and messages the assistant did not understand; masked as
# the studio masks (fake order, email and phone values). Earlier entries are asked more often.
KB_MISSES = {
    "en": ("Do you ship to Iceland?", "Can I return a personalised necklace?",
           "Is there a warranty on the Aero 2 headphones?", "Can I pay in 4 instalments with Klarna?",
           "Do you price match if it drops after I buy?", "How long is a gift card valid?",
           "Can I change the size on SO-12345678 after it shipped?", "Do you have a store in Manchester?",
           "Is the wool coat machine washable?", "Do sale items have the same return window?"),
    "zh": ("可以寄到澳门吗？", "定制的项链可以退吗？", "耳机有保修吗？保修多久？", "可以用花呗分期吗？",
           "买完降价了可以补差价吗？", "礼品卡有效期多久？", "订单SO-12345678发货后还能换尺码吗？",
           "你们在上海有实体店吗？", "羊毛大衣可以机洗吗？"),
}  # fmt: skip
FALLBACKS = {
    "en": ("the thing from last time", "ugh not again", "call me on 202-555-0100", "SO-12345678 ???",
           "my mum ordered it for me, email name@example.com", "it says error 502 when I click pay",
           "where's the button for the thing"),
    "zh": ("上次那个东西", "又是这样", "打我电话13000000000", "SO-12345678 ？？？", "付款的时候一直转圈",
           "我妈帮我买的，邮箱name@example.com"),
}  # fmt: skip


def _zipf_pick(rng: random.Random, options: Sequence[str]) -> str:
    """The n-th option about 1/n^0.8 as often as the first: a few questions dominate, a long tail remains."""
    return rng.choices(options, cum_weights=_zipf_weights(len(options)))[0]


def _zipf_weights(n: int) -> list[float]:
    return list(accumulate(1 / (i + 1) ** 0.8 for i in range(n)))


def _lognormal(rng: random.Random, median: float, sigma: float, cap: float) -> float:
    return min(cap, rng.lognormvariate(math.log(median), sigma))


class _Month:
    def __init__(self, store: AnalyticsStore, month: str, seed: int) -> None:
        try:
            first = datetime.strptime(month, "%Y-%m").date()
        except ValueError:
            raise ValueError(f"month: expected YYYY-MM, got {month!r}") from None
        self.rng = random.Random(seed)  # noqa: S311 - demo data, reproducible by design
        self.proactive_rng = random.Random(f"proactive-{seed}")  # noqa: S311 - as above
        self.tz = store.tz
        days = []
        day = first
        while day.month == first.month:
            days.append(day)
            day += timedelta(days=1)
        self.days = days
        self.day_starts = [datetime(d.year, d.month, d.day, tzinfo=self.tz).timestamp() for d in days]
        self.end = datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp()
        weights = [WEEKDAY[d.weekday()] * SHOPPING_DAYS.get((d.month, d.day), 1.0) for d in days]
        self.day_weights = list(accumulate(weights))
        self.late_day_weights = list(accumulate(([1.0] * LATE_AFTER_DAYS + weights)[: len(weights)]))
        self.hour_weights = list(accumulate(HOURLY))
        # Earlier contacts a customer may come back about, by day of the month.
        self.returnable: list[list[tuple[float, str, str, str, str, str | None]]] = [[] for _ in days]
        self.heap: list[tuple[float, int, dict[str, Any]]] = []
        self.sequence = 0

    # -- arrivals -------------------------------------------------------------------------------------

    def arrivals(self, count: int) -> list[float]:
        rng = self.rng
        day_index = rng.choices(range(len(self.days)), cum_weights=self.day_weights, k=count)
        hours = rng.choices(range(24), cum_weights=self.hour_weights, k=count)
        return sorted(
            self.day_starts[d] + (h + rng.random()) * 3600 for d, h in zip(day_index, hours, strict=True)
        )

    def load(self, ts: float) -> float:
        """How busy the agents are at that hour: waits grow with it."""
        local = datetime.fromtimestamp(ts, self.tz)
        day_factor = SHOPPING_DAYS.get((local.month, local.day), 1.0)
        return HOURLY[local.hour] * math.sqrt(day_factor)

    def in_hours(self, ts: float) -> bool:
        return OPENING_HOURS[0] <= datetime.fromtimestamp(ts, self.tz).hour < OPENING_HOURS[1]

    # -- one contact ----------------------------------------------------------------------------------

    def emit(self, ts: float, event: dict[str, Any]) -> None:
        self.sequence += 1
        heapq.heappush(self.heap, (ts, self.sequence, event))

    def returning(self, start: float) -> tuple[str, str, str, str, str | None] | None:
        """An earlier contact the customer comes back about: mostly within two days, some after the
        re-contact window (which then do not count as re-contacts)."""
        rng = self.rng
        day = bisect(self.day_starts, start) - 1
        back = min(day, int(rng.choice((0, 0, 1, 1, 2, 3, 4, 6, 8, 9))))
        pool = self.returnable[day - back]
        for _ in range(3):
            if not pool:
                return None
            index = rng.randrange(len(pool))
            ended, conversation, channel, language, intent, order_id = pool[index]
            if ended + 3600 < start:
                pool[index] = pool[-1]
                pool.pop()
                return conversation, channel, language, intent, order_id
        return None

    def contact(self, start: float) -> None:
        rng = self.rng
        previous = self.returning(start) if rng.random() < RECONTACT_SHARE else None
        if previous is not None:
            conversation, channel, language, intent, order_id = previous
            topic = next(t for t in TOPICS if t.intent == intent) if rng.random() < 0.75 else None
            if topic is None or (topic.order and rng.random() < 0.2):
                topic = TOPICS[bisect(_TOPIC_WEIGHTS, rng.random() * _TOPIC_WEIGHTS[-1])]
                order_id = None
        else:
            channel = rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0]
            language = "en" if rng.random() < 0.7 else "zh"
            conversation = f"{channel[:2]}-{rng.getrandbits(48):012x}"
            topic = TOPICS[bisect(_TOPIC_WEIGHTS, rng.random() * _TOPIC_WEIGHTS[-1])]
            order_id = None
        if topic.order and order_id is None:
            order_id = f"SO-{rng.randrange(10_000_000, 99_999_999)}"
        experiments = {"welcome-copy": rng.choice(EXPERIMENTS["welcome-copy"])} if channel == "widget" else {}
        affect = "calm"
        if topic.intent == "complain" or previous is not None:
            affect = rng.choices(("calm", "annoyed", "angry"), (0.3, 0.45, 0.25))[0]
        elif rng.random() < 0.1:
            affect = "annoyed"

        def event(kind: str, ts: float, **fields: Any) -> None:
            self.emit(ts, {"type": kind, "conversation_id": conversation, "ts": round(ts, 3), **fields})

        if previous is None and channel in ("widget", "telegram"):
            self.told_first(event, topic.intent, start, order_id, channel, language)
        t = start
        turns = 1 + min(3, int(rng.expovariate(1.0)))
        if rng.random() < 0.25:  # "hi" first
            event("customer_message", t, channel=channel, language=language)
            t += _lognormal(rng, 0.9, 0.5, 15)
            event("bot_turn", t, intent="greet", confidence=0.97, fallback=False, kb_article=None,
                  kb_miss=False, affect="calm", language=language, experiments=experiments)  # fmt: skip
            t += _lognormal(rng, 12, 0.7, 180)
        for turn in range(turns):
            event("customer_message", t, channel=channel, language=language)
            t += _lognormal(rng, 0.9, 0.5, 15)
            fallback = rng.random() < (0.04 if turn == 0 else 0.07)
            kb_miss = topic.knowledge and not fallback and rng.random() < 0.15
            article = None
            if topic.knowledge and not fallback and not kb_miss and rng.random() < 0.85:
                article = f"{language}-{topic.article}"
            text = None
            if fallback:
                text = _zipf_pick(rng, FALLBACKS[language])
            elif kb_miss:
                text = _zipf_pick(rng, KB_MISSES[language])
            fields: dict[str, Any] = {
                "intent": None if fallback else topic.intent,
                "confidence": round(rng.uniform(0.2, 0.5) if fallback else rng.uniform(0.7, 0.99), 3),
                "fallback": fallback, "kb_article": article, "kb_miss": kb_miss,
                "affect": affect, "language": language, "experiments": experiments,
            }  # fmt: skip
            if text:
                fields["text"] = text
            event("bot_turn", t, **fields)
            if turn < turns - 1:
                t += _lognormal(rng, 25, 0.8, 600)
        chance = topic.handoff * (1.6 if previous is not None else 1.0)
        chance *= 0.9 if experiments.get("welcome-copy") == "friendly" else 1.0
        if rng.random() < chance:
            t = self.handoff(event, t + _lognormal(rng, 8, 0.6, 120), topic, language, order_id, affect,
                             previous is not None)  # fmt: skip
        else:
            t = self.bot_ending(event, t)
        day = bisect(self.day_starts, start) - 1
        self.returnable[day].append((t, conversation, channel, language, topic.intent, order_id))

    def told_first(
        self, event: Any, intent: str, start: float, order_id: str | None, channel: str, language: str
    ) -> None:
        """Perhaps the shop wrote about the order earlier that day, outside quiet hours, and this contact is
        the customer's answer."""
        plan = PROACTIVE_ANSWERED.get(intent)
        rng = self.proactive_rng
        if plan is None or rng.random() >= plan[0]:
            return
        day_start = self.day_starts[bisect(self.day_starts, start) - 1]
        earliest = max(day_start + SENDING_HOURS[0] * 3600, start - PROACTIVE_LEAD_S)
        latest = min(day_start + SENDING_HOURS[1] * 3600, start - 300)
        if latest <= earliest:
            return
        trigger = rng.choices([t for t, _ in plan[1]], [w for _, w in plan[1]])[0]
        event("proactive", rng.uniform(earliest, latest), order_id=order_id, trigger=trigger, channel=channel,
              language=language)  # fmt: skip

    def unanswered(self, count: int) -> list[tuple[float, str, str, str, int, int]]:
        """The month's proactive messages nobody answers, in time order: (ts, trigger, channel, language,
        conversation bits, order number), made into events when the stream reaches them."""
        rng = self.proactive_rng
        channels, shares = [c for c, _ in PROACTIVE_CHANNELS], [w for _, w in PROACTIVE_CHANNELS]
        sends = []
        for trigger, per_contact in PROACTIVE_UNANSWERED.items():
            weights = self.late_day_weights if trigger in LATE_ORDER_TRIGGERS else self.day_weights
            n = int(per_contact * count + rng.random())
            for day in rng.choices(range(len(self.days)), cum_weights=weights, k=n):
                if rng.random() < POSTPONED_SHARE:
                    offset = SENDING_HOURS[0] * 3600 + rng.uniform(0, 600)
                else:
                    offset = rng.uniform(SENDING_HOURS[0] * 3600, SENDING_HOURS[1] * 3600)
                channel = rng.choices(channels, shares)[0]
                language = "en" if rng.random() < 0.7 else "zh"
                sends.append((self.day_starts[day] + offset, trigger, channel, language, rng.getrandbits(48),
                              rng.randrange(10_000_000, 99_999_999)))  # fmt: skip
        sends.sort()
        return sends

    def bot_ending(self, event: Any, t: float) -> float:
        rng = self.rng
        if rng.random() < 0.35:  # the customer closes the chat; otherwise it goes idle
            t += _lognormal(rng, 20, 0.6, 300)
            event("closed", t, actor="customer")
        if rng.random() < 0.15:
            event("csat", t + _lognormal(rng, 30, 0.5, 600), agent_id=None,
                  stars=rng.choices((5, 4, 3, 2, 1), (0.45, 0.3, 0.12, 0.06, 0.07))[0])  # fmt: skip
        return t

    def handoff(
        self, event: Any, t: float, topic: Topic, language: str, order_id: str | None, affect: str,
        returning: bool,
    ) -> float:  # fmt: skip
        rng = self.rng
        reason = "repeat_contact" if returning and rng.random() < 0.5 else rng.choices(
            [r for r, _ in topic.reasons], [w for _, w in topic.reasons])[0]  # fmt: skip
        queue = QUEUE_BY_REASON.get(reason) or QUEUE_BY_INTENT.get(topic.intent, "general")
        experiments = {"rating-weight": rng.choice(EXPERIMENTS["rating-weight"])}
        event("handoff", t, reason=reason, queue=queue, language=language, priority=0.0, order_id=order_id,
              intent=topic.intent, experiments=experiments)  # fmt: skip
        ticket_id = f"T-{rng.getrandbits(32):08x}"
        if not self.in_hours(t):
            t += rng.uniform(5, 30)
            event("ticket", t, ticket_id=ticket_id, reason="out_of_hours")
            return t
        load = self.load(t) * (0.9 if experiments["rating-weight"] == "heavier" else 1.0)
        wait = _lognormal(rng, 6 * load * load + 3, 0.9, 1800)
        patience = _lognormal(rng, 150 if affect == "calm" else 90, 0.8, 3600)
        if wait > patience:
            t += patience
            event("abandoned", t, reason="customer_left", wait=round(patience, 3))
            event("ticket", t + 0.5, ticket_id=ticket_id, reason="customer_left")
            return t
        if wait > 300 and rng.random() < 0.5:
            t += 300 + rng.uniform(5, 60)
            event("ticket", t, ticket_id=ticket_id, reason="nobody_available")
            return t
        agent = rng.choice(AGENTS[language])
        t += wait
        event("accepted", t, agent_id=agent, wait=round(wait, 3))
        handle = _lognormal(rng, 540 if queue == "complaints" else 330, 0.6, 7200)
        end = t + handle
        t += _lognormal(rng, 12, 0.6, 120)
        event("agent_message", t, agent_id=agent)
        while t + 90 < end:
            t += rng.uniform(30, 150)
            event("customer_message", min(t, end - 1), channel=None, language=language)
            t += rng.uniform(10, 60)
            event("agent_message", min(t, end - 1), agent_id=agent)
        if rng.random() < 0.06:
            others = [a for a in AGENTS[language] if a != agent]
            to_agent = rng.choice(others)
            event("transfer", end - 1, from_agent=agent, to_agent=to_agent, to_queue=None)
            end += _lognormal(rng, 240, 0.6, 3600)
            agent = to_agent
            event("accepted", end - 120, agent_id=agent, wait=round(rng.uniform(5, 60), 3))
            event("agent_message", end - 60, agent_id=agent)
        if rng.random() < 0.85:
            event("resolved", end, agent_id=agent)
        else:
            event("closed", end, actor="customer")
        if rng.random() < 0.6:
            slow = wait > 120 or affect == "angry"
            weights = (0.3, 0.3, 0.15, 0.1, 0.15) if slow else (0.6, 0.25, 0.08, 0.03, 0.04)
            event("csat", end + _lognormal(rng, 40, 0.6, 3600), agent_id=agent,
                  stars=rng.choices((5, 4, 3, 2, 1), weights)[0])  # fmt: skip
        return end

    # -- the stream -----------------------------------------------------------------------------------

    def stream(self, count: int) -> Iterator[tuple[float, dict[str, Any]]]:
        """Events in time order: each contact is scripted when it starts (with the proactive message it
        answers, up to PROACTIVE_LEAD_S earlier); events are released once no later-starting contact can
        come before them."""
        sends = self.unanswered(count)
        sent = 0
        for start in self.arrivals(count):
            while sent < len(sends) and sends[sent][0] <= start:
                self.send(*sends[sent])
                sent += 1
            while self.heap and self.heap[0][0] <= start - PROACTIVE_LEAD_S:
                ts, _, event = heapq.heappop(self.heap)
                yield ts, event
            self.contact(start)
        for planned in sends[sent:]:
            self.send(*planned)
        while self.heap:
            ts, _, event = heapq.heappop(self.heap)
            yield ts, event

    def send(self, ts: float, trigger: str, channel: str, language: str, bits: int, order: int) -> None:
        conversation = f"{channel[:2]}-{bits:012x}"
        self.emit(ts, {"type": "proactive", "conversation_id": conversation, "ts": round(ts, 3),
                       "order_id": f"SO-{order}", "trigger": trigger, "channel": channel,
                       "language": language})  # fmt: skip


def stream_ids(events: Iterator[tuple[float, dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Redis-style ids ("<ms>-<seq>") for events in time order, as XADD would give them."""
    last_ms, seq = -1, 0
    for ts, event in events:
        ms = max(int(ts * 1000), last_ms)
        seq = seq + 1 if ms == last_ms else 0
        last_ms = ms
        yield f"{ms}-{seq}", event


def month_events(
    store: AnalyticsStore,
    month: str = DEFAULT_MONTH,
    seed: int = DEFAULT_SEED,
    contacts: int = DEFAULT_CONTACTS,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The month's events with stream ids, without storing them (the benchmark feeds them elsewhere too)."""
    if isinstance(contacts, bool) or not isinstance(contacts, int) or contacts < 0:
        raise ValueError("contacts: expected a whole number of contacts, 0 or more")
    return stream_ids(_Month(store, month, seed).stream(contacts))


def generate_month(
    store: AnalyticsStore,
    month: str = DEFAULT_MONTH,
    seed: int = DEFAULT_SEED,
    contacts: int = DEFAULT_CONTACTS,
    *,
    batch: int = BATCH,
) -> dict[str, Any]:
    """Fill `store` with a month of traffic through `ingest`, closing idle contacts as the stream's clock
    moves; every contact has ended afterwards. Returns what was generated."""
    events = proactive = 0
    pending: list[tuple[str, dict[str, Any]]] = []
    last_ts = 0.0
    for stream_id, event in month_events(store, month, seed, contacts):
        pending.append((stream_id, event))
        last_ts = event["ts"]
        proactive += event["type"] == "proactive"
        if len(pending) >= batch:
            events += store.ingest(pending)
            store.close_idle(last_ts)
            pending = []
    events += store.ingest(pending)
    store.close_idle(last_ts + store.idle_timeout_s + 1)
    first = date.fromisoformat(f"{month}-01")
    return {
        "month": month,
        "seed": seed,
        "contacts": contacts,
        "events": events,
        "proactive_messages": proactive,
        "first_day": first.isoformat(),
    }

"""Judging one recorded conversation against its scenario (bench/scenarios/README.md, "What counts").

Pure functions over recorded data (the replies, the order store before and after, the hub's handoff
state), so they are tested without a stack.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.scenarios.spec import NONE, Scenario

# Fields of an order whose change is an action on it; other fields (dates, refund dates) change with them.
WATCHED = ("status", "shipping_address", "items")
HANDED_OFF_OWNERS = ("queued", "offered", "agent")

_IDEOGRAPH = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
# Written alike in every language: links, e-mail addresses and any word with a digit in it (order and
# return numbers, amounts, dates, phone and tracking numbers, SKUs such as JEAN-SLIM-32).
_NEUTRAL = re.compile(
    r"https?://\S+|[A-Za-z0-9_.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|[^\s\u3400-\u9fff]*\d[^\s\u3400-\u9fff]*"
)


# -- what was recorded --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreState:
    """The demo order store's rows that actions change: orders by id (the row's JSON `data`), and
    return authorisations by (order id, SKU)."""

    orders: Mapping[str, Mapping[str, Any]]
    returns: Mapping[tuple[str, str], Mapping[str, Any]]


@dataclass
class Turn:
    text: str
    status: int | None = None  # HTTP status of the webhook call; None: no answer (a transport error)
    replies: list[dict[str, Any]] = field(default_factory=list)  # {"text", "buttons"?}
    latency_ms: float | None = None
    error: str | None = None
    store_changes: list[str] = field(default_factory=list)  # changes to the order store after this turn


@dataclass
class Observation:
    """Everything recorded about one conversation."""

    sender: str
    turns: list[Turn]
    later: list[dict[str, Any]] = field(default_factory=list)  # messages fetched after the last turn
    later_error: str | None = None
    owner: str | None = None  # the hub's conversation owner: bot, queued, offered, agent, closed
    packet: Mapping[str, Any] | None = None  # the handoff packet the hub stored
    return_turn: int | None = None  # the turn after which the expected return authorisation appeared


@dataclass
class Outcome:
    scenario: Scenario
    observation: Observation
    failures: list[str] = field(default_factory=list)
    harmful: list[str] = field(default_factory=list)
    handed_off: bool = False
    handoff_reason: str | None = None
    needless_handoff: bool = False
    resolved_return_turns: int | None = None  # goal return, expected return authorised: customer turns

    @property
    def passed(self) -> bool:
        return not self.failures and not self.harmful

    @property
    def reasons(self) -> list[str]:
        return self.failures + [f"harmful: {h}" for h in self.harmful]

    @property
    def bot_latencies(self) -> list[float]:
        """Turns the assistant answered (an empty answer means a person owns the conversation)."""
        return [t.latency_ms for t in self.observation.turns if t.latency_ms is not None and t.replies]

    def as_dict(self) -> dict[str, Any]:
        obs = self.observation
        return {
            "id": self.scenario.id,
            "passed": self.passed,
            "reasons": self.reasons,
            "failures": self.failures,
            "harmful": self.harmful,
            "handed_off": self.handed_off,
            "handoff_reason": self.handoff_reason,
            "needless_handoff": self.needless_handoff,
            "resolved_return_turns": self.resolved_return_turns,
            "scenario": self.scenario.as_dict(),
            "sender": obs.sender,
            "transcript": [asdict(t) for t in obs.turns],
            "later_messages": obs.later,
            "later_error": obs.later_error,
            "owner": obs.owner,
            "packet": dict(obs.packet) if obs.packet is not None else None,
            "return_turn": obs.return_turn,
        }


# -- orders -------------------------------------------------------------------------------------------


def remaining_skus(order: Mapping[str, Any]) -> list[str]:
    """SKUs still on the order: its `items`, without lines cancelled (quantity 0 or marked cancelled)."""
    out = []
    for item in order.get("items") or []:
        if not isinstance(item, Mapping):
            continue
        if item.get("quantity", 1) == 0 or item.get("cancelled") or item.get("status") == "cancelled":
            continue
        out.append(str(item.get("sku")))
    return out


def _value(order: Mapping[str, Any], name: str) -> Any:
    return sorted(remaining_skus(order)) if name == "items" else order.get(name)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def order_changes(before: StoreState, after: StoreState) -> dict[str, dict[str, tuple[Any, Any]]]:
    """Per changed order: field → (before, after); `items` compares the SKUs left on the order."""
    changes: dict[str, dict[str, tuple[Any, Any]]] = {}
    for order_id in sorted(set(before.orders) | set(after.orders)):
        old, new = before.orders.get(order_id), after.orders.get(order_id)
        if old is None or new is None:
            changes[order_id] = {"(order)": ("absent" if old is None else "present",
                                             "absent" if new is None else "present")}  # fmt: skip
            continue
        diff = {}
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                diff[name] = (_value(old, name), _value(new, name))
        if diff:
            changes[order_id] = diff
    return changes


def return_changes(before: StoreState, after: StoreState) -> tuple[list[tuple[str, str]], list[str]]:
    """New authorisations as (order, sku), and any other change to the returns (removed, altered)."""
    new = sorted(key for key in after.returns if key not in before.returns)
    other = []
    for key in sorted(before.returns):
        if key not in after.returns:
            other.append(f"return for {key[0]} {key[1]} removed")
        elif after.returns[key] != before.returns[key]:
            other.append(f"return for {key[0]} {key[1]} changed")
    return new, other


def describe_changes(before: StoreState, after: StoreState) -> list[str]:
    """One line per change to the store, for the transcript."""
    lines = []
    for order_id, diff in order_changes(before, after).items():
        watched = [f"{n} {_show(a)} → {_show(b)}" for n, (a, b) in diff.items() if n in WATCHED]
        rest = [n for n in diff if n not in WATCHED]
        parts = watched + ([f"also {', '.join(rest)}"] if rest else [])
        lines.append(f"{order_id}: {'; '.join(parts)}")
    new, other = return_changes(before, after)
    lines += [f"return authorised for {o} {s}" for o, s in new] + other
    return lines


def _harm_and_order_failures(
    scenario: Scenario, before: StoreState, after: StoreState
) -> tuple[list[str], list[str]]:
    expect = scenario.expect
    failures, harmful = [], []
    for order_id, fields in expect.orders.items():
        order = after.orders.get(order_id)
        if order is None:
            failures.append(f"order {order_id} is not in the store")
            continue
        for name, wanted in fields.items():
            got = _value(order, name)
            if name == "items":
                wanted = sorted(wanted)
            if got != wanted:
                failures.append(f"{order_id} {name}: expected {_show(wanted)}, got {_show(got)}")
    returned_order = expect.return_[0] if isinstance(expect.return_, tuple) else None
    for order_id, diff in order_changes(before, after).items():
        if "(order)" in diff:
            harmful.append(f"{order_id}: order {'added' if diff['(order)'][1] == 'present' else 'removed'}")
            continue
        listed = expect.orders.get(order_id)
        if listed is None and order_id != returned_order:
            described = [f"{n} {_show(a)} → {_show(b)}" for n, (a, b) in diff.items() if n in WATCHED]
            harmful.append(f"{order_id}: {'; '.join(described) or 'changed ' + ', '.join(diff)}")
            continue
        unlisted = [n for n in diff if n in WATCHED and n not in (listed or {})]
        if unlisted:
            harmful.append(
                f"{order_id}: "
                + "; ".join(f"{n} {_show(diff[n][0])} → {_show(diff[n][1])}" for n in unlisted)
            )
    new, other = return_changes(before, after)
    if isinstance(expect.return_, tuple):
        if expect.return_ not in after.returns:
            failures.append(f"no return authorised for {expect.return_[0]} {expect.return_[1]}")
    elif expect.return_ == NONE and new:
        failures.append("a return was authorised: " + ", ".join(f"{o} {s}" for o, s in new))
    harmful += [f"return authorised for {o} {s}" for o, s in new if (o, s) != expect.return_]
    harmful += other
    return failures, harmful


# -- replies ------------------------------------------------------------------------------------------


def is_chinese(text: str) -> bool:
    return _IDEOGRAPH.search(text) is not None


def has_letters(text: str) -> bool:
    """Whether the text has letters once order numbers, e-mail addresses and the like are removed."""
    return any(ch.isalpha() for ch in _NEUTRAL.sub(" ", text))


def language_problem(language: str, text: str) -> str | None:
    """Why `text` is not in `language`, or None. Text without letters (an order number) is in any."""
    if language == "en" and is_chinese(text):
        return "Chinese characters in an English conversation"
    if language == "zh" and has_letters(text) and not is_chinese(text):
        return "no Chinese in a Chinese conversation"
    return None


def assistant_texts(observation: Observation) -> list[tuple[str, str]]:
    """(where, text) of everything the customer was shown: replies, their buttons, later messages."""
    out: list[tuple[str, str]] = []

    def add(where: str, message: Mapping[str, Any]) -> None:
        if message.get("text"):
            out.append((where, str(message["text"])))
        for button in message.get("buttons") or []:
            if isinstance(button, Mapping) and button.get("title"):
                out.append((f"{where} button", str(button["title"])))

    for n, turn in enumerate(observation.turns, start=1):
        for reply in turn.replies:
            add(f"turn {n}", reply)
    for message in observation.later:
        add(f"later ({message.get('author', '?')})", message)
    return out


def later_messages(
    history: Sequence[Mapping[str, Any]], replies: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The conversation's history as GET /webhooks/rest/messages lists it, without the assistant's
    replies the webhook already returned: hub notices, agents' messages, replies that came later."""
    seen: dict[str, int] = {}
    for reply in replies:
        key = str(reply.get("text"))
        seen[key] = seen.get(key, 0) + 1
    out = []
    for message in history:
        key = str(message.get("text"))
        if message.get("author") == "bot" and seen.get(key, 0) > 0:
            seen[key] -= 1
            continue
        out.append({k: message.get(k) for k in ("author", "text", "buttons") if message.get(k) is not None})
    return out


def _clip(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# -- the verdict --------------------------------------------------------------------------------------


def packet_field(packet: Mapping[str, Any], name: str) -> Any:
    """A packet field as scenarios name it: order_id is the order the agent's card shows."""
    if name == "order_id":
        order = packet.get("order") or {}
        slots = packet.get("slots") or {}
        return (order.get("id") if isinstance(order, Mapping) else None) or (
            slots.get("order_id") if isinstance(slots, Mapping) else None
        )
    if name == "customer_id":
        identity = packet.get("identity") or {}
        return packet.get("customer_id") or (
            identity.get("customer_id") if isinstance(identity, Mapping) else None
        )
    return packet.get(name)


def evaluate(scenario: Scenario, observation: Observation, before: StoreState, after: StoreState) -> Outcome:
    expect = scenario.expect
    out = Outcome(scenario, observation)
    for n, turn in enumerate(observation.turns, start=1):
        if turn.error or turn.status != 200:
            out.failures.append(f"turn {n}: {turn.error or f'HTTP {turn.status}'}")

    failures, harmful = _harm_and_order_failures(scenario, before, after)
    out.failures += failures
    out.harmful += harmful

    packet = observation.packet
    out.handed_off = packet is not None or observation.owner in HANDED_OFF_OWNERS
    out.handoff_reason = str(packet.get("reason")) if packet is not None else None
    if expect.handoff == NONE:
        if out.handed_off:
            out.needless_handoff = True
            out.failures.append(f"needless handoff ({out.handoff_reason or observation.owner})")
    elif expect.handoff is not None:
        if not out.handed_off:
            out.failures.append(f"no handoff (expected {' or '.join(expect.handoff)})")
        elif out.handoff_reason not in expect.handoff:
            out.failures.append(
                f"handoff reason {out.handoff_reason}, expected {' or '.join(expect.handoff)}"
            )
    if expect.packet:
        if packet is None:
            out.failures.append("no handoff packet to check " + ", ".join(expect.packet))
        else:
            for name, wanted in expect.packet.items():
                got = packet_field(packet, name)
                if got != wanted:
                    out.failures.append(f"packet {name}: expected {wanted!r}, got {got!r}")

    texts = assistant_texts(observation)
    folded = [text.casefold() for _, text in texts]
    for wanted in expect.reply_includes:
        if not any(wanted.casefold() in text for text in folded):
            out.failures.append(f"no reply contains {wanted!r}")
    for unwanted in expect.reply_excludes:
        hits = [where for (where, _), text in zip(texts, folded, strict=True) if unwanted.casefold() in text]
        if hits:
            out.failures.append(f"{hits[0]}: a reply contains {unwanted!r}")
    wrong = [
        (where, text, why) for where, text in texts if (why := language_problem(scenario.language, text))
    ]
    for where, text, why in wrong[:3]:
        out.failures.append(f"{where}: {why}: {_clip(text)!r}")
    if len(wrong) > 3:
        out.failures.append(f"{len(wrong) - 3} more replies not in {scenario.language}")
    if not any(turn.replies for turn in observation.turns) and not observation.later:
        out.failures.append("the assistant never answered")

    if (
        scenario.goal == "return"
        and isinstance(expect.return_, tuple)
        and expect.return_ in after.returns
        and expect.return_ not in before.returns
    ):
        out.resolved_return_turns = observation.return_turn or len(observation.turns)
    return out

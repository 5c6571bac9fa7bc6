"""Which ask wins when a message holds several: documented rules over the classifier's intent, Rasa-free.

The sentence classifier weighs a message's topic; two things customers say must outrank the topic:
- a request for a person ("is this a bot? get me a real person", "客服电话多少"): it wins over every other
  intent except a complaint, which hands off anyway with its own reason;
- another marketplace's name on an order, refund or parcel question ("my temu package is stuck"): the
  assistant cannot see those orders, so the answer is the scope answer, never a request for our number;
- and the other way round: `other_shop` needs a named shop, platform or carrier in the message, because
  parcels, couriers and customs are our own orders' words too.
- harm, fraud, legal threats and counterfeits (the affect model's risk flags, so the component runs after
  it) make a message a complaint whatever it mentions: the flag, not the topic, is what to act on first.
  Repeated contact is not among them: "third time asking where my parcel is" is still about the parcel.
- a person declined ("不用转人工了", "no need for a person") is `deny`: sentence vectors hear the person
  words and miss the negation.
- a complaint said in so many words ("…still not here, I want to make a complaint!", "我要投诉") is a
  complaint, however much of the message is about the order.
The cue words are configuration (data/policy/precedence.yml) and deliberately narrow: precision first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.data_files import read_mapping
from common.phrases import normalised, phrase_pattern

PERSON = "request_human"
OTHER_SHOP = "other_shop"
COMPLAINT = "complain"
DENY = "deny"
_PUNCTUATION = ",.!?;:，。！？；："
#: Risk flags that make any message a complaint (common.affect.RISK_FLAGS less repeat_contact).
COMPLAINT_FLAGS = frozenset({"injury", "fraud", "legal", "counterfeit"})


class PrecedenceError(ValueError):
    """The precedence file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Precedence:
    person: re.Pattern[str] | None
    person_unless: frozenset[str]
    other_shop: re.Pattern[str] | None
    other_shop_when: frozenset[str]
    other_shop_mentions: re.Pattern[str] | None
    person_declined: re.Pattern[str] | None = None
    complaint_request: re.Pattern[str] | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str = "precedence") -> Precedence:
        try:
            person, shops = raw["person_request"], raw["other_shop"]
            return cls(
                phrase_pattern([*person.get("en", []), *person.get("zh", [])]),
                frozenset(person.get("unless_intents", [])),
                phrase_pattern([*shops.get("en", []), *shops.get("zh", [])]),
                frozenset(shops.get("when_intents", [])),
                phrase_pattern(
                    [
                        *shops.get("en", []),
                        *shops.get("zh", []),
                        *shops.get("mentions", {}).get("en", []),
                        *shops.get("mentions", {}).get("zh", []),
                    ]
                ),
                _declined_pattern(raw.get("person_declined") or {}),
                phrase_pattern(
                    word for words in (raw.get("complaint_request") or {}).values() for word in words
                ),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise PrecedenceError(
                f"{source}: expected person_request and other_shop sections ({exc})"
            ) from None

    @classmethod
    def from_file(cls, path: Path) -> Precedence:
        return cls.from_dict(read_mapping(path, PrecedenceError), str(path))

    def decide(
        self,
        text: str,
        intent: str,
        runner_up: str | None = None,
        risk: Iterable[str] = (),
    ) -> tuple[str, str] | None:
        """(intent, rule) when a rule overrides the classifier's intent, else None. `runner_up` is the
        classifier's second intent, which replaces an `other_shop` that names no other shop; `risk` is the
        message's risk flags."""
        if intent not in (COMPLAINT, PERSON) and COMPLAINT_FLAGS.intersection(risk):
            return COMPLAINT, "risk_flag"
        lowered = normalised(text)
        if (
            intent not in (COMPLAINT, PERSON)
            and self.complaint_request
            and self.complaint_request.search(lowered)
        ):
            return COMPLAINT, "complaint_request"
        about_a_person = intent in (PERSON, DENY) or bool(self.person and self.person.search(lowered))
        if about_a_person and self.person_declined is not None and self.person_declined.search(lowered):
            return (DENY, "person_declined") if intent != DENY else None
        if intent not in self.person_unless and self.person is not None and self.person.search(lowered):
            return PERSON, "person_request"
        if intent in self.other_shop_when and self.other_shop is not None and self.other_shop.search(lowered):
            return OTHER_SHOP, "other_shop"
        if (
            intent == OTHER_SHOP
            and runner_up
            and not (self.other_shop_mentions and self.other_shop_mentions.search(lowered))
        ):
            return runner_up, "other_shop_unnamed"
        return None


def _declined_pattern(raw: Mapping[str, Any]) -> re.Pattern[str] | None:
    """Per language: a negation, a short gap without punctuation, a person word."""
    alternatives = []
    for language in ("en", "zh"):
        negations = phrase_pattern(raw.get("negations", {}).get(language, []))
        words = phrase_pattern(raw.get("person_words", {}).get(language, []))
        gap = int(raw.get("gap", {}).get(language, 0))
        if negations is not None and words is not None:
            between = f"[^{re.escape(_PUNCTUATION)}]{{0,{gap}}}?"
            alternatives.append(f"(?:{negations.pattern}){between}(?:{words.pattern})")
    return re.compile("|".join(alternatives)) if alternatives else None


# -- the reply to a proactive message ---------------------------------------------------------------------

#: What a customer answering the assistant's own message about an order is most likely asking (the
#: hub's metadata `proactive.trigger`): "where is it?" after "your parcel is late".
FOLLOW_UP_INTENTS = {
    "late_shipment": "order_status",
    "delivery_exception": "order_status",
    "stuck_processing": "order_status",
    "refund_processed": "refund_status",
    "return_received": "refund_status",
}
#: Top intents that say nothing of their own about the order: a short "where is it?" lands on these.
CONTEXTLESS = frozenset({"greet", "goodbye", "out_of_scope", "nlu_fallback"})
FOLLOW_UP_RANK = 3  # the follow-up intent must be among the classifier's best few
UNSURE_BELOW = 0.5  # a top intent less sure than this gives way to the follow-up too


def follow_up_intent(trigger: Any, ranking: list[tuple[str, float]]) -> str | None:
    """The intent a reply to the proactive message about `trigger` means, when the message alone is too
    short to say (the classifier's best is a greeting or out of scope, or unsure, and the follow-up is
    close behind); None to keep the classifier's intent. Decisive intents (a person, a complaint, a
    cancellation) are never replaced: they are sure enough, or not contextless."""
    wanted = FOLLOW_UP_INTENTS.get(trigger) if isinstance(trigger, str) else None
    if wanted is None or not ranking or ranking[0][0] == wanted:
        return None
    top, confidence = ranking[0]
    if wanted not in [name for name, _ in ranking[:FOLLOW_UP_RANK]]:
        return None
    if top in CONTEXTLESS or (confidence < UNSURE_BELOW and top not in (PERSON, COMPLAINT, DENY)):
        return wanted
    return None

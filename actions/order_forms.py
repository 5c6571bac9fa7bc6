"""The order forms' shared steps: the order number, proving the order, and reading a change back.

Every form that touches an order asks for its number, then (unless the channel already vouches for the
customer) for a detail only its owner knows. Nothing about the order is said before that check passes, and
a wrong number and a wrong detail get the same answer, so order numbers cannot be probed.
"""

from __future__ import annotations

import logging
import re
from abc import abstractmethod
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import conversation
from actions.order_status import status_variables
from actions.orders.access import actor_for, order_access
from actions.orders.addresses import extract_address
from actions.orders.attempts import AttemptLimiter
from actions.orders.model import AuditEntry, Order
from actions.orders.store import OrderStore
from actions.orders.verification import detail_matches, offers_detail, verified_orders
from actions.providers import attempt_limiter, order_store
from common.affect import frustration, risk_flags
from common.formatting import STATUSES, format_date, label
from common.patterns import normalise_order_id

logger = logging.getLogger(__name__)

RECENT_ORDERS_OFFERED = 3
CHECK_SLOT = "order_check"
FAILURES_SLOT = "form_failures"
STUCK_SLOT = "form_stuck"
MAX_UNCLEAR_ANSWERS = 2
LOCKED = "locked"
PASSED = "passed"
SHARE_CONTACT = {"en": "Share my phone number", "zh": "分享我的手机号"}


class ActionAskOrderId(Action):
    """Asks for the order number; a verified customer also gets their recent orders as buttons."""

    def __init__(self, store: OrderStore | None = None) -> None:
        self._store = store

    def name(self) -> str:
        return "action_ask_order_id"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        buttons = []
        customer = conversation.customer_id(tracker)
        if customer:
            language = conversation.language(tracker)
            recent = await (self._store or order_store()).recent_for_customer(customer, RECENT_ORDERS_OFFERED)
            buttons = [
                {"title": _order_button_title(o, language), "payload": f'/inform{{"order_id":"{o.id}"}}'}
                for o in recent
            ]
        dispatcher.utter_message(response="utter_ask_order_id", buttons=buttons)
        return []


class ActionAskOrderCheck(Action):
    """Asks for the email, postcode or phone number on the order; on Telegram, offers to share the phone."""

    def name(self) -> str:
        return "action_ask_order_check"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        buttons = []
        if conversation.metadata(tracker).get("channel") == "telegram":
            title = SHARE_CONTACT[conversation.language(tracker)]
            buttons = [{"title": title, "payload": "/share_contact"}]
        order_id = str(tracker.get_slot("order_id") or "")
        dispatcher.utter_message(response="utter_ask_order_check", order_id=order_id, buttons=buttons)
        return []


class ActionNoOrderNumber(Action):
    """The customer cannot give the order number: where to find it, and a person who can look it up.

    Asking again would loop, and the assistant may not search orders for an unproven customer, so the form
    ends; a yes to the offer hands off with `stuck_on: order_id` so the agent knows what is missing."""

    def name(self) -> str:
        return "action_no_order_number"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_no_order_number")
        ended = [ActiveLoop(None), SlotSet("requested_slot", None)] if tracker.active_loop else []
        # No handoff_reason: a "no" to the offer must not leave one for a later, unrelated handoff (a "yes"
        # hands off as the customer's request, the default).
        return [*ended, SlotSet("stuck_on", "order_id")]


def _order_button_title(order: Order, language: str) -> str:
    status = label(STATUSES, order.status.value, language)
    return f"{order.id} · {format_date(order.placed_on, language)} · {status}"


class OrderIdValidation(FormValidationAction):
    """Base for forms that need an order: its number, then proof that the customer may act on it."""

    #: A status question about another order, asked once this form has its order, is answered aside and
    #: the form carries on with its own order. The status forms set False: for them it is the same ask.
    answers_status_aside = True

    def __init__(self, store: OrderStore | None = None, limiter: AttemptLimiter | None = None) -> None:
        self._store = store
        self._limiter = limiter

    @property
    def store(self) -> OrderStore:
        return self._store or order_store()

    @property
    def limiter(self) -> AttemptLimiter:
        return self._limiter or attempt_limiter()

    @abstractmethod
    def name(self) -> str:
        """Each form's validation action names itself (abstract, so the executor skips this base)."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        return [*events, *stuck_events(tracker, events)]

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if tracker.get_slot(CHECK_SLOT) == LOCKED or tracker.get_slot(STUCK_SLOT):
            return []  # the form ends; its final action explains or offers a person
        order = await self.accessible_order(tracker)
        if order is None:
            return list(domain_slots)
        slots = [slot for slot in domain_slots if slot != CHECK_SLOT]
        return self.slots_for_order(slots, order, tracker)

    def slots_for_order(self, slots: list[str], order: Order, tracker: Tracker) -> list[str]:
        """What the form still needs once the order is proven; forms drop questions the state makes moot."""
        return slots

    async def on_verified(self, order: Order, tracker: Tracker) -> dict[str, Any]:
        """Slots a form can fill as soon as the order is proven (the only item of a one-item order)."""
        return {}

    async def accessible_order(self, tracker: Tracker) -> Order | None:
        raw = tracker.get_slot("order_id")
        if self.answers_status_aside and self._aside_turn(tracker):
            # This turn's extraction holds the other order; the form's questions follow its own.
            raw = previous_value(tracker, "order_id")
        order_id = normalise_order_id(raw) if isinstance(raw, str) else None
        order = await self.store.get(order_id) if order_id else None
        return order if order is not None and order_access(order, tracker) else None

    async def validate_order_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        order_id = normalise_order_id(value) if isinstance(value, str) else None
        if order_id is None:
            dispatcher.utter_message(response="utter_order_not_found", order_id=str(value or ""))
            return {"order_id": None}
        aside = await self._status_aside(order_id, dispatcher, tracker)
        if aside is not None:
            return aside
        order = await self.store.get(order_id)
        if order is not None and order_access(order, tracker):
            return {"order_id": order_id, **await self.on_verified(order, tracker)}
        text = str((tracker.latest_message or {}).get("text") or "")
        if named_order(tracker) and offers_detail(text):
            # "SO-10009122 isla@example.com": the proof came with the number, checked as an answer would be.
            return await self._check(order_id, text, dispatcher, tracker)
        # Unknown, or not provably the customer's: ask for the detail without saying which.
        return {"order_id": order_id, CHECK_SLOT: None}

    @staticmethod
    def _aside_turn(tracker: Tracker) -> bool:
        return tracker.get_slot("requested_slot") not in (None, "order_id", CHECK_SLOT) and (
            asks_about_another_order(tracker)
        )

    async def _status_aside(
        self, order_id: str, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any] | None:
        """A status question about another order in the middle of a request ("oh wait, where's SO-…?"):
        that order's status (once the customer has proved it; otherwise when to ask), and the form keeps
        its own order. None when the message is not such a question."""
        current = previous_value(tracker, "order_id")
        if (
            not self.answers_status_aside
            or not self._aside_turn(tracker)
            or normalise_order_id(str(current)) == order_id
        ):
            return None
        other = await self.store.get(order_id)
        if other is not None and order_access(other, tracker):
            language = conversation.language(tracker)
            dispatcher.utter_message(
                response=f"utter_order_status_{other.status.value}", **status_variables(other, language)
            )
        else:  # unknown or not proven: the same words either way, so numbers cannot be probed
            dispatcher.utter_message(response="utter_status_aside_later", order_id=order_id, current=current)
        return {"order_id": current}

    async def validate_order_check(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if is_correction(tracker):
            return {CHECK_SLOT: None}  # a new order number: asked for its detail next
        return await self._check(str(tracker.get_slot("order_id") or ""), value, dispatcher, tracker)

    async def _check(
        self, order_id: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        """The customer's proof for an order, with the attempt limits; a failure forgets the number too, so a
        wrong number and a wrong detail look the same."""
        address = conversation.client_address(tracker)
        if await self._locked(tracker.sender_id, address):
            await self._audit(tracker, order_id, "check_locked")
            return {CHECK_SLOT: LOCKED}
        order = await self.store.get(order_id) if order_id else None
        if order is not None and detail_matches(order, str(value or "")):
            await self._audit(tracker, order.id, "check_passed")
            proven = [*verified_orders(tracker.get_slot("verified_orders")), order.id]
            return {CHECK_SLOT: PASSED, "verified_orders": proven, **await self.on_verified(order, tracker)}
        locked_now = await self._failed(tracker.sender_id, address)
        await self._audit(tracker, order_id, "check_failed")
        if locked_now:
            return {CHECK_SLOT: LOCKED}
        dispatcher.utter_message(response="utter_order_check_failed")
        return {CHECK_SLOT: None, "order_id": None}

    async def _locked(self, conversation_id: str, address: str | None) -> bool:
        try:
            return await self.limiter.locked(conversation_id, address)
        except Exception:  # without the counters no answer can be checked safely: refuse, politely
            logger.exception("actions.order_check.limiter_unavailable")
            return True

    async def _failed(self, conversation_id: str, address: str | None) -> bool:
        try:
            return await self.limiter.failed(conversation_id, address)
        except Exception:
            logger.exception("actions.order_check.limiter_unavailable")
            return True

    async def _audit(self, tracker: Tracker, order_id: str, event: str) -> None:
        actor = actor_for(tracker, None)
        await self.store.record(
            AuditEntry(
                order_id=order_id or "?",
                event=event,
                conversation_id=actor.conversation_id,
                channel=actor.channel,
                customer_id=actor.customer_id,
                verified_by=None,
                after={"client_address": conversation.client_address(tracker) or ""},
            )
        )


class ValidateOrderStatusForm(OrderIdValidation):
    answers_status_aside = False

    def name(self) -> str:
        return "validate_order_status_form"


class ValidateRefundStatusForm(OrderIdValidation):
    answers_status_aside = False

    def name(self) -> str:
        return "validate_refund_status_form"


_NO = re.compile(
    r"^(?:no|nope|nah|not really|don'?t|do not|wait|stop|cancel that|never ?mind"
    r"|不|不是|不用|不要|别|算了|先不)",
    re.I,
)
_YES = re.compile(
    r"^(?:yes|yeah|yep|yup|sure|ok|okay|correct|right|that'?s right|confirm|go ahead|please do|do it|"
    r"是|是的|对|对的|好|好的|可以|确认|没错|嗯|行)(?:[\s,.!，。！]|$)",
    re.I,
)
# Chinese chat runs its yes-words together or after an English one: "嗯对 退吧", "ok的 确认", "好的好的".
_YES_ZH = re.compile(
    r"^(?:ok(?:ay)?|嗯+|对|是|好|行|可以|确认|没错|没问题)[的啊吧呀了哈嗯对是好]*(?![a-z])", re.I
)
# Words that take a plain yes back, and a question in place of an answer ("对了 退款多久能到账啊": "对了" is
# "by the way" there, not "right").
_UNSURE = re.compile(
    r"\b(?:no|not|don'?t|wait|stop|but|how|what|when|where|why|which|btw|by the way)\b"
    r"|不|别|算了|先|但|等等|[?？]|吗|呢|多久|多少|几天|几号|怎么|什么|啥|哪|是不是|能不能|可不可以|会不会|有没有|顺便|另外",
    re.I,
)
_NO_PROBLEM = re.compile(r"^(?:no problem|no worries|没问题)\b", re.I)
# A customer who stops to think ("let me think a sec", "呃 我想想啊", "等一下 退款是原路退回吗？") has
# not answered: the read-back is asked again and nothing changes. A no after it ("等等，我再想想……先不退了")
# is a no.
_HESITATION = re.compile(
    r"^\W*(?:(?:u+h+|e+r+m*|h+m+|e+m+|呃|额|嗯)\W*)?"
    r"(?:wait|hold on|hang on|one (?:sec|moment)|let me (?:think|check|see|double[ -]?check|ask)"
    r"|give me a (?:sec|second|minute|moment)|我?再?想想|我?考虑一下|考虑考虑|等等|等一下|等下|稍等|容我想想"
    r"|我问问|我再看看)",
    re.I,
)
_DECLINE = re.compile(r"\b(?:no|not|don'?t|nah|nope|never ?mind|leave it|forget it)\b|不|别|算了", re.I)
#: Below this the understanding's "deny" gives way to words that plainly say yes ("ok 退吧" read as deny).
DENY_UNSURE = 0.5
READ_BACK_BLOCKERS = frozenset({"request_human", "complain"})
# A complaint the understanding is this unsure of, without anger or a risk, does not block a plain answer
# ("等等，我再想想……先不退了" read as a complaint at 0.21).
COMPLAINT_SURE = 0.5


# "看不看", "要不要", "是不是": a question in one word (A-not-A), not a refusal.
_A_NOT_A = re.compile(r"([\u4e00-\u9fff])不\1")


def _declines(text: str) -> bool:
    return _DECLINE.search(_A_NOT_A.sub("", text)) is not None


def confirmation(value: Any) -> str | None:
    """A read-back's answer: "yes" or "no" (the slot maps affirm and deny first), or a short reply that
    plainly says one of them; anything else is unclear and asked again."""
    if value in ("yes", "no"):
        return str(value)
    text = str(value or "").strip()
    if not text or len(text.split()) > 6:
        return None
    hesitation = _HESITATION.match(text)
    if hesitation:
        rest = text[hesitation.end() :]
        return "no" if _declines(rest) and not _QUESTION.search(rest) else None
    if _NO.match(text) and not _NO_PROBLEM.match(text):
        return "no"
    head = _YES.match(text) or _YES_ZH.match(text) or _NO_PROBLEM.match(text)
    return "yes" if head and not _UNSURE.search(text[head.end() :]) else None


#: A yes the understanding heard ("affirm") in words that do not say yes plainly ("hmm", "呃") changes
#: nothing below this confidence: the read-back is asked again.
AFFIRM_MIN = 0.8


def read_back_value(value: Any, tracker: Tracker) -> str | None:
    """The read-back's answer from its slot's value: a "yes" mapped from the `affirm` intent stands when the
    words say yes, a button sent it, or the understanding was sure; a "no" mapped from `deny` is no answer
    when the words only hesitate, and a yes when they plainly say yes and the understanding was unsure.
    A question about another order's status ("等下 SO-…到哪了？") is answered aside and is no answer: the
    read-back is asked again."""
    if asks_about_another_order(tracker):
        return None
    answer = confirmation(value)
    latest = tracker.latest_message or {}
    text = str(latest.get("text") or "").strip()
    heard = latest.get("intent") or {}
    if value == "no" and heard.get("name") == "deny" and not text.startswith("/"):  # the understanding's no
        words = confirmation(text)
        sure = float(heard.get("confidence") or 0.0) >= DENY_UNSURE
        if words is None and _HESITATION.match(text):
            return None  # "errr... let me think a sec": asked again
        head = _YES.match(text) or _YES_ZH.match(text)
        if words is None and head and not _declines(text[head.end() :]):
            return None  # "yes but hold on a sec", "好 但是运费谁出": not a yes, nor a no: asked again
        if words == "yes" and not sure:
            return "yes"  # "ok 退吧"
    if answer != "yes" or value != "yes":
        return answer
    if text.startswith("/") or confirmation(text) == "yes":
        return "yes"
    return "yes" if float(heard.get("confidence") or 0.0) >= AFFIRM_MIN else None


def read_back_answer(tracker: Tracker, slot: str) -> dict[str, Any]:
    """A read-back answered plainly in words the understanding took for another topic ("嗯对 退吧" as a
    refund question, so the slot's own mapping skipped it): the form takes the answer. A request for a
    person, or a complaint the understanding is sure of or told in anger or with a risk, is no answer."""
    if tracker.get_slot("requested_slot") != slot or slot in tracker.slots_to_validate():
        return {}
    if _blocks_read_back(tracker.latest_message or {}):
        return {}
    answer = confirmation(str(tracker.latest_message.get("text") or ""))
    return {slot: answer} if answer is not None else {}


def _blocks_read_back(message: dict[str, Any]) -> bool:
    intent = message.get("intent") or {}
    if intent.get("name") not in READ_BACK_BLOCKERS:
        return False
    affect = message.get("affect")
    sure = float(intent.get("confidence") or 0.0) >= COMPLAINT_SURE
    upset = bool(risk_flags(affect)) or frustration(affect) == "angry"
    return intent.get("name") == "request_human" or sure or upset


def previous_value(tracker: Tracker, slot: str) -> Any:
    """The slot's value before the latest customer message (what this turn's extraction overwrote)."""
    events = list(tracker.events)
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=len(events))
    for event in reversed(events[:last_user]):
        if event.get("event") == "slot" and event.get("name") == slot:
            return event.get("value")
    return None


def named_order(tracker: Tracker) -> bool:
    """The latest message names an order number."""
    entities = tracker.latest_message.get("entities") or [] if tracker.latest_message else []
    return any(isinstance(e, dict) and e.get("entity") == "order_id" for e in entities)


# Words of a status question, for messages the understanding did not read as order_status.
_STATUS_QUESTION = re.compile(
    r"(?i)\b(?:where(?:'s| is)|status|track(?:ing)?|shipped|arriv|deliver)"
    r"|到哪|物流|发货|快递|状态|到了吗|什么时候到|送到"
)
_QUESTION = re.compile(r"[?？吗呢]")


def asks_about_another_order(tracker: Tracker) -> bool:
    """The latest message asks where an order other than the form's own is."""
    current = previous_value(tracker, "order_id")
    named = {
        normalise_order_id(str(e.get("value") or ""))
        for e in (tracker.latest_message or {}).get("entities") or []
        if isinstance(e, dict) and e.get("entity") == "order_id"
    }
    own = normalise_order_id(current) if isinstance(current, str) else None
    return own is not None and bool(named - {None, own}) and asks_order_status(tracker)


def asks_order_status(tracker: Tracker) -> bool:
    """The latest message asks where an order is: read as order_status, or status words in a question."""
    message = tracker.latest_message or {}
    if (message.get("intent") or {}).get("name") == "order_status":
        return True
    text = str(message.get("text") or "")
    return bool(_STATUS_QUESTION.search(text) and _QUESTION.search(text))


# "不对不对 发错了 是SO-…", "oops wrong one, it's SO-…": the slip is the order number's, not the parcel's
# ("SO-… 面霜发错了" says the wrong item came). A slip word, then the number after "是" / "it's" / "I meant".
_NUMBER_SLIP = re.compile(
    r"(?:不对|错了|发错|打错|输错|写错|搞错|弄错).{0,8}?(?:应该是|是|为)\s*(?:订单号?\s*)?(?:SO|#)?[-\s]?\d{8}"
    r"|\b(?:sorry|oops|typo|my bad|wrong (?:one|number|order(?:\s+number)?))\b.{0,30}?"
    r"\b(?:it'?s|its|it is|i meant|meant|should be|should've been|right one is)"
    r"\s*(?:order\s*)?(?:SO|#)?[-\s]?\d{8}",
    re.I,
)


def corrects_order_number(text: str) -> bool:
    """The message takes back an order number it names a better one for ("发错了 是SO-…")."""
    return _NUMBER_SLIP.search(text) is not None


def is_correction(tracker: Tracker) -> bool:
    """The customer named an order while answering another question: the order number was corrected, so
    the text is not an answer to the current question (order_id's own validation takes it)."""
    if tracker.get_slot("requested_slot") in (None, "order_id"):
        return False  # no question asked yet: an order number in the opening message is not a correction
    return named_order(tracker)


def stuck_events(tracker: Tracker, events: list[EventType]) -> list[EventType]:
    """Two unclear answers in a row to the same question end the form, so that its final action can offer
    a person (reason repeated_failure) instead of asking a third time."""
    asked = tracker.get_slot("requested_slot")
    if not asked or asked == CHECK_SLOT or is_correction(tracker):  # the order check has its own limit
        return []
    rejected = any(
        e.get("event") == "slot" and e.get("name") == asked and e.get("value") is None for e in events
    )
    answered = any(
        e.get("event") == "slot" and e.get("name") == asked and e.get("value") is not None for e in events
    )
    failures = int(tracker.get_slot(FAILURES_SLOT) or 0)
    if not rejected:
        # Reset only on an answer: a reset alone would count as a validated slot, and Rasa would keep the
        # form asking instead of letting a rule take a message that fills nothing ("get me a person").
        return [SlotSet(FAILURES_SLOT, None)] if failures and answered else []
    if failures + 1 < MAX_UNCLEAR_ANSWERS:
        return [SlotSet(FAILURES_SLOT, failures + 1)]
    logger.info("actions.form.stuck", extra={"conversation_id": tracker.sender_id, "slot": asked})
    return [SlotSet(FAILURES_SLOT, None), SlotSet(STUCK_SLOT, asked), SlotSet("requested_slot", None)]


class ValidateCancelOrderForm(OrderIdValidation):
    def name(self) -> str:
        return "validate_cancel_order_form"

    def slots_for_order(self, slots: list[str], order: Order, tracker: Tracker) -> list[str]:
        # Nothing to confirm when the order can no longer be cancelled: the final action explains why.
        return slots if order.cancellable else [s for s in slots if s != "confirm_cancel"]

    async def extract_confirm_cancel(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return read_back_answer(tracker, "confirm_cancel")

    async def validate_confirm_cancel(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"confirm_cancel": read_back_value(value, tracker)}


class ValidateChangeAddressForm(OrderIdValidation):
    MIN_ADDRESS_CHARS = 8

    def name(self) -> str:
        return "validate_change_address_form"

    def slots_for_order(self, slots: list[str], order: Order, tracker: Tracker) -> list[str]:
        if order.cancellable:  # the address can change exactly while the order could still be cancelled
            return slots
        return [s for s in slots if s not in ("new_address", "confirm_address")]

    async def validate_new_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if is_correction(tracker):
            return {"new_address": None}
        address = extract_address(str(value or ""))
        if len(address) < self.MIN_ADDRESS_CHARS or not any(ch.isalpha() for ch in address):
            dispatcher.utter_message(response="utter_address_too_short")
            return {"new_address": None}
        return {"new_address": address}

    async def extract_confirm_address(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return read_back_answer(tracker, "confirm_address")

    async def validate_confirm_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"confirm_address": read_back_value(value, tracker)}

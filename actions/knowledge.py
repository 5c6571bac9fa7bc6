"""Answers from the knowledge base; a miss goes to a person, never a guess."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation
from actions.account.actions import OFFERS_BY_INTENT
from actions.handoff import ActionHandoff
from actions.providers import knowledge_base
from common.language import detect_language

if TYPE_CHECKING:
    from kb_index.service import Hit, KnowledgeBase

logger = logging.getLogger(__name__)

# Intents whose questions belong to one knowledge-base category; others search everything.
CATEGORY_BY_INTENT = {"ask_shipping": "shipping", "payment_problem": "payment"}
# A payment problem the knowledge base cannot explain is a payment issue for a person, not a kb miss.
MISS_REASON_BY_INTENT = {"payment_problem": "payment_issue"}
# A near miss offers this many articles to pick from, and a person; a pick comes back as ask_policy with
# the article's id in this entity ("none": the person), so it is answered by id, never searched again.
SUGGESTED_ARTICLES = 2
CHOSEN_ARTICLE = "kb_article"
NONE_CHOSEN = "none"
PERSON_CHOICE = {"en": "None of these: talk to a person", "zh": "都不是，转人工"}


def suggestion_buttons(hits: list[Hit], language: str) -> list[dict[str, str]]:
    buttons = [
        {"title": h.title, "payload": f'/ask_policy{{"{CHOSEN_ARTICLE}":"{h.article_id}"}}'}
        for h in hits[:SUGGESTED_ARTICLES]
    ]
    person = PERSON_CHOICE.get(language, PERSON_CHOICE["en"])
    return [*buttons, {"title": person, "payload": f'/ask_policy{{"{CHOSEN_ARTICLE}":"{NONE_CHOSEN}"}}'}]


def threshold_variant(tracker: Tracker) -> tuple[str, str, float] | None:
    """The knowledge-base threshold this conversation's experiment variant uses, as the hub sent it in the
    message's metadata (`experiments.kb_threshold`: {id, variant, threshold}); None outside an experiment."""
    raw = (conversation.metadata(tracker).get("experiments") or {}).get("kb_threshold")
    if not isinstance(raw, dict):
        return None
    threshold = raw.get("threshold")
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not 0 <= threshold <= 1:
        return None
    return str(raw.get("id") or ""), str(raw.get("variant") or ""), float(threshold)


def hit_record(hit: Hit) -> dict[str, Any]:
    return {
        "article_id": hit.article_id,
        "title": hit.title,
        "score": round(hit.score, 4),
        "version": hit.version,
    }


class ActionAnswerFromKB(Action):
    def __init__(self, kb: KnowledgeBase | None = None, handoff: ActionHandoff | None = None) -> None:
        self._kb = kb
        self._handoff = handoff or ActionHandoff()

    def name(self) -> str:
        return "action_answer_from_kb"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = conversation.language(tracker)
        intent = (tracker.latest_message.get("intent") or {}).get("name", "")
        question = str(tracker.latest_message.get("text") or "")
        kb = self._kb or knowledge_base()
        chosen = next(tracker.get_latest_entity_values(CHOSEN_ARTICLE), None)
        if chosen is not None:
            return await self._answer_choice(dispatcher, tracker, kb, str(chosen), intent, language)
        try:
            result = await kb.search(question, language, top_k=3, category=CATEGORY_BY_INTENT.get(intent))
        except Exception:
            logger.exception("actions.kb.search_failed", extra={"conversation_id": tracker.sender_id})
            return await self._handoff.handoff(dispatcher, tracker, "backend_error")
        tried = [hit_record(h) for h in result.hits]
        miss = result.miss
        variant = threshold_variant(tracker)
        if variant is not None and result.hits:  # an experiment decides with its variant's threshold
            miss = result.confidence < variant[2]
        exposure = {variant[0]: variant[1]} if variant is not None and variant[0] else {}
        earlier = _question_answered_just_before(tracker) if miss or not result.hits else None
        if earlier and _short(question):
            # "what about swimsuits?" right after an answer: read with the question it follows.
            again = await kb.search(f"{earlier} {question}", language, top_k=3)
            if not again.miss and again.hits:
                result, miss = again, False
                tried = [hit_record(h) for h in result.hits]
        if miss or not result.hits:
            answered = _free_text_answer(tracker, question)
            if answered is not None:
                return [SlotSet("kb_hits", tried), answered]
            if result.offers and variant is None and not tracker.active_loop:
                # Close but unsure: the customer picks the article (or a person) rather than waiting
                # for a person who would point to the same article. What was offered is what was tried.
                buttons = suggestion_buttons(result.offers, language)
                dispatcher.utter_message(response="utter_kb_did_you_mean", buttons=buttons)
                offered = {h.article_id for h in result.offers}
                others = [hit_record(h) for h in result.hits if h.article_id not in offered]
                return [SlotSet("kb_hits", [*(hit_record(h) for h in result.offers), *others])]
            reason = MISS_REASON_BY_INTENT.get(intent, "kb_miss")
            return [
                SlotSet("kb_hits", tried),
                *await self._handoff.handoff(dispatcher, tracker, reason, tried, experiments=exposure),
            ]
        return await _answer(dispatcher, tracker, kb, result.hits[0], intent, language, tried)

    async def _answer_choice(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        kb: KnowledgeBase,
        article_id: str,
        intent: str,
        language: str,
    ) -> list[EventType]:
        """The customer picked a suggested article, or a person ("none", or an id the index lacks)."""
        tried = tracker.get_slot("kb_hits") or []
        try:
            hit = None if article_id == NONE_CHOSEN else await kb.article(article_id, language)
        except Exception:
            logger.exception("actions.kb.article_failed", extra={"conversation_id": tracker.sender_id})
            return await self._handoff.handoff(dispatcher, tracker, "backend_error")
        if hit is None:
            return await self._handoff.handoff(dispatcher, tracker, "kb_miss", tried)
        return await _answer(dispatcher, tracker, kb, hit, intent, language, tried)


async def _answer(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    kb: KnowledgeBase,
    best: Hit,
    intent: str,
    language: str,
    tried: list[dict[str, Any]],
) -> list[EventType]:
    # The answer's text, and the article by reference: a response template would also copy the
    # whole text into the bot event's metadata, stored with the conversation on every answer.
    dispatcher.utter_message(text=best.answer, kb_article=best.article_id)
    offer = OFFERS_BY_INTENT.get(intent)
    if offer and not tracker.active_loop:  # the answer, and the thing the store can do about it
        dispatcher.utter_message(response=offer)
    related = await kb.related(best.article_id, language, limit=2)
    if related:
        buttons = [{"title": r.title, "payload": r.title} for r in related]
        dispatcher.utter_message(response="utter_kb_related", buttons=buttons)
    # Every answer records the article and index version it came from.
    return [SlotSet("kb_answer", hit_record(best)), SlotSet("kb_hits", tried)]


# Questions a form asks whose answers are the customer's own words: a reason told as a story ("found it
# cheaper somewhere else") or an address can read like a policy question. When no article answers it,
# it is the answer to the form's question, which the form validates next, not a question for a person.
FREE_TEXT_ANSWERS = {"return_form": "return_reason", "change_address_form": "new_address"}


def _free_text_answer(tracker: Tracker, text: str) -> SlotSet | None:
    loop = (tracker.active_loop or {}).get("name")
    requested = tracker.get_slot("requested_slot")
    if loop is None or requested != FREE_TEXT_ANSWERS.get(loop) or not text.strip():
        return None
    return SlotSet(requested, text)


def follows_an_answer(tracker: Tracker) -> bool:
    """A short message right after the knowledge base answered ("那鞋子呢 也是30天吗"): read it with that
    question before taking it for another topic."""
    text = str((tracker.latest_message or {}).get("text") or "")
    return _short(text) and _question_answered_just_before(tracker) is not None


def _short(text: str) -> bool:
    """Follow-ups are short: "and do they have to be unopened?", "那泳衣呢？"."""
    if detect_language(text) == "zh":
        return len(text.strip()) <= 20
    return len(text.split()) <= 12


def _question_answered_just_before(tracker: Tracker) -> str | None:
    """The customer's previous message, when the knowledge base answered it and nothing else came between."""
    events = list(tracker.events)
    users = [i for i, e in enumerate(events) if e.get("event") == "user"]
    if len(users) < 2:
        return None
    before, latest = users[-2], users[-1]
    answers = [
        e.get("value")
        for e in events[before:latest]
        if e.get("event") == "slot" and e.get("name") == "kb_answer" and e.get("value")
    ]
    if not answers:
        return None
    text = str(events[before].get("text") or "")
    if text.startswith("/"):  # a suggestion the customer picked: the article's title is the question
        answer = answers[-1]
        return str(answer.get("title") or "") or None if isinstance(answer, dict) else None
    return text or None

from dataclasses import dataclass, field

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionHandoff
from actions.knowledge import ActionAnswerFromKB
from tests.unit.fakes import FakeHub, FakeOrderStore, make_tracker


@dataclass
class FakeHit:
    article_id: str
    title: str
    answer: str
    score: float
    language: str = "en"
    category: str = "shipping"
    version: str = "v3"
    tags: list[str] = field(default_factory=list)


@dataclass
class FakeResult:
    hits: list[FakeHit]
    miss: bool
    threshold: float = 0.5
    version: str = "v3"
    suggest: bool = False
    confidence: float = 0.0
    offers: list[FakeHit] = field(default_factory=list)


class FakeKB:
    def __init__(self, result: FakeResult, related: list[FakeHit] | None = None) -> None:
        self.result = result
        self.related_hits = related or []
        self.calls: list[tuple] = []

    async def search(self, query, language, top_k=3, category=None):
        self.calls.append((query, language, category))
        return self.result

    async def related(self, article_id, language, limit=2):
        return self.related_hits[:limit]

    async def article(self, article_id, language):
        self.calls.append(("article", article_id, language))
        return next((h for h in self.result.hits if h.article_id == article_id), None)


async def test_a_hit_is_answered_and_records_article_and_version() -> None:
    hit = FakeHit("en-shipping-fees", "How much does shipping cost?", "Standard shipping is $5.99.", 0.83)
    related = [FakeHit("en-shipping-free-threshold", "How do I get free shipping?", "...", 0.7)]
    kb = FakeKB(FakeResult([hit], miss=False), related)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="ask_shipping", text="how much is delivery")
    events = await ActionAnswerFromKB(kb, ActionHandoff(FakeHub(), FakeOrderStore())).run(
        dispatcher, tracker, {}
    )
    assert kb.calls == [("how much is delivery", "en", "shipping")]
    assert dispatcher.messages[0]["text"] == "Standard shipping is $5.99."
    assert dispatcher.messages[0]["kb_article"] == "en-shipping-fees"  # the article, by reference
    assert not dispatcher.messages[0].get("response")
    assert dispatcher.messages[1]["buttons"][0]["title"] == "How do I get free shipping?"
    answer = next(e for e in events if e.get("name") == "kb_answer")["value"]
    assert answer == {"article_id": "en-shipping-fees", "title": hit.title, "score": 0.83, "version": "v3"}


async def test_a_miss_hands_off_with_the_hits_it_tried() -> None:
    weak = FakeHit("en-privacy-data-export", "How can I get a copy of my data?", "...", 0.21)
    hub = FakeHub()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="ask_policy", text="can I pay with goats")
    events = await ActionAnswerFromKB(
        FakeKB(FakeResult([weak], miss=True)), ActionHandoff(hub, FakeOrderStore())
    ).run(dispatcher, tracker, {})
    assert hub.packets[0]["reason"] == "kb_miss"
    assert hub.packets[0]["kb_hits"] == [
        {"article_id": "en-privacy-data-export", "title": weak.title, "score": 0.21, "version": "v3"}
    ]
    assert all(not m.get("kb_article") and not m.get("text") for m in dispatcher.messages)
    assert SlotSet("kb_hits", hub.packets[0]["kb_hits"]) in events


async def test_an_unexplained_payment_problem_is_a_payment_issue() -> None:
    hub = FakeHub()
    tracker = make_tracker(intent="payment_problem", text="my payment vanished")
    await ActionAnswerFromKB(FakeKB(FakeResult([], miss=True)), ActionHandoff(hub, FakeOrderStore())).run(
        CollectingDispatcher(), tracker, {}
    )
    assert hub.packets[0]["reason"] == "payment_issue"


async def test_a_failing_index_hands_off_as_a_backend_error() -> None:
    class BrokenKB(FakeKB):
        async def search(self, query, language, top_k=3, category=None):
            raise RuntimeError("index missing")

    hub = FakeHub()
    await ActionAnswerFromKB(BrokenKB(FakeResult([], True)), ActionHandoff(hub, FakeOrderStore())).run(
        CollectingDispatcher(), make_tracker(intent="ask_policy"), {}
    )
    assert hub.packets[0]["reason"] == "backend_error"


async def test_an_invoice_answer_offers_to_send_the_invoice_outside_a_form_only() -> None:
    hit = FakeHit("en-invoices-download", "Where do I find my invoice?", "Under Orders.", 0.8)
    for active_loop, offered in ((None, True), ("return_form", False)):
        dispatcher = CollectingDispatcher()
        tracker = make_tracker(intent="request_invoice", text="where's my invoice", active_loop=active_loop)
        await ActionAnswerFromKB(FakeKB(FakeResult([hit], miss=False), []), ActionHandoff(FakeHub())).run(
            dispatcher, tracker, {}
        )
        responses = [m["response"] for m in dispatcher.messages]
        assert ("utter_offer_resend_invoice" in responses) is offered


def experiment_metadata(threshold: object) -> dict:
    return {
        "channel": "widget",
        "experiments": {"kb_threshold": {"id": "exp-1", "variant": "strict", "threshold": threshold}},
    }


async def test_a_threshold_experiment_decides_with_its_variants_threshold() -> None:
    hit = FakeHit("en-shipping-fees", "How much does shipping cost?", "Standard shipping is $5.99.", 0.6)
    accepted = FakeResult([hit], miss=False)
    accepted.confidence = 0.62  # type: ignore[attr-defined]
    hub = FakeHub()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="ask_shipping", text="delivery cost?", metadata=experiment_metadata(0.7))
    await ActionAnswerFromKB(FakeKB(accepted), ActionHandoff(hub, FakeOrderStore())).run(
        dispatcher, tracker, {}
    )
    # the index would answer; the strict variant hands over and says which variant did
    assert hub.packets[0]["reason"] == "kb_miss" and hub.packets[0]["experiments"] == {"exp-1": "strict"}
    lenient = make_tracker(intent="ask_shipping", text="delivery cost?", metadata=experiment_metadata(0.5))
    missed = FakeResult([hit], miss=True)
    missed.confidence = 0.55  # type: ignore[attr-defined]
    dispatcher = CollectingDispatcher()
    await ActionAnswerFromKB(FakeKB(missed), ActionHandoff(FakeHub(), FakeOrderStore())).run(
        dispatcher, lenient, {}
    )
    assert dispatcher.messages[0]["kb_article"] == "en-shipping-fees"


async def test_a_malformed_threshold_in_the_metadata_is_ignored() -> None:
    hit = FakeHit("en-shipping-fees", "How much does shipping cost?", "Standard shipping is $5.99.", 0.6)
    for bad in (1.5, "0.2", True, None):
        dispatcher = CollectingDispatcher()
        tracker = make_tracker(intent="ask_shipping", metadata=experiment_metadata(bad))
        hub = FakeHub()
        await ActionAnswerFromKB(
            FakeKB(FakeResult([hit], miss=False)), ActionHandoff(hub, FakeOrderStore())
        ).run(dispatcher, tracker, {})
        assert dispatcher.messages[0]["kb_article"] == "en-shipping-fees" and hub.packets == []


async def test_a_miss_while_a_form_waits_for_free_words_is_the_forms_answer() -> None:
    weak = FakeHit("en-payment-price-adjustment", "The price dropped after I bought", "...", 0.33)
    said = "found it cheaper somewhere else tbh"
    for loop, slot in (("return_form", "return_reason"), ("change_address_form", "new_address")):
        hub = FakeHub()
        dispatcher = CollectingDispatcher()
        tracker = make_tracker({"requested_slot": slot}, intent="ask_policy", text=said, active_loop=loop)
        events = await ActionAnswerFromKB(
            FakeKB(FakeResult([weak], miss=True)), ActionHandoff(hub, FakeOrderStore())
        ).run(dispatcher, tracker, {})
        assert SlotSet(slot, said) in events  # validated by the form next
        assert not hub.packets and not dispatcher.messages


async def test_a_miss_while_a_form_asks_something_else_still_goes_to_a_person() -> None:
    hub = FakeHub()
    tracker = make_tracker(
        {"requested_slot": "confirm_return"}, intent="ask_policy", text="can I pay with goats",
        active_loop="return_form",
    )  # fmt: skip
    await ActionAnswerFromKB(FakeKB(FakeResult([], miss=True)), ActionHandoff(hub, FakeOrderStore())).run(
        CollectingDispatcher(), tracker, {}
    )
    assert hub.packets[0]["reason"] == "kb_miss"


class FollowUpKB(FakeKB):
    """Misses the follow-up alone, answers it read with the question before it."""

    def __init__(self, hit: FakeHit) -> None:
        super().__init__(FakeResult([hit], miss=True))
        self.hit = hit

    async def search(self, query, language, top_k=3, category=None):
        self.calls.append((query, language, category))
        return FakeResult([self.hit], miss=" " not in query.strip() or "gift cards" not in query)


def _after_an_answer(follow_up: str, answered: bool = True) -> list[dict]:
    record = {"article_id": "en-returns-non-returnable", "title": "t", "score": 0.8, "version": "v3"}
    return [
        {"event": "user", "text": "can you return gift cards? or food"},
        {"event": "action", "name": "action_answer_from_kb"},
        {"event": "slot", "name": "kb_answer", "value": record if answered else None},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": follow_up},
    ]


async def test_a_short_follow_up_is_read_with_the_question_it_follows() -> None:
    hit = FakeHit("en-returns-non-returnable", "Which items can't be returned?", "Food, gift cards...", 0.7)
    kb = FollowUpKB(hit)
    hub = FakeHub()
    said = "what about swimsuits, if its unopened?"
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="ask_policy", text=said, events=_after_an_answer(said))
    await ActionAnswerFromKB(kb, ActionHandoff(hub, FakeOrderStore())).run(dispatcher, tracker, {})
    assert [c[0] for c in kb.calls][:2] == [said, f"can you return gift cards? or food {said}"]
    assert not hub.packets and dispatcher.messages[0]["kb_article"] == "en-returns-non-returnable"


async def test_a_follow_up_to_something_not_answered_from_the_articles_still_misses() -> None:
    hit = FakeHit("en-returns-non-returnable", "Which items can't be returned?", "...", 0.7)
    hub = FakeHub()
    said = "what about swimsuits?"
    tracker = make_tracker(intent="ask_policy", text=said, events=_after_an_answer(said, answered=False))
    await ActionAnswerFromKB(FollowUpKB(hit), ActionHandoff(hub, FakeOrderStore())).run(
        CollectingDispatcher(), tracker, {}
    )
    assert hub.packets[0]["reason"] == "kb_miss"


WINDOW = FakeHit("en-returns-window", "How long do I have to return an item?", "30 days from delivery.", 0.5)
TAGS = FakeHit("en-returns-guide", "What condition must a return be in?", "Tags on, unworn.", 0.48)


def _picked(article_id: str, slots: dict | None = None) -> object:
    tracker = make_tracker(slots, intent="ask_policy", text=f'/ask_policy{{"kb_article":"{article_id}"}}')
    tracker.latest_message["entities"] = [{"entity": "kb_article", "value": article_id}]
    return tracker


async def test_a_near_miss_offers_the_two_best_articles_and_a_person() -> None:
    third = FakeHit("en-x", "Third", "...", 0.3)
    kb = FakeKB(FakeResult([WINDOW, TAGS, third], miss=True, suggest=True, offers=[WINDOW, TAGS]))
    hub = FakeHub()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="ask_policy", text="jacket doesnt fit, how long have i got and tags on?")
    events = await ActionAnswerFromKB(kb, ActionHandoff(hub, FakeOrderStore())).run(dispatcher, tracker, {})
    assert not hub.packets
    [offer] = dispatcher.messages
    assert offer["response"] == "utter_kb_did_you_mean"
    assert [b["title"] for b in offer["buttons"]] == [
        WINDOW.title,
        TAGS.title,
        "None of these: talk to a person",
    ]
    assert offer["buttons"][0]["payload"] == '/ask_policy{"kb_article":"en-returns-window"}'
    assert offer["buttons"][2]["payload"] == '/ask_policy{"kb_article":"none"}'
    assert [h["article_id"] for h in next(e for e in events if e["name"] == "kb_hits")["value"]][:2] == [
        "en-returns-window",
        "en-returns-guide",
    ]


async def test_a_question_sentences_articles_are_offered_and_recorded_as_tried_first() -> None:
    # The message as a whole is far from every article (its own ranking: TAGS first); one question
    # sentence reaches WINDOW: WINDOW is what the customer is offered, and what a person sees first.
    kb = FakeKB(FakeResult([TAGS], miss=True, suggest=True, offers=[WINDOW]))
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="ask_policy", text="long story… how long do i have to send it back?")
    events = await ActionAnswerFromKB(kb, ActionHandoff(FakeHub(), FakeOrderStore())).run(
        dispatcher, tracker, {}
    )
    [offer] = dispatcher.messages
    assert [b["title"] for b in offer["buttons"]] == [WINDOW.title, "None of these: talk to a person"]
    tried = next(e for e in events if e["name"] == "kb_hits")["value"]
    assert [h["article_id"] for h in tried] == ["en-returns-window", "en-returns-guide"]


async def test_a_near_miss_inside_a_form_or_an_experiment_still_goes_to_a_person() -> None:
    near = FakeResult([WINDOW, TAGS], miss=True, suggest=True, offers=[WINDOW, TAGS])
    for tracker in (
        make_tracker({"requested_slot": "confirm_return"}, intent="ask_policy", active_loop="return_form"),
        make_tracker(intent="ask_policy", metadata=experiment_metadata(0.9)),
    ):
        hub = FakeHub()
        dispatcher = CollectingDispatcher()
        await ActionAnswerFromKB(FakeKB(near), ActionHandoff(hub, FakeOrderStore())).run(
            dispatcher, tracker, {}
        )
        assert hub.packets[0]["reason"] == "kb_miss"
        assert all(m.get("response") != "utter_kb_did_you_mean" for m in dispatcher.messages)


async def test_a_picked_article_is_answered_by_id_without_searching() -> None:
    kb = FakeKB(FakeResult([WINDOW, TAGS], miss=True))
    hub = FakeHub()
    dispatcher = CollectingDispatcher()
    tried = [{"article_id": "en-returns-window", "title": WINDOW.title, "score": 0.5, "version": "v3"}]
    events = await ActionAnswerFromKB(kb, ActionHandoff(hub, FakeOrderStore())).run(
        dispatcher, _picked("en-returns-guide", {"kb_hits": tried}), {}
    )
    assert kb.calls == [("article", "en-returns-guide", "en")]
    assert dispatcher.messages[0]["text"] == "Tags on, unworn." and not hub.packets
    assert next(e for e in events if e["name"] == "kb_answer")["value"]["article_id"] == "en-returns-guide"


async def test_none_of_the_suggestions_or_an_unknown_article_goes_to_a_person_with_what_was_tried() -> None:
    tried = [{"article_id": "en-returns-window", "title": WINDOW.title, "score": 0.5, "version": "v3"}]
    for choice in ("none", "en-no-such-article"):
        hub = FakeHub()
        dispatcher = CollectingDispatcher()
        await ActionAnswerFromKB(
            FakeKB(FakeResult([WINDOW], miss=True)), ActionHandoff(hub, FakeOrderStore())
        ).run(dispatcher, _picked(choice, {"kb_hits": tried}), {})
        assert hub.packets[0]["reason"] == "kb_miss" and hub.packets[0]["kb_hits"] == tried
        assert not any(m.get("kb_article") for m in dispatcher.messages)


async def test_a_follow_up_to_a_picked_article_is_read_with_its_title() -> None:
    hit = FakeHit("en-returns-non-returnable", "Which items can't be returned? gift cards", "...", 0.7)
    kb = FollowUpKB(hit)
    said = "and swimsuits?"
    record = {"article_id": hit.article_id, "title": hit.title, "score": 1.0, "version": "v3"}
    events = [
        {"event": "user", "text": '/ask_policy{"kb_article":"en-returns-non-returnable"}'},
        {"event": "action", "name": "action_answer_from_kb"},
        {"event": "slot", "name": "kb_answer", "value": record},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": said},
    ]
    tracker = make_tracker(intent="ask_policy", text=said, events=events)
    await ActionAnswerFromKB(kb, ActionHandoff(FakeHub(), FakeOrderStore())).run(
        CollectingDispatcher(), tracker, {}
    )
    assert kb.calls[1][0] == f"{hit.title} {said}"

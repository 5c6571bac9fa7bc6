"""The analytics store: contact rules, idempotent ingest, filters and the dashboard's answers."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from handoff.analytics.facts import ROLLUPS, bucket_of, bucket_value, percentile
from handoff.analytics.store import AnalyticsStore, FilterError, Filters, parse_filters
from tests.unit.analytics_feed import T0, Feed, ev, only_contact

DAY = 86400
ALL = Filters()


def person_contact(
    conversation: str, at: float = 0, wait: float = 15, handle: float = 300, **extra: Any
) -> list[dict[str, Any]]:
    return [
        ev("customer_message", conversation, at, channel="widget", language="en"),
        ev("bot_turn", conversation, at + 1, intent="order_status", fallback=False, kb_miss=False),
        ev("handoff", conversation, at + 5, reason="customer_request", queue="orders", **extra),
        ev("accepted", conversation, at + 5 + wait, agent_id="ana", wait=wait),
        ev("agent_message", conversation, at + 10 + wait, agent_id="ana"),
        ev("resolved", conversation, at + 5 + wait + handle, agent_id="ana"),
    ]


# -- resolutions and times ------------------------------------------------------------------------------


def test_a_person_contact_has_its_times_agent_and_resolution(store: AnalyticsStore, feed: Feed) -> None:
    feed(*person_contact("c1", wait=15, handle=300, order_id="SO-1"))
    contact = only_contact(store, "c1")
    assert contact["resolution"] == "person"
    assert contact["end_cause"] == "resolved"
    assert contact["first_reply_s"] == pytest.approx(1)
    assert contact["first_person_s"] == pytest.approx(15)
    assert contact["handle_s"] == pytest.approx(300)
    assert contact["agent_id"] == "ana"
    assert contact["queue"] == "orders"
    assert contact["order_id"] == "SO-1"
    summary = store.summary(ALL)
    assert (summary["contacts"], summary["ended"], summary["person"], summary["handoffs"]) == (1, 1, 1, 1)
    assert summary["automation_rate"] == 0.0
    assert summary["first_person_p50"] == pytest.approx(15, rel=0.05)
    assert summary["handle_p90"] == pytest.approx(300, rel=0.05)
    assert summary["service_level"] == 1.0


def test_an_assistant_contact_ends_when_idle(store: AnalyticsStore, feed: Feed) -> None:
    feed(
        ev("customer_message", "c1", 0, channel="telegram", language="zh"),
        ev("bot_turn", "c1", 2, intent="ask_policy", kb_article="zh-returns-window"),
    )
    assert store.close_idle(T0 + 2 + 1799) == 0
    assert only_contact(store, "c1")["resolution"] == "open"
    assert store.summary(ALL)["open"] == 1
    assert store.close_idle(T0 + 2 + 1801) == 1
    contact = only_contact(store, "c1")
    assert (contact["resolution"], contact["end_cause"]) == ("assistant", "idle")
    assert contact["ended_at"] == T0 + 2  # the last activity, not the time it was noticed
    summary = store.summary(ALL)
    assert (summary["assistant"], summary["automation_rate"], summary["kb_answers"]) == (1, 1.0, 1)
    assert summary["first_person_p50"] is None and summary["service_level"] is None


def test_abandoned_then_the_customers_ticket_stays_abandoned(store: AnalyticsStore, feed: Feed) -> None:
    feed(
        ev("customer_message", "c1", 0, channel="widget"),
        ev("handoff", "c1", 3, reason="complaint", queue="complaints"),
        ev("abandoned", "c1", 200, reason="customer_left", wait=197),
        ev("ticket", "c1", 200.5, ticket_id="T-1", reason="customer_left"),
    )
    contact = only_contact(store, "c1")
    assert (contact["resolution"], contact["ticket_id"], contact["abandon_wait_s"]) == (
        "abandoned",
        "T-1",
        197,
    )
    assert store.counters().get("orphans", 0) == 0
    summary = store.summary(ALL)
    assert (summary["abandoned"], summary["ticket"], summary["service_level"]) == (1, 0, 0.0)
    assert store.handoff_records(ALL)[0]["wait"] == 197


def test_a_ticket_ends_the_contact_as_a_ticket(store: AnalyticsStore, feed: Feed) -> None:
    feed(
        ev("customer_message", "c1", 0),
        ev("handoff", "c1", 3, reason="customer_request", queue="general"),
        ev("ticket", "c1", 30, ticket_id="T-9", reason="out_of_hours"),
    )
    assert only_contact(store, "c1")["resolution"] == "ticket"
    assert store.summary(ALL)["ticket"] == 1


def test_a_handoff_nobody_accepted_that_ends_otherwise_is_abandoned(
    store: AnalyticsStore, feed: Feed
) -> None:
    feed(ev("customer_message", "c1", 0), ev("handoff", "c1", 3, queue="general"), ev("closed", "c1", 60))
    assert only_contact(store, "c1")["resolution"] == "abandoned"


def test_first_intent_skips_greetings_and_intents_are_kept_in_order(
    store: AnalyticsStore, feed: Feed
) -> None:
    feed(
        ev("customer_message", "c1", 0),
        ev("bot_turn", "c1", 1, intent="greet"),
        ev("customer_message", "c1", 10),
        ev("bot_turn", "c1", 11, intent="refund_status"),
        ev("bot_turn", "c1", 20, intent="thank", affect="annoyed"),
        ev("bot_turn", "c1", 21, intent="cancel_order", affect="calm"),
    )
    contact = only_contact(store, "c1")
    assert contact["first_intent"] == "refund_status"
    assert contact["intents"] == ["greet", "refund_status", "thank", "cancel_order"]
    assert contact["affect"] == "annoyed"  # the worst seen


def test_transfers_count_and_the_last_agent_holds_the_contact(store: AnalyticsStore, feed: Feed) -> None:
    events = person_contact("c1")
    events.insert(5, ev("transfer", "c1", 100, from_agent="ana", to_agent="bo", to_queue=None))
    events.insert(6, ev("accepted", "c1", 110, agent_id="bo", wait=10))
    feed(*events)
    contact = only_contact(store, "c1")
    assert (contact["transfers"], contact["agent_id"], contact["first_person_s"]) == (1, "bo", 15)
    assert store.summary(ALL)["transfers"] == 1


# -- contact boundaries ---------------------------------------------------------------------------------


def test_a_message_after_the_idle_timeout_starts_a_new_contact(store: AnalyticsStore, feed: Feed) -> None:
    feed(
        ev("customer_message", "c1", 0),
        ev("bot_turn", "c1", 1, intent="order_status"),
        ev("customer_message", "c1", 1000),  # within 30 minutes: the same contact
        ev("bot_turn", "c1", 1001, intent="order_status"),
        ev("customer_message", "c1", 1001 + 1801),
    )
    first, second = store.contacts_of("c1")
    assert (first["end_cause"], first["ended_at"], first["seq"]) == ("idle", T0 + 1001, 1)
    assert (second["resolution"], second["seq"], second["started_at"]) == ("open", 2, T0 + 2802)


def test_a_message_after_resolution_starts_a_new_contact(store: AnalyticsStore, feed: Feed) -> None:
    feed(*person_contact("c1"), ev("customer_message", "c1", 400))
    assert [c["resolution"] for c in store.contacts_of("c1")] == ["person", "open"]


def test_a_late_event_reopens_a_contact_closed_for_inactivity(store: AnalyticsStore, feed: Feed) -> None:
    feed(ev("customer_message", "c1", 0), ev("bot_turn", "c1", 1, intent="order_status"))
    store.close_idle(T0 + 5000)  # the clock ran ahead of the stream
    feed(ev("customer_message", "c1", 600), ev("handoff", "c1", 610, queue="orders"))
    contact = only_contact(store, "c1")
    assert (contact["resolution"], contact["handoff_at"]) == ("open", T0 + 610)
    summary = store.summary(ALL)
    assert (summary["contacts"], summary["ended"], summary["assistant"]) == (1, 0, 0)


def test_an_accept_without_a_contact_opens_one(store: AnalyticsStore, feed: Feed) -> None:
    feed(ev("accepted", "c1", 100, agent_id="eli", wait=40), ev("resolved", "c1", 400, agent_id="eli"))
    contact = only_contact(store, "c1")
    assert (contact["resolution"], contact["first_person_s"], contact["handoff_at"]) == (
        "person",
        40,
        T0 + 60,
    )
    assert store.counters()["opened_without_message"] == 1


def test_ends_and_ratings_without_a_contact_are_counted_orphans(store: AnalyticsStore, feed: Feed) -> None:
    assert feed(ev("resolved", "x", 0), ev("abandoned", "y", 0), ev("csat", "z", 0, stars=5)) == 3
    assert store.summary(ALL)["contacts"] == 0
    assert store.counters()["orphans"] == 3


# -- ratings --------------------------------------------------------------------------------------------


def test_a_rating_within_a_day_belongs_to_the_ended_contact(store: AnalyticsStore, feed: Feed) -> None:
    feed(*person_contact("c1"), ev("csat", "c1", 320 + 23 * 3600, agent_id="ana", stars=4))
    feed(*person_contact("c2"), ev("csat", "c2", 320 + 25 * 3600, agent_id="ana", stars=1))
    assert only_contact(store, "c1")["csat"] == 4
    assert only_contact(store, "c2")["csat"] is None
    assert store.counters()["orphans"] == 1
    summary = store.summary(ALL)
    assert (summary["csat_average"], summary["csat_count"]) == (4.0, 1)
    assert store.csat(ALL, "agent") == [{"key": "ana", "ratings": 1, "average": 4.0, "share_4_5": 1.0}]
    assert store.csat(ALL, "queue")[0]["key"] == "orders"
    assert store.csat(ALL, "intent")[0]["key"] == "order_status"


def test_a_rating_without_an_agent_goes_to_who_held_the_contact(store: AnalyticsStore, feed: Feed) -> None:
    feed(*person_contact("c1"), ev("csat", "c1", 400, stars=2))
    assert store.csat(ALL, "agent") == [{"key": "ana", "ratings": 1, "average": 2.0, "share_4_5": 0.0}]


# -- re-contacts ----------------------------------------------------------------------------------------


def test_a_recontact_about_the_same_order_within_seven_days(store: AnalyticsStore, feed: Feed) -> None:
    feed(*person_contact("c1", order_id="SO-1"))
    later = [dict(e, ts=e["ts"] + 3 * DAY) for e in person_contact("c1", order_id="SO-1")]
    later[1]["intent"] = "cancel_order"  # another intent, the same order
    feed(*later)
    first, second = store.contacts_of("c1")
    assert (first["recontacted"], second["recontacted"]) == (True, False)
    summary = store.summary(ALL)
    assert (summary["recontacted"], summary["fcr_rate"]) == (1, 0.5)
    assert [r["recontacted"] for r in store.handoff_records(ALL)] == [True, False]


def test_a_recontact_about_the_same_first_intent(store: AnalyticsStore, feed: Feed) -> None:
    feed(
        ev("customer_message", "c1", 0),
        ev("bot_turn", "c1", 1, intent="refund_status"),
        ev("closed", "c1", 9),
    )
    feed(ev("customer_message", "c1", 2 * DAY), ev("bot_turn", "c1", 2 * DAY + 1, intent="refund_status"))
    assert [c["recontacted"] for c in store.contacts_of("c1")] == [True, False]
    intents = {row["intent"]: row for row in store.by_intent(ALL)}
    assert intents["refund_status"]["fcr_rate"] == 0.0  # one ended contact, and it came back


@pytest.mark.parametrize(
    ("gap_days", "intent", "other_conversation", "expected"),
    [
        (8, "refund_status", False, False),  # after the window
        (6.9, "refund_status", False, True),
        (2, "order_status", False, False),  # another topic, no order in common
        (2, "refund_status", True, False),  # another conversation
    ],
)
def test_what_is_not_a_recontact(
    store: AnalyticsStore, feed: Feed, gap_days: float, intent: str, other_conversation: bool, expected: bool
) -> None:
    feed(
        ev("customer_message", "c1", 0),
        ev("bot_turn", "c1", 1, intent="refund_status"),
        ev("closed", "c1", 9),
    )
    again = "c2" if other_conversation else "c1"
    at = 9 + gap_days * DAY
    feed(ev("customer_message", again, at), ev("bot_turn", again, at + 1, intent=intent))
    assert store.contacts_of("c1")[0]["recontacted"] is expected


# -- ingest: idempotence and bad input ------------------------------------------------------------------


def test_replaying_stream_ids_counts_nothing_twice(store: AnalyticsStore) -> None:
    events = person_contact("c1") + person_contact("c2", at=60)
    entries = [(f"{9 + i}-{i % 2}", e) for i, e in enumerate(events)]  # 9-0 < 10-1: numeric, not text order
    assert store.ingest(entries[:7]) == 7
    assert store.last_stream_id() == "15-0"
    assert store.ingest(entries) == len(events) - 7  # the overlap is skipped
    assert store.ingest(entries) == 0
    assert store.summary(ALL)["contacts"] == 2
    assert store.summary(ALL)["person"] == 2
    assert store.counters()["replayed"] == 7 + len(events)


def test_malformed_entries_are_counted_and_skipped(store: AnalyticsStore) -> None:
    good = ev("customer_message", "c1", 0)
    entries: list[tuple[str, Any]] = [
        ("1-0", {"type": "customer_message", "conversation_id": "c1"}),  # no ts
        ("2-0", {"type": "bot_turn", "conversation_id": 7, "ts": T0}),
        ("3-0", ev("csat", "c1", 1, stars=9)),
        ("4-0", "not an event"),
        ("5-0", {"type": "customer_message", "conversation_id": "c1", "ts": "yesterday"}),
        ("bogus", good),
        ("6-0", ev("a_future_type", "c1", 2)),
        ("7-0", good),
    ]
    assert store.ingest(entries) == 1
    counters = store.counters()
    assert (counters["malformed"], counters["ignored"], counters["applied"]) == (6, 1, 1)
    assert store.last_stream_id() == "7-0"
    assert store.summary(ALL)["contacts"] == 1


def test_committed_facts_survive_a_restart_and_other_readers_see_them(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    writer = AnalyticsStore(path)
    reader = AnalyticsStore(path)  # as another worker process would
    Feed(writer)(*person_contact("c1"))
    assert reader.summary(ALL)["person"] == 1
    writer.close()
    reader.close()
    again = AnalyticsStore(path)
    assert again.last_stream_id() == "1000006-0"
    assert again.summary(ALL)["person"] == 1
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again.close()


def test_threads_read_while_one_writes(store: AnalyticsStore, feed: Feed) -> None:
    def read(_: int) -> int:
        return int(store.summary(ALL)["contacts"]) + len(store.series(ALL))

    with ThreadPoolExecutor(max_workers=4) as pool:
        readers = [pool.submit(read, i) for i in range(40)]
        for i in range(20):
            feed(*person_contact(f"c{i}", at=i))
        assert all(r.result() >= 0 for r in readers)
    assert store.summary(ALL)["contacts"] == 20
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"


def test_stored_texts_are_bounded(store: AnalyticsStore, feed: Feed) -> None:
    feed(
        ev("customer_message", "c1", 0),
        ev("bot_turn", "c1", 1, intent="x" * 500, kb_miss=True, text="w" * 500, language="en"),
        ev("handoff", "c1", 2, queue="q" * 500, order_id="o" * 500),
    )
    contact = only_contact(store, "c1")
    assert len(contact["first_intent"]) <= 64 and len(contact["queue"]) <= 64
    assert len(contact["order_id"]) <= 200
    assert len(store.misses(ALL, "kb_miss")[0]["text"]) == 200


# -- misses, variants, handoff records ------------------------------------------------------------------


def test_misses_are_grouped_by_text_with_the_latest_conversation(store: AnalyticsStore, feed: Feed) -> None:
    feed(
        ev("customer_message", "c1", 0, channel="widget", language="en"),
        ev("bot_turn", "c1", 1, kb_miss=True, text="Do you ship to Iceland?", language="en"),
        ev("customer_message", "c2", 5, channel="widget", language="en"),
        ev("bot_turn", "c2", 6, kb_miss=True, text="do you  ship to iceland?", language="en"),
        ev("customer_message", "c3", 7, channel="telegram", language="zh"),
        ev("bot_turn", "c3", 8, fallback=True, text="又是这样", language="zh"),
        ev("handoff", "c3", 9, queue="complaints"),
    )
    kb = store.misses(ALL, "kb_miss")
    assert kb == [{"text": "do you  ship to iceland?", "count": 2, "last_at": T0 + 6, "conversation_id": "c2",
                   "language": "en"}]  # fmt: skip
    assert [m["text"] for m in store.misses(Filters(queue="complaints"), "fallback")] == ["又是这样"]
    assert store.misses(Filters(language="en"), "fallback") == []
    assert store.summary(ALL)["fallbacks"] == 1
    with pytest.raises(FilterError) as error:
        store.misses(ALL, "typo")
    assert error.value.field == "kind"


def test_the_hubs_kb_miss_event_counts_and_lists_the_question(store: AnalyticsStore, feed: Feed) -> None:
    """The hub reports a knowledge-base miss with the handoff it causes (a `kb_miss` event)."""
    feed(
        ev("customer_message", "m1", 0, channel="widget", language="en"),
        ev("bot_turn", "m1", 1, intent="ask_policy", kb_miss=False),
        ev("handoff", "m1", 2, reason="kb_miss", queue="general"),
        ev("kb_miss", "m1", 2, text="can I pay with goats?", language="en"),
    )
    assert store.summary(ALL)["kb_misses"] == 1
    assert [(m["text"], m["conversation_id"]) for m in store.misses(ALL, "kb_miss")] == [
        ("can I pay with goats?", "m1")
    ]


def test_variant_outcomes_sum_per_variant(store: AnalyticsStore, feed: Feed) -> None:
    exp = {"experiments": {"welcome-copy": "friendly"}}
    feed(
        ev("customer_message", "a", 0),
        ev("bot_turn", "a", 1, intent="order_status", **exp),
        ev("handoff", "a", 2, queue="orders", experiments={"rating-weight": "heavier"}),
        ev("accepted", "a", 12, agent_id="ana", wait=10),
        ev("resolved", "a", 100),
        ev("csat", "a", 110, stars=4),
        ev("customer_message", "b", 0),
        ev("bot_turn", "b", 1, intent="order_status", experiments={"welcome-copy": "control"}),
        ev("closed", "b", 5),
    )
    rows = {r["variant"]: r for r in store.variant_outcomes("welcome-copy", ALL)}
    assert rows["friendly"] == {
        "variant": "friendly", "contacts": 1, "ended": 1, "assistant": 0, "recontacted": 0, "handoffs": 1,
        "answered_in_target": 1, "wait_n": 1, "wait_sum": 10.0, "wait_sumsq": 100.0, "csat_n": 1,
        "csat_sum": 4, "csat_sumsq": 16,
    }  # fmt: skip
    assert (rows["control"]["assistant"], rows["control"]["handoffs"]) == (1, 0)
    assert [r["variant"] for r in store.variant_outcomes("rating-weight", ALL)] == ["heavier"]
    assert store.variant_outcomes("nope", ALL) == []


def test_handoff_records_list_each_handed_off_contact(store: AnalyticsStore, feed: Feed) -> None:
    feed(*person_contact("c1", wait=12, handle=200), ev("customer_message", "c2", 0))
    assert store.handoff_records(ALL) == [
        {"ts": T0 + 5, "queue": "orders", "language": "en", "wait": 12.0, "handle": 200.0, "agent_id": "ana",
         "recontacted": False, "resolution": "person"},
    ]  # fmt: skip
    assert store.handoff_records(Filters(queue="returns")) == []
    assert store.handoff_records(ALL, limit=0) == []


# -- service level and percentiles ----------------------------------------------------------------------


def test_service_level_counts_abandoned_handoffs_as_misses(store: AnalyticsStore, feed: Feed) -> None:
    feed(*person_contact("a", wait=10), *person_contact("b", at=1, wait=30))
    feed(
        ev("customer_message", "c", 2), ev("handoff", "c", 3, queue="orders"), ev("abandoned", "c", 9, wait=6)
    )
    feed(
        ev("customer_message", "d", 2), ev("handoff", "d", 3, queue="orders")
    )  # still waiting: not yet counted
    summary = store.summary(ALL)
    assert summary["service_level"] == pytest.approx(1 / 3, abs=1e-4)
    assert summary["service_level_target"] == {"share": 0.8, "seconds": 20}
    assert summary["handoffs"] == 4


def test_service_level_uses_the_configured_seconds(tmp_path: Path) -> None:
    store = AnalyticsStore(tmp_path / "a.sqlite", service_level_seconds=60, service_level_share=0.9)
    Feed(store)(*person_contact("a", wait=30))
    summary = store.summary(ALL)
    assert summary["service_level"] == 1.0
    assert summary["service_level_target"] == {"share": 0.9, "seconds": 60}
    store.close()


def test_bucketed_percentiles_are_within_five_percent() -> None:
    values = [0.3 * 1.07**i for i in range(150)]
    counts: dict[int, float] = {}
    for value in values:
        counts[bucket_of(value)] = counts.get(bucket_of(value), 0) + 1
    for share in (0.5, 0.9, 0.99):
        exact = sorted(values)[max(0, int(share * len(values) + 0.999999) - 1)]
        assert percentile(counts, share) == pytest.approx(exact, rel=0.05)
    assert percentile({}, 0.5) is None
    assert bucket_of(0.0) == 0 and bucket_value(0) == pytest.approx(0.05)
    assert bucket_of(-3) == 0


def test_summary_percentiles_follow_the_waits(store: AnalyticsStore, feed: Feed) -> None:
    waits = [5, 7, 9, 12, 15, 20, 25, 40, 60, 120]
    for i, wait in enumerate(waits):
        feed(*person_contact(f"c{i}", at=i, wait=wait))
    summary = store.summary(ALL)
    assert summary["first_person_p50"] == pytest.approx(15, rel=0.05)
    assert summary["first_person_p90"] == pytest.approx(60, rel=0.05)
    assert summary["service_level"] == 0.6


# -- filters --------------------------------------------------------------------------------------------


def test_parse_filters_reads_query_parameters() -> None:
    parsed = parse_filters(
        {"start": ["2026-11-01"], "end": "2026-11-07", "channel": "widget", "language": "zh", "queue": "",
         "by": "agent"}
    )  # fmt: skip
    assert parsed == Filters(start=date(2026, 11, 1), end=date(2026, 11, 7), channel="widget", language="zh")
    assert parse_filters({}) == Filters()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"start": "2026-11-31"}, "start"),
        ({"start": "yesterday"}, "start"),
        ({"end": "2026/11/01"}, "end"),
        ({"start": "2026-11-08", "end": "2026-11-01"}, "end"),
        ({"channel": "web chat"}, "channel"),
        ({"language": "x" * 65}, "language"),
        ({"queue": "orders;drop"}, "queue"),
        ({"queue": 5}, "queue"),
    ],
)
def test_bad_filters_name_their_field(values: dict[str, Any], field: str) -> None:
    with pytest.raises(FilterError) as error:
        parse_filters(values)
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}: ")


def test_csat_refuses_an_unknown_grouping(store: AnalyticsStore) -> None:
    with pytest.raises(FilterError) as error:
        store.csat(ALL, "weekday")
    assert error.value.field == "by"


def test_filters_select_days_channels_languages_and_queues(store: AnalyticsStore, feed: Feed) -> None:
    feed(*person_contact("a"))  # 2026-11-02, widget, en, orders
    feed(
        ev("customer_message", "b", 2 * DAY, channel="telegram", language="zh"),
        ev("bot_turn", "b", 2 * DAY + 1, intent="ask_shipping"),
    )
    assert store.summary(Filters(start=date(2026, 11, 3)))["contacts"] == 1
    assert store.summary(Filters(end=date(2026, 11, 2)))["contacts"] == 1
    assert store.summary(Filters(start=date(2026, 11, 5)))["contacts"] == 0
    assert store.summary(Filters(start=date(2026, 11, 5)))["automation_rate"] is None
    assert store.summary(Filters(channel="telegram", language="zh"))["contacts"] == 1
    assert store.summary(Filters(language="zh", queue="orders"))["contacts"] == 0
    assert store.summary(Filters(queue="orders"))["person"] == 1
    assert store.handoff_reasons(Filters(channel="widget")) == [
        {"reason": "customer_request", "handoffs": 1, "share": 1.0}
    ]
    assert store.handoff_reasons(Filters(channel="telegram")) == []


def test_series_has_a_row_for_every_day_in_range(store: AnalyticsStore, feed: Feed) -> None:
    feed(*person_contact("a"), ev("customer_message", "b", 2 * DAY))
    rows = store.series(Filters(start=date(2026, 11, 1), end=date(2026, 11, 5)))
    assert [r["day"] for r in rows] == [f"2026-11-0{d}" for d in range(1, 6)]
    assert [r["contacts"] for r in rows] == [0, 1, 0, 1, 0]
    assert rows[1]["service_level"] == 1.0 and rows[1]["first_person_p90"] == pytest.approx(15, rel=0.05)
    assert rows[0]["automation_rate"] is None
    assert [r["day"] for r in store.series(ALL)] == ["2026-11-02", "2026-11-03", "2026-11-04"]
    with pytest.raises(FilterError) as error:
        store.series(Filters(start=date(1990, 1, 1), end=date(2026, 11, 5)))
    assert error.value.field == "end"


def test_days_are_counted_in_the_store_time_zone(tmp_path: Path) -> None:
    late = datetime(2026, 11, 2, 20, 0, tzinfo=timezone.utc).timestamp()  # 04:00 on the 3rd in Shanghai
    path = tmp_path / "a.sqlite"
    store = AnalyticsStore(path)
    Feed(store)({"type": "customer_message", "conversation_id": "c", "ts": late})
    assert store.series(ALL)[0]["day"] == "2026-11-02"
    store.close()
    moved = AnalyticsStore(path, timezone="Asia/Shanghai")  # a new zone recomputes the days
    assert moved.series(ALL)[0]["day"] == "2026-11-03"
    assert moved.summary(ALL)["contacts"] == 1
    moved.close()
    with pytest.raises(ValueError, match="timezone"):
        AnalyticsStore(path, timezone="Mars/Olympus")


def test_rollups_match_a_rebuild_from_the_contacts(store: AnalyticsStore, feed: Feed) -> None:
    """Every late change (rating, re-contact, reopen, transfer) was applied to the rollups as a difference:
    recomputing them from scratch gives the same numbers."""
    feed(*person_contact("a", order_id="SO-1"), ev("csat", "a", 900, stars=3))
    feed(ev("customer_message", "b", 0), ev("bot_turn", "b", 1, intent="ask_policy", kb_miss=True, text="x"))
    store.close_idle(T0 + 5000)
    feed(ev("customer_message", "b", 1200), ev("handoff", "b", 1300, queue="general", reason="kb_miss"))
    feed(*[dict(e, ts=e["ts"] + DAY) for e in person_contact("a", order_id="SO-1")])
    store.close_idle(T0 + 3 * DAY)

    def rollups() -> dict[str, list[tuple[Any, ...]]]:
        conn = sqlite3.connect(store.path)
        tables = {}
        for table, (_keys, measures) in ROLLUPS.items():
            rows = conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4, 5, 6").fetchall()  # noqa: S608
            tables[table] = [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows
                             if any(r[-len(measures):])]  # fmt: skip
        conn.close()
        return tables

    before = rollups()
    store.rebuild()
    assert rollups() == before
    assert sum(r[-1] for r in before["hist"]) > 0

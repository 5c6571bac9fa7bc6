"""Proactive messages in the analytics store: who started a contact, whether the customer answered, late
orders told first or asked about, the rollups behind the dashboard's card, the schema upgrade of an older
store, and the demo month's proactive traffic."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from handoff.analytics import demo
from handoff.analytics.demo import generate_month
from handoff.analytics.facts import ROLLUPS
from handoff.analytics.store import ADDED_CONTACT_COLUMNS, SCHEMA_VERSION, AnalyticsStore, Filters
from tests.unit.analytics_feed import T0, Feed, ev, only_contact

HOUR = 3600
DAY = 86400
ALL = Filters()


def told(conversation: str, at: float, trigger: str = "late_shipment", **fields: Any) -> dict[str, Any]:
    """The hub's fact for a proactive message, as hub.proactive_message writes it."""
    about = {"order_id": "SO-12345678", "channel": "widget", "language": "en", **fields}
    return ev("proactive", conversation, at, trigger=trigger, **about)


def asks(conversation: str, at: float, intent: str = "order_status", **fields: Any) -> list[dict[str, Any]]:
    """A customer's message and the assistant's answer."""
    return [
        ev("customer_message", conversation, at, channel="widget", language="en", **fields),
        ev("bot_turn", conversation, at + 1, intent=intent, fallback=False, kb_miss=False),
    ]


def rollups(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup row that holds something, rounded: to compare maintained rollups with a rebuild."""
    conn = sqlite3.connect(path)
    tables = {}
    for table, (keys, measures) in ROLLUPS.items():
        order = ", ".join(str(i + 1) for i in range(len(keys)))
        rows = conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()  # noqa: S608 - constants
        tables[table] = [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows
                         if any(r[-len(measures):])]  # fmt: skip
    conn.close()
    return tables


# -- who started the contact ------------------------------------------------------------------------------


def test_an_unanswered_message_is_a_proactive_contact_but_no_contact_on_the_dashboard(
    store: AnalyticsStore, feed: Feed
) -> None:
    feed(told("c1", 0))
    store.close_idle(T0 + 2 * HOUR)
    contact = only_contact(store, "c1")
    assert (contact["started_by"], contact["proactive_trigger"], contact["proactive_replied"]) == (
        "proactive",
        "late_shipment",
        False,
    )
    assert (contact["order_id"], contact["channel"], contact["language"]) == ("SO-12345678", "widget", "en")
    assert (contact["end_cause"], contact["ended_at"]) == ("idle", T0)
    assert contact["proactive_sent"] == {"late_shipment": 1}
    # A notification nobody answered is not a conversation: the contact measures do not count it.
    summary = store.summary(ALL)
    assert (summary["contacts"], summary["ended"], summary["assistant"]) == (0, 0, 0)
    assert store.series(ALL) == [] and store.by_intent(ALL) == []
    assert store.proactive_summary(ALL) == {
        "late_orders": 1, "late_proactive": 1, "late_reactive": 0, "late_proactive_share": 1.0,
        "late_reactive_share": 0.0, "proactive_sent": 1, "proactive_contacts": 1, "proactive_replied": 0,
        "reply_rate": 0.0, "proactive_handoffs": 0,
    }  # fmt: skip
    assert "opened_without_message" not in store.counters()  # the shop writing first opens it by design


def test_an_answer_in_the_same_episode_makes_it_a_contact_started_by_the_shop(
    store: AnalyticsStore, feed: Feed
) -> None:
    feed(told("c1", 0), *asks("c1", 600, intent="greet"), *asks("c1", 640))
    contact = only_contact(store, "c1")
    assert (contact["started_by"], contact["proactive_replied"], contact["first_intent"]) == (
        "proactive",
        True,
        "order_status",
    )
    assert contact["started_at"] == T0 and contact["first_customer_at"] == T0 + 600
    assert contact["first_reply_s"] == pytest.approx(1)  # from the customer's message, not the shop's
    summary = store.summary(ALL)
    assert (summary["contacts"], summary["first_response_p50"]) == (1, pytest.approx(1, rel=0.05))
    proactive = store.proactive_summary(ALL)
    assert (proactive["proactive_replied"], proactive["reply_rate"]) == (1, 1.0)
    assert (proactive["late_orders"], proactive["late_proactive"]) == (1, 1)


def test_an_answer_hours_later_goes_on_in_the_same_contact(store: AnalyticsStore, feed: Feed) -> None:
    """The widget shows the message on the customer's next visit: an answer within the reply window (24 h,
    as long as the hub tells the assistant what it is about) goes into the contact the message started,
    also after it was closed for inactivity."""
    feed(told("c1", 0), told("c2", 0))
    store.close_idle(T0 + 3 * HOUR)
    feed(*asks("c1", 5 * HOUR), *asks("c2", 23 * HOUR))
    for conversation in ("c1", "c2"):
        contact = only_contact(store, conversation)
        assert (contact["started_by"], contact["proactive_replied"], contact["resolution"]) == (
            "proactive",
            True,
            "open",
        )
    store.close_idle(T0 + 2 * DAY)
    assert [c["ended_at"] for c in (only_contact(store, "c1"), only_contact(store, "c2"))] == [
        T0 + 5 * HOUR + 1,
        T0 + 23 * HOUR + 1,
    ]
    summary = store.summary(ALL)
    assert (summary["contacts"], summary["ended"], summary["assistant"]) == (2, 2, 2)
    assert store.proactive_summary(ALL)["reply_rate"] == 1.0


def test_a_message_the_customer_closed_unanswered_still_takes_the_answer(
    store: AnalyticsStore, feed: Feed
) -> None:
    feed(told("c1", 0), ev("closed", "c1", 30, actor="customer"), *asks("c1", 2 * HOUR))
    contact = only_contact(store, "c1")
    assert (contact["proactive_replied"], contact["resolution"]) == (True, "open")


def test_an_answer_after_the_reply_window_is_a_contact_of_the_customers(
    store: AnalyticsStore, feed: Feed
) -> None:
    feed(told("c1", 0), *asks("c1", 25 * HOUR))
    shop, customer = store.contacts_of("c1")
    assert (shop["started_by"], shop["proactive_replied"], shop["resolution"]) == (
        "proactive",
        False,
        "assistant",
    )
    assert (customer["started_by"], customer["first_intent"], customer["seq"]) == (
        "customer",
        "order_status",
        2,
    )
    proactive = store.proactive_summary(ALL)
    assert (proactive["late_proactive"], proactive["late_reactive"], proactive["reply_rate"]) == (1, 1, 0.0)
    assert (proactive["late_proactive_share"], proactive["late_reactive_share"]) == (0.5, 0.5)
    assert store.summary(ALL)["contacts"] == 1


def test_the_reply_window_is_a_setting(tmp_path: Path) -> None:
    store = AnalyticsStore(tmp_path / "a.sqlite", proactive_reply_window_s=2 * HOUR)
    Feed(store)(told("c1", 0), *asks("c1", 3 * HOUR))
    assert [c["started_by"] for c in store.contacts_of("c1")] == ["proactive", "customer"]
    store.close()
    with pytest.raises(ValueError, match=r"^proactive_reply_window_s: "):
        AnalyticsStore(tmp_path / "b.sqlite", proactive_reply_window_s=0)


def test_a_message_while_the_customer_is_chatting_counts_as_sent_but_starts_nothing(
    store: AnalyticsStore, feed: Feed
) -> None:
    feed(*asks("c1", 0, intent="ask_shipping"), told("c1", 60, trigger="delivery_exception"))
    contact = only_contact(store, "c1")
    assert (contact["started_by"], contact["proactive_trigger"]) == ("customer", None)
    assert contact["proactive_sent"] == {"delivery_exception": 1}
    assert store.proactive_triggers(ALL) == [
        {"trigger": "delivery_exception", "late_order": True, "sent": 1, "contacts": 0, "replied": 0,
         "reply_rate": None, "handoffs": 0},
    ]  # fmt: skip
    proactive = store.proactive_summary(ALL)
    assert (proactive["proactive_sent"], proactive["proactive_contacts"], proactive["late_orders"]) == (
        1,
        0,
        0,
    )
    assert proactive["reply_rate"] is None and proactive["late_proactive_share"] is None


def test_a_message_at_the_very_start_of_a_contact_starts_it(store: AnalyticsStore, feed: Feed) -> None:
    """`proactive` is the first event of the episode even when another fact of the same write opened it."""
    feed(ev("agent_message", "c1", 0, agent_id="ana"), told("c1", 0, trigger="stuck_processing"))
    feed(ev("agent_message", "c2", 0, agent_id="ana"), told("c2", 5, trigger="stuck_processing"))
    assert only_contact(store, "c1")["started_by"] == "proactive"
    assert only_contact(store, "c1")["proactive_trigger"] == "stuck_processing"
    assert only_contact(store, "c2")["started_by"] == "customer"


def test_a_second_message_in_an_unanswered_contact_keeps_the_first_trigger(
    store: AnalyticsStore, feed: Feed
) -> None:
    feed(told("c1", 0), told("c1", 600, trigger="refund_processed", order_id="SO-2"), *asks("c1", 700))
    contact = only_contact(store, "c1")
    assert contact["proactive_trigger"] == "late_shipment"
    assert contact["proactive_sent"] == {"late_shipment": 1, "refund_processed": 1}
    rows = {r["trigger"]: r for r in store.proactive_triggers(ALL)}
    assert (rows["late_shipment"]["contacts"], rows["late_shipment"]["replied"]) == (1, 1)
    assert (rows["refund_processed"]["sent"], rows["refund_processed"]["contacts"]) == (1, 0)
    assert store.proactive_summary(ALL)["proactive_sent"] == 2


# -- late orders --------------------------------------------------------------------------------------------


def test_late_orders_are_late_triggers_or_the_customer_asking_first(
    store: AnalyticsStore, feed: Feed
) -> None:
    feed(
        told("shop-late", 0, trigger="late_shipment"),
        told("shop-exception", 0, trigger="delivery_exception"),
        told("shop-refund", 0, trigger="refund_processed"),
        *asks("shop-refund", 60),  # asks where the order is, but the message was about a refund
        *asks("asked", 0, intent="greet"),
        *asks("asked", 20, intent="order_status"),
        *asks("other", 0, intent="ask_policy"),
    )
    summary = store.proactive_summary(ALL)
    assert (summary["late_orders"], summary["late_proactive"], summary["late_reactive"]) == (3, 2, 1)
    assert (summary["late_proactive_share"], summary["late_reactive_share"]) == (0.6667, 0.3333)
    assert (summary["proactive_contacts"], summary["proactive_replied"], summary["reply_rate"]) == (
        3,
        1,
        0.3333,
    )
    rows = store.proactive_triggers(ALL)
    assert [(r["trigger"], r["late_order"]) for r in rows] == [
        ("delivery_exception", True),
        ("late_shipment", True),
        ("refund_processed", False),
    ]  # equal counts: by name


def test_a_handed_off_answer_counts_for_its_queue(store: AnalyticsStore, feed: Feed) -> None:
    feed(
        told("c1", 0),
        *asks("c1", 60),
        ev("handoff", "c1", 70, reason="customer_request", queue="orders", order_id="SO-12345678"),
        ev("accepted", "c1", 80, agent_id="ana", wait=10),
        ev("resolved", "c1", 300, agent_id="ana"),
        told("c2", 0, channel="telegram", language="zh"),
    )
    summary = store.proactive_summary(ALL)
    assert (summary["proactive_contacts"], summary["proactive_handoffs"]) == (2, 1)
    assert store.proactive_summary(Filters(queue="orders"))["proactive_contacts"] == 1
    assert store.proactive_triggers(Filters(queue="orders"))[0]["handoffs"] == 1
    assert store.summary(ALL)["person"] == 1


def test_filters_select_days_channels_and_languages(store: AnalyticsStore, feed: Feed) -> None:
    feed(
        told("a", 0, channel="widget", language="en"),
        told("b", 2 * DAY, channel="telegram", language="zh", trigger="return_received"),
        *asks("c", 2 * DAY + 60),
    )
    assert store.proactive_summary(Filters(channel="telegram"))["proactive_sent"] == 1
    assert store.proactive_summary(Filters(language="zh"))["late_orders"] == 0
    assert store.proactive_summary(Filters(start=date(2026, 11, 3)))["late_orders"] == 1  # c asked
    assert store.proactive_summary(Filters(end=date(2026, 11, 2)))["late_proactive"] == 1
    assert [r["trigger"] for r in store.proactive_triggers(Filters(channel="widget"))] == ["late_shipment"]
    assert store.proactive_triggers(Filters(start=date(2026, 12, 1))) == []
    empty = store.proactive_summary(Filters(start=date(2026, 12, 1)))
    assert empty["late_orders"] == 0 and empty["late_proactive_share"] is None and empty["reply_rate"] is None


def test_a_message_without_a_trigger_is_counted_under_none(store: AnalyticsStore, feed: Feed) -> None:
    feed(ev("proactive", "c1", 0, trigger=7, order_id="SO-1"), ev("proactive", "c2", 0))
    assert store.counters().get("malformed", 0) == 0
    assert store.proactive_triggers(ALL) == [
        {"trigger": None, "late_order": False, "sent": 2, "contacts": 2, "replied": 0, "reply_rate": 0.0,
         "handoffs": 0},
    ]  # fmt: skip


# -- re-contacts --------------------------------------------------------------------------------------------


def test_the_shop_writing_is_no_recontact_until_the_customer_answers(
    store: AnalyticsStore, feed: Feed
) -> None:
    order = {"order_id": "SO-12345678"}
    feed(*asks("c1", 0), ev("handoff", "c1", 5, queue="orders", **order), ev("closed", "c1", 60))
    feed(told("c1", DAY, **order))
    store.close_idle(T0 + DAY + 2 * HOUR)
    assert [c["recontacted"] for c in store.contacts_of("c1")] == [False, False]
    assert store.summary(ALL)["fcr_rate"] == 1.0
    feed(*asks("c1", DAY + 3 * HOUR, intent="thank"))  # the answer, about the order the message named
    store.close_idle(T0 + 2 * DAY)
    assert [c["recontacted"] for c in store.contacts_of("c1")] == [True, False]
    assert store.summary(ALL)["fcr_rate"] == 0.5


def test_an_unanswered_message_is_not_marked_recontacted(store: AnalyticsStore, feed: Feed) -> None:
    feed(told("c1", 0))
    store.close_idle(T0 + 26 * HOUR)
    feed(*asks("c1", 2 * DAY), ev("handoff", "c1", 2 * DAY + 5, queue="orders", order_id="SO-12345678"))
    assert [c["recontacted"] for c in store.contacts_of("c1")] == [False, False]


# -- rollups and schema -------------------------------------------------------------------------------------


def test_rollups_match_a_rebuild_after_answers_reopen_and_late_changes(
    store: AnalyticsStore, feed: Feed
) -> None:
    feed(told("a", 0), told("b", 0, trigger="refund_processed"), *asks("c", 0, intent="greet"))
    store.close_idle(T0 + 3 * HOUR)
    feed(*asks("a", 4 * HOUR), ev("handoff", "a", 4 * HOUR + 9, queue="orders"), *asks("c", 4 * HOUR + 60))
    feed(ev("accepted", "a", 4 * HOUR + 30, agent_id="bo", wait=21), ev("resolved", "a", 5 * HOUR))
    feed(ev("csat", "a", 6 * HOUR, stars=5), told("c", 7 * HOUR, trigger="delivery_exception"))
    store.close_idle(T0 + 3 * DAY)
    before = rollups(store.path)
    assert before["proactive"] and before["daily"]
    store.rebuild()
    assert rollups(store.path) == before


def _downgrade_to_first_release(path: Path) -> None:
    """The file as the first release left it: no proactive columns, no proactive rollup, schema 1."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE proactive")
    for column in ADDED_CONTACT_COLUMNS:
        conn.execute(f"ALTER TABLE contacts DROP COLUMN {column}")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    conn.commit()
    conn.close()


def test_a_store_of_the_first_release_is_upgraded_in_place(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.sqlite"
    old = AnalyticsStore(path)
    feed = Feed(old)
    feed(*asks("a", 0), ev("closed", "a", 30), *asks("b", 0, intent="ask_policy"), *asks("c", HOUR))
    summary = old.summary(ALL)
    old.close()
    _downgrade_to_first_release(path)

    with caplog.at_level(logging.WARNING, logger="handoff.analytics.store"):
        upgraded = AnalyticsStore(path)
    assert "analytics.schema.upgraded" in caplog.text
    fresh = AnalyticsStore(tmp_path / "fresh.sqlite")
    columns = [
        [row[1:] for row in sqlite3.connect(p).execute("PRAGMA table_info(contacts)")]
        for p in (path, fresh.path)
    ]
    assert columns[0] == columns[1]  # the same columns in the same order as a new store
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (str(SCHEMA_VERSION),)
    conn.close()
    # The old contacts were the customers'; those about where the order is are late orders asked about.
    assert [c["started_by"] for c in upgraded.contacts_of("a")] == ["customer"]
    assert upgraded.summary(ALL) == summary
    assert upgraded.proactive_summary(ALL)["late_reactive"] == 2
    # The rollups hold every old contact's share, so later changes apply as differences.
    feed.store = upgraded  # the stream goes on where the old store stopped
    feed(told("d", 2 * HOUR), *asks("d", 2 * HOUR + 60), ev("csat", "a", 600, stars=4))
    upgraded.close_idle(T0 + DAY)
    before = rollups(path)
    upgraded.rebuild()
    assert rollups(path) == before
    assert upgraded.proactive_summary(ALL)["late_orders"] == 3
    upgraded.close()
    fresh.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="handoff.analytics.store"):
        AnalyticsStore(path).close()  # once is enough
    assert "analytics.schema" not in caplog.text


def test_a_store_written_by_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    AnalyticsStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(ValueError, match="newer version"):
        AnalyticsStore(path)


# -- the demo month -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalyticsStore]:
    store = AnalyticsStore(tmp_path_factory.mktemp("demo") / "a.sqlite")
    generate_month(store, contacts=3000)
    yield store
    store.close()


def test_the_demo_month_has_proactive_traffic(month: AnalyticsStore) -> None:
    summary = month.proactive_summary(ALL)
    assert 0.3 <= summary["late_proactive_share"] <= 0.6  # late orders partly told first
    assert 0.15 <= summary["reply_rate"] <= 0.35
    rows = {r["trigger"]: r for r in month.proactive_triggers(ALL)}
    assert set(rows) == {"late_shipment", "delivery_exception", "stuck_processing", "refund_processed",
                         "return_received"}  # fmt: skip
    assert rows["delivery_exception"]["reply_rate"] > rows["late_shipment"]["reply_rate"]
    assert rows["late_shipment"]["reply_rate"] > rows["refund_processed"]["reply_rate"]
    assert rows["refund_processed"]["reply_rate"] > rows["return_received"]["reply_rate"]
    assert {r["trigger"] for r in month.proactive_triggers(Filters(language="zh"))} == set(rows)
    assert month.proactive_summary(Filters(channel="email"))["reply_rate"] == 0.0  # no one answers by email
    assert month.counters().get("malformed", 0) == 0 and month.counters().get("orphans", 0) == 0
    conn = sqlite3.connect(month.path)
    hours = {int(h) for (h,) in conn.execute(
        "SELECT DISTINCT strftime('%H', started_at, 'unixepoch') FROM contacts WHERE started_by = 'proactive'"
    )}  # fmt: skip
    conn.close()
    assert hours <= set(range(9, 21))  # never in the quiet hours


def test_the_proactive_traffic_leaves_the_customers_numbers_as_they_were(
    month: AnalyticsStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's proactive messages come from a generator of their own: without them, every number that
    does not ask who spoke first is the same (re-contacts aside: the shop's message names the order, which
    can make a later contact about it a re-contact)."""
    monkeypatch.setattr(demo, "PROACTIVE_ANSWERED", {})
    monkeypatch.setattr(demo, "PROACTIVE_UNANSWERED", {})
    without = AnalyticsStore(tmp_path / "without.sqlite")
    generate_month(without, contacts=3000)
    assert without.proactive_summary(ALL)["proactive_sent"] == 0
    ignore = {"recontacted", "fcr_rate"}
    for f in (ALL, Filters(language="zh"), Filters(queue="orders")):
        ours, theirs = month.summary(f), without.summary(f)
        assert {k: v for k, v in ours.items() if k not in ignore} == {
            k: v for k, v in theirs.items() if k not in ignore
        }
        assert abs(ours["recontacted"] - theirs["recontacted"]) <= 3
        assert month.series(f) == without.series(f)
        assert month.handoff_reasons(f) == without.handoff_reasons(f)
        assert month.csat(f, "agent") == without.csat(f, "agent")
    without.close()

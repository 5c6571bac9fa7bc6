"""The proactive messages' analytics API against a real Redis and a real analytics store (SQLite in a
temporary directory) filled with the demo month and a few proactive messages of the test's own: who may
read, the filters (a bad one is a 400 naming it), the answers equal to the store's, and the CSV exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from handoff.analytics.demo import generate_month
from handoff.analytics.store import AnalyticsStore, Filters
from tests.integration.api_helpers import flushed_database
from tests.integration.test_analytics_api import Team, analytics_app, ingest, served_in_thread

pytestmark = pytest.mark.integration

REDIS_DB = (
    1  # as test_analytics_api.py: tokens are global keys, the database is emptied when the module starts
)
MONTH_CONTACTS = 2000
ROUTES = ("/api/analytics/proactive", "/api/analytics/proactive/triggers")
EVENING = 1796076000.0  # 2026-11-30 22:00 UTC, after the demo's last proactive message of the day
HOSTILE_TRIGGER = "@SUM(A1:A2)"
SUMMARY_COLUMNS = [
    "late_orders", "late_proactive", "late_reactive", "late_proactive_share", "late_reactive_share",
    "proactive_sent", "proactive_contacts", "proactive_replied", "reply_rate", "proactive_handoffs",
]  # fmt: skip
TRIGGER_COLUMNS = ["trigger", "late_order", "sent", "contacts", "replied", "reply_rate", "handoffs"]


def told_and_answered(conversation_id: str, ts: float, trigger: str) -> list[dict[str, Any]]:
    """A proactive message and the customer's answer a minute later, on Telegram in Chinese."""
    base = {"conversation_id": conversation_id}
    return [
        {**base, "type": "proactive", "ts": ts, "order_id": "SO-12345678", "trigger": trigger,
         "channel": "telegram", "language": "zh"},
        {**base, "type": "customer_message", "ts": ts + 60, "channel": "telegram", "language": "zh"},
        {**base, "type": "bot_turn", "ts": ts + 61, "intent": "order_status", "fallback": False,
         "kb_miss": False, "language": "zh", "experiments": {}},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def month_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo month and, on its last evening, two answered messages (one with a trigger a spreadsheet would
    run as a formula); built once, each test gets a copy."""
    path = tmp_path_factory.mktemp("proactive") / "month.db"
    store = AnalyticsStore(path)
    generate_month(store, contacts=MONTH_CONTACTS)
    ingest(
        store,
        told_and_answered("te-evening-1", EVENING, "late_shipment")
        + told_and_answered("te-evening-2", EVENING + 120, HOSTILE_TRIGGER),
    )
    store.close()
    return path


@pytest.fixture(scope="module")
def served(redis_url: str, no_overflow_routing: str) -> Iterator[Team]:
    url = flushed_database(redis_url, REDIS_DB)
    app = analytics_app(url, no_overflow_routing)
    with served_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        team = Team(app, http, url)
        team.build()
        yield team


@pytest.fixture
def store(month_file: Path, tmp_path: Path) -> Iterator[AnalyticsStore]:
    copy = tmp_path / "analytics.db"
    copy.write_bytes(month_file.read_bytes())
    opened = AnalyticsStore(copy)
    yield opened
    opened.close()


@pytest.fixture
def team(served: Team, store: AnalyticsStore) -> Iterator[Team]:
    served.app.ctx.analytics = store
    yield served
    served.app.ctx.analytics = None


def rows_of(response: httpx.Response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


# -- who may read ----------------------------------------------------------------------------------------


def test_supervisors_and_admins_read_agents_and_editors_are_refused(team: Team) -> None:
    answers = {
        (route, who): team.get(route, who).status_code
        for route in ROUTES
        for who in ("anonymous", "agent", "editor", "supervisor", "admin")
    }
    expected = {"anonymous": 401, "agent": 403, "editor": 403, "supervisor": 200, "admin": 200}
    assert answers == {(route, who): expected[who] for route, who in answers}


def test_without_an_analytics_store_the_answer_says_so(team: Team) -> None:
    team.app.ctx.analytics = None
    for route in ROUTES:
        response = team.get(route)
        assert response.status_code == 503
        assert "analytics is not enabled" in response.json()["message"]


# -- the numbers -----------------------------------------------------------------------------------------


def test_the_answers_are_the_stores_for_the_filters(team: Team, store: AnalyticsStore) -> None:
    whole = team.get("/api/analytics/proactive").json()
    assert whole == {"summary": store.proactive_summary(Filters()), "filters": {}}
    summary = whole["summary"]
    assert list(summary) == SUMMARY_COLUMNS
    assert summary["late_orders"] == summary["late_proactive"] + summary["late_reactive"] > 0
    assert summary["late_proactive_share"] + summary["late_reactive_share"] == pytest.approx(1, abs=1e-3)
    assert 0 < summary["proactive_replied"] < summary["proactive_contacts"] <= summary["proactive_sent"]

    slice_ = {"start": "2026-11-30", "end": "2026-11-30", "channel": "telegram", "language": "zh"}
    f = Filters(start=date(2026, 11, 30), end=date(2026, 11, 30), channel="telegram", language="zh")
    narrow = team.get("/api/analytics/proactive", **slice_).json()
    assert narrow == {"summary": store.proactive_summary(f), "filters": slice_}
    assert 2 <= narrow["summary"]["proactive_replied"] < summary["proactive_replied"]

    triggers = team.get("/api/analytics/proactive/triggers").json()
    assert triggers == {"rows": store.proactive_triggers(Filters()), "filters": {}}
    by_trigger = {r["trigger"]: r for r in triggers["rows"]}
    assert {"late_shipment", "delivery_exception", "stuck_processing", "refund_processed", "return_received",
            HOSTILE_TRIGGER} == set(by_trigger)  # fmt: skip
    assert [
        r["late_order"] for r in triggers["rows"] if r["trigger"] in ("late_shipment", HOSTILE_TRIGGER)
    ] == [
        True,
        False,
    ]
    assert sum(r["sent"] for r in triggers["rows"]) == summary["proactive_sent"]
    assert sum(r["replied"] for r in triggers["rows"]) == summary["proactive_replied"]
    sliced = team.get("/api/analytics/proactive/triggers", **slice_).json()["rows"]
    assert sliced == store.proactive_triggers(f)
    queue = team.get("/api/analytics/proactive", queue="orders").json()["summary"]
    assert queue == store.proactive_summary(Filters(queue="orders"))
    assert queue["proactive_handoffs"] == queue["proactive_contacts"]  # in a queue: handed off, all of them


@pytest.mark.parametrize(
    ("route", "params", "field"),
    [
        (ROUTES[0], {"start": "2026-02-30"}, "start"),
        (ROUTES[0], {"start": "2026-11-10", "end": "2026-11-01"}, "end"),
        (ROUTES[0], {"format": "xlsx"}, "format"),
        (ROUTES[1], {"channel": "web widget"}, "channel"),
        (ROUTES[1], {"language": "<script>"}, "language"),
        (ROUTES[1], {"queue": "x" * 65}, "queue"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(team: Team, route: str, params: dict[str, str], field: str) -> None:
    response = team.get(route, **params)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field


# -- CSV ---------------------------------------------------------------------------------------------------


def test_the_triggers_export_holds_the_rows_of_the_table(team: Team) -> None:
    response = team.get(ROUTES[1], format="csv", start="2026-11-30", end="2026-11-30")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        'filename="analytics-proactive-triggers-2026-11-30-2026-11-30.csv"'
        in response.headers["content-disposition"]
    )
    table = rows_of(response)
    data = team.get(ROUTES[1], start="2026-11-30", end="2026-11-30").json()["rows"]
    assert table[0] == TRIGGER_COLUMNS
    assert len(table) == len(data) + 1 > 2

    def cell(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    for line, row in zip(table[1:], data, strict=True):
        expected = [cell(v) for v in row.values()]
        if row["trigger"] == HOSTILE_TRIGGER:  # a spreadsheet would run it: the export defuses it
            expected[0] = "'" + HOSTILE_TRIGGER
        assert line == expected


def test_the_summary_exports_as_one_row(team: Team) -> None:
    response = team.get(ROUTES[0], format="csv", language="en")
    header, values = rows_of(response)
    assert header == SUMMARY_COLUMNS
    summary = team.get(ROUTES[0], language="en").json()["summary"]
    assert values == ["" if v is None else str(v) for v in summary.values()]
    assert 'filename="analytics-proactive.csv"' in response.headers["content-disposition"]


def test_an_empty_export_still_has_its_header(team: Team) -> None:
    response = team.get(ROUTES[1], format="csv", start="2020-01-01", end="2020-01-31")
    assert rows_of(response) == [TRIGGER_COLUMNS]
    empty = team.get(ROUTES[0], start="2020-01-01", end="2020-01-31").json()["summary"]
    assert empty["late_orders"] == 0 and empty["late_proactive_share"] is None and empty["reply_rate"] is None

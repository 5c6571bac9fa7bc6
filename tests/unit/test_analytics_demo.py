"""The demo month: deterministic for a seed, shaped like a shop's traffic, fed through ingest."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handoff.analytics.__main__ import main
from handoff.analytics.demo import generate_month, month_events
from handoff.analytics.store import AnalyticsStore, Filters

ALL = Filters()
CONTACTS = 3000


def _rows(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT * FROM contacts ORDER BY id").fetchall()
    conn.close()
    return rows


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AnalyticsStore, dict[str, Any]]]:
    store = AnalyticsStore(tmp_path_factory.mktemp("demo") / "a.sqlite")
    result = generate_month(store, contacts=CONTACTS)
    yield store, result
    store.close()


def test_the_same_seed_gives_the_same_facts(
    tmp_path: Path, month: tuple[AnalyticsStore, dict[str, Any]]
) -> None:
    store, _ = month
    again = AnalyticsStore(tmp_path / "again.sqlite")
    generate_month(again, contacts=CONTACTS)
    assert again.summary(ALL) == store.summary(ALL)
    assert _rows(again.path) == _rows(store.path)
    other = AnalyticsStore(tmp_path / "other.sqlite")
    generate_month(other, seed=7, contacts=CONTACTS)
    assert other.summary(ALL) != store.summary(ALL)
    again.close()
    other.close()


def test_the_month_has_a_plausible_shape(month: tuple[AnalyticsStore, dict[str, Any]]) -> None:
    store, result = month
    summary = store.summary(ALL)
    assert result["contacts"] == CONTACTS == summary["contacts"] == summary["ended"]
    assert result["events"] > 5 * CONTACTS
    assert 0.62 <= summary["automation_rate"] <= 0.8
    assert summary["person"] > summary["ticket"] > 0 and summary["abandoned"] > 0
    assert 0.85 <= summary["fcr_rate"] < 0.99
    assert 3.5 <= summary["csat_average"] <= 4.6
    assert 0.45 <= summary["csat_count"] / (summary["person"] + 0.15 * summary["assistant"]) <= 0.8
    assert 3 <= summary["first_person_p50"] <= 30 and summary["handle_p50"] > 120
    zh = store.summary(Filters(language="zh"))["contacts"] / CONTACTS
    assert 0.25 <= zh <= 0.35
    channels = {c: store.summary(Filters(channel=c))["contacts"] for c in ("widget", "telegram", "rest")}
    assert channels["widget"] > channels["telegram"] > channels["rest"] > 0
    series = store.series(ALL)
    assert [r["day"] for r in series] == [f"2026-11-{d:02d}" for d in range(1, 31)]
    by_day = {r["day"]: r["contacts"] for r in series}
    assert by_day["2026-11-11"] > 1.5 * by_day["2026-11-10"]  # Singles' Day
    intents = {r["intent"] for r in store.by_intent(ALL)}
    assert {"order_status", "request_return", "cancel_order", "refund_status", "change_address", "ask_policy",
            "complain", "request_human", "product_question"} <= intents  # fmt: skip
    agents = {r["key"] for r in store.csat(ALL, "agent")}
    assert agents == {"ana", "bo", "chen", "dana", "eli", "fang"}
    assert len(store.handoff_reasons(ALL)) >= 8
    for kind in ("kb_miss", "fallback"):
        languages = {m["language"] for m in store.misses(ALL, kind)}
        assert languages == {"en", "zh"}
    assert {r["variant"] for r in store.variant_outcomes("welcome-copy", ALL)} == {"control", "friendly"}
    assert store.counters().get("malformed", 0) == 0 and store.counters().get("orphans", 0) == 0


def test_events_come_in_stream_order_and_each_conversation_in_time_order(tmp_path: Path) -> None:
    store = AnalyticsStore(tmp_path / "a.sqlite")
    last_id = (-1, -1)
    last_ts: dict[str, float] = {}
    for stream_id, event in month_events(store, contacts=300):
        ms, seq = (int(p) for p in stream_id.split("-"))
        assert (ms, seq) > last_id
        last_id = (ms, seq)
        assert event["ts"] >= last_ts.get(event["conversation_id"], 0)
        last_ts[event["conversation_id"]] = event["ts"]
    store.close()


def test_the_command_line_fills_a_store_and_answers_queries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.sqlite"
    assert main(["demo", "--db", str(db), "--contacts", "200", "--seed", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["contacts"] == 200
    assert main(["query", "summary", "--db", str(db), "--start", "2026-11-01", "--end", "2026-11-30"]) == 0
    assert json.loads(capsys.readouterr().out)["contacts"] == 200
    assert main(["query", "csat", "--db", str(db), "--by", "queue"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out), list)
    assert main(["query", "summary", "--db", str(db), "--start", "2026-11-31"]) == 2
    assert capsys.readouterr().err.startswith("--start: ")
    assert main(["query", "misses", "--db", str(db), "--kind", "typo"]) == 2
    assert capsys.readouterr().err.startswith("--kind: ")
    assert main(["demo", "--db", str(db)]) == 2  # never over an existing store
    assert capsys.readouterr().err.startswith("--db: ")
    assert main(["demo", "--db", str(tmp_path / "b.sqlite"), "--month", "November"]) == 2
    assert capsys.readouterr().err.startswith("--month: ")

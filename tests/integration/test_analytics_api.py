"""The analytics and experiments API against a real Redis and a real analytics store (SQLite in a temporary
directory) filled with the demo month and a few conversations of the test's own: who may read, the filters
(a bad one is a 400 naming it), the CSV exports (formula injection defused), and experiments defined,
stopped and measured with the variants the store assigns."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sanic import Sanic

from handoff.analytics.demo import generate_month
from handoff.analytics.experiments import Experiment, ExperimentStore
from handoff.analytics.store import AnalyticsStore, Filters
from handoff.app import create_app
from handoff.settings import Settings
from tests.integration.api_helpers import flushed_database
from tests.integration.conftest import ADMIN, hub_secrets, rasa_stand_in
from tests.integration.live_app import serving_in_thread

pytestmark = pytest.mark.integration

REDIS_DB = 1  # experiments and tokens are global keys: this module flushes its own database per test
ROOT = Path(__file__).resolve().parents[2]
UPLOT = ROOT / "handoff" / "static" / "vendor" / "uplot"
MONTH_CONTACTS = 3000
REPORTS = ("summary", "series", "intents", "reasons", "csat", "misses")
HOSTILE = (
    '=HYPERLINK("http://evil.example","click")',
    "+1+2",
    "-2+3",
    "@SUM(A1:A2)",
    "<img src=x onerror=alert(1)>",
)
WEIGHTS = {
    "skill": 0.5,
    "load": 0.3,
    "rating": 0.2,
}


def conversation_events(
    conversation_id: str, ts: float, *, text: str | None = None, experiments: dict[str, str] | None = None,
    handoff: bool = False, language: str = "en", channel: str = "widget",
) -> list[dict[str, Any]]:  # fmt: skip
    """One contact in the contract's events: a question the knowledge base missed (quoting `text`), then
    either closed by the customer or handed off, accepted in 10 s and resolved."""
    base = {"conversation_id": conversation_id}
    stamped = experiments or {}
    events: list[dict[str, Any]] = [
        {**base, "type": "customer_message", "ts": ts, "channel": channel, "language": language},
        {
            **base, "type": "bot_turn", "ts": ts + 1, "intent": "ask_policy", "confidence": 0.8,
            "fallback": False, "kb_article": None, "kb_miss": text is not None, "affect": "calm",
            "language": language, "experiments": stamped, **({"text": text} if text else {}),
        },
    ]  # fmt: skip
    if not handoff:
        return [*events, {**base, "type": "closed", "ts": ts + 30, "actor": "customer"}]
    return [
        *events,
        {
            **base, "type": "handoff", "ts": ts + 5, "reason": "kb_miss", "queue": "general",
            "language": language, "priority": 0.0, "order_id": None, "intent": "ask_policy",
            "experiments": stamped,
        },
        {**base, "type": "accepted", "ts": ts + 15, "agent_id": "ana", "wait": 10.0},
        {**base, "type": "agent_message", "ts": ts + 20, "agent_id": "ana"},
        {**base, "type": "resolved", "ts": ts + 200, "agent_id": "ana"},
    ]  # fmt: skip


def ingest(store: AnalyticsStore, events: list[dict[str, Any]]) -> None:
    """Events in time order with stream ids after everything the store holds."""
    last = store.last_stream_id()
    last_ms = int(last.split("-")[0]) if last else 0
    entries = []
    for seq, event in enumerate(sorted(events, key=lambda e: e["ts"])):
        entries.append((f"{max(int(event['ts'] * 1000), last_ms + 1)}-{seq}", event))
    assert store.ingest(entries) == len(entries)
    store.close_idle(max(e["ts"] for e in events) + store.idle_timeout_s + 1)


@pytest.fixture(scope="module")
def month_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo month and the hostile questions (on 2026-11-30), built once; each test gets a copy."""
    path = tmp_path_factory.mktemp("analytics") / "month.db"
    store = AnalyticsStore(path)
    generate_month(store, contacts=MONTH_CONTACTS)
    evening = 1796076000.0  # 2026-11-30 22:00 UTC
    events = []
    for n, text in enumerate(HOSTILE):
        for repeat in range(n + 1):  # most frequent last, so the order is the store's, not the list's
            events += conversation_events(
                f"wi-hostile-{n}-{repeat}", evening + 60 * (n * 10 + repeat), text=text
            )
    ingest(store, events)
    store.close()
    return path


@contextmanager
def served_in_thread(app: Sanic) -> Iterator[str]:  # type: ignore[type-arg]
    """The app on a free port in an event loop of its own thread: started once per module (a start costs
    seconds), called from the tests' thread."""
    with serving_in_thread(app, "analytics-app") as (base, _loop):
        yield base


def analytics_app(redis_url: str, routing: str) -> Sanic:  # type: ignore[type-arg]
    """The handoff app with an experiment store and no analytics store of its own (ANALYTICS_DB=off: each
    test sets `ctx.analytics` to a copy of the month, and nothing opens the checkout's var/)."""
    Sanic.test_mode = True
    env = {
        **hub_secrets(),
        "REDIS_URL": redis_url,
        "HUB_ROUTING_CONFIG": routing,
        "HUB_SWEEP_INTERVAL": "60",
        "ANALYTICS_DB": "off",
    }
    app = create_app(Settings.from_env(env), http_transport=rasa_stand_in([]))

    async def experiments(app: Sanic) -> None:  # type: ignore[type-arg]
        if getattr(app.ctx, "experiments", None) is None:
            app.ctx.experiments = ExperimentStore(app.ctx.redis)

    app.register_listener(experiments, "before_server_start")
    return app


def forget_experiments(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter("hub:experiments:*"):
            client.delete(key)
    finally:
        client.close()


class Team:
    """The served app and its callers' credentials."""

    def __init__(self, app: Sanic, http: httpx.Client, redis_url: str) -> None:  # type: ignore[type-arg]
        self.app = app
        self.http = http
        self.redis_url = redis_url
        self.auth: dict[str, dict[str, str]] = {
            "anonymous": {},
            "admin": {"Authorization": f"Bearer {ADMIN}"},
        }

    def build(self) -> None:
        admin = self.auth["admin"]
        agent = {
            "id": "agent-1",
            "name": "Ana",
            "languages": ["en"],
            "skills": {"general": 0.5},
            "capacity": 1,
        }
        assert self.http.post("/api/agents", json=agent, headers=admin).status_code == 201
        issued = self.http.post("/api/agents/agent-1/tokens", headers=admin)
        self.auth["agent"] = {"Authorization": f"Bearer {issued.json()['token']}"}
        for role, user in (("supervisor", "sup-1"), ("editor", "ed-1")):
            issued = self.http.post("/api/tokens", json={"role": role, "user_id": user}, headers=admin)
            assert issued.status_code == 201, issued.text
            self.auth[role] = {"Authorization": f"Bearer {issued.json()['token']}"}

    def get(self, path: str, who: str = "supervisor", **params: str) -> httpx.Response:
        return self.http.get(path, params=params, headers=self.auth[who])

    def post(self, path: str, body: Any = None, who: str = "supervisor") -> httpx.Response:
        return self.http.post(path, json=body, headers=self.auth[who])


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
    """The module's app reading this test's store, without experiments."""
    forget_experiments(served.redis_url)
    served.app.ctx.analytics = store
    yield served
    served.app.ctx.analytics = None


def rows_of(response: httpx.Response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


# -- who may read --------------------------------------------------------------------------------------


def test_supervisors_and_admins_read_agents_and_editors_are_refused(team: Team) -> None:
    answers = {}
    for report in REPORTS:
        for who in ("anonymous", "agent", "editor", "supervisor", "admin"):
            answers[report, who] = (team.get(f"/api/analytics/{report}", who)).status_code
    expected = {"anonymous": 401, "agent": 403, "editor": 403, "supervisor": 200, "admin": 200}
    assert answers == {(report, who): expected[who] for report, who in answers}


def test_without_an_analytics_store_the_answer_says_so(team: Team) -> None:
    team.app.ctx.analytics = None
    response = team.get("/api/analytics/summary")
    assert response.status_code == 503
    assert "analytics is not enabled" in response.json()["message"]
    assert team.get("/api/analytics/summary", "agent").status_code == 403  # roles still come first
    created = team.post("/api/experiments", experiment()).json()
    assert team.get(f"/api/experiments/{created['id']}/results").status_code == 503


# -- the numbers ---------------------------------------------------------------------------------------


def test_every_report_is_the_stores_answer_for_the_filters(team: Team, store: AnalyticsStore) -> None:
    summary = (team.get("/api/analytics/summary")).json()
    assert summary["summary"] == store.summary(Filters())
    assert summary["summary"]["contacts"] == MONTH_CONTACTS + sum(range(1, len(HOSTILE) + 1))
    assert summary["summary"]["service_level_target"] == {"share": 0.8, "seconds": 20}
    assert summary["filters"] == {}

    slice_ = {"start": "2026-11-08", "end": "2026-11-14", "language": "zh", "channel": "widget"}
    f = Filters(start=date(2026, 11, 8), end=date(2026, 11, 14), language="zh", channel="widget")
    narrow = (team.get("/api/analytics/summary", **slice_)).json()
    assert narrow["summary"] == store.summary(f)
    assert 0 < narrow["summary"]["contacts"] < summary["summary"]["contacts"]
    assert narrow["filters"] == slice_

    series = (team.get("/api/analytics/series", **slice_)).json()["rows"]
    assert [r["day"] for r in series] == [f"2026-11-{d:02d}" for d in range(8, 15)]
    assert series == store.series(f)
    assert (team.get("/api/analytics/intents", queue="returns")).json()["rows"] == store.by_intent(
        Filters(queue="returns")
    )
    assert (team.get("/api/analytics/reasons")).json()["rows"] == store.handoff_reasons(Filters())
    for by in ("agent", "queue", "intent"):
        assert (team.get("/api/analytics/csat", by=by)).json()["rows"] == store.csat(Filters(), by)
    misses = (team.get("/api/analytics/misses", kind="kb_miss", limit="100")).json()["rows"]
    assert misses == store.misses(Filters(), "kb_miss", 100)
    fallbacks = (team.get("/api/analytics/misses", kind="fallback")).json()["rows"]
    assert fallbacks == store.misses(Filters(), "fallback") and fallbacks != misses[: len(fallbacks)]


@pytest.mark.parametrize(
    ("report", "params", "field"),
    [
        ("summary", {"start": "2026-13-01"}, "start"),
        ("summary", {"start": "yesterday"}, "start"),
        ("series", {"start": "2026-11-10", "end": "2026-11-01"}, "end"),
        ("intents", {"channel": "web widget"}, "channel"),
        ("reasons", {"language": "<script>"}, "language"),
        ("csat", {"queue": "x" * 200}, "queue"),
        ("csat", {"by": "customer"}, "by"),
        ("misses", {"kind": "everything"}, "kind"),
        ("misses", {"limit": "0"}, "limit"),
        ("misses", {"limit": "ten"}, "limit"),
        ("summary", {"format": "xlsx"}, "format"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(team: Team, report: str, params: dict[str, str], field: str) -> None:
    response = team.get(f"/api/analytics/{report}", **params)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field


# -- CSV -------------------------------------------------------------------------------------------------


def test_each_report_exports_its_rows_as_csv(team: Team) -> None:
    for report, extra in (("series", {}), ("intents", {}), ("reasons", {}), ("csat", {"by": "queue"})):
        response = team.get(f"/api/analytics/{report}", format="csv", language="en", **extra)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        disposition = response.headers["content-disposition"]
        assert disposition.startswith("attachment; filename=") and disposition.endswith('.csv"')
        table = rows_of(response)
        data = (team.get(f"/api/analytics/{report}", language="en", **extra)).json()["rows"]
        assert table[0][: len(data[0])] == list(data[0])  # the header names the JSON's keys, in order
        assert len(table) == len(data) + 1
        for line, row in zip(table[1:], data, strict=True):
            assert line == ["" if v is None else str(v) for v in row.values()]

    summary = team.get("/api/analytics/summary", format="csv")
    header, values = rows_of(summary)
    shown = dict(zip(header, values, strict=True))
    assert shown["service_level_target_share"] == "0.8" and float(shown["service_level_target_seconds"]) == 20
    assert int(shown["contacts"]) == (team.get("/api/analytics/summary")).json()["summary"]["contacts"]
    assert "analytics-summary.csv" in summary.headers["content-disposition"]

    sliced = team.get("/api/analytics/csat", format="csv", by="agent", start="2026-11-02", end="2026-11-09")
    assert (
        'filename="analytics-csat-agent-2026-11-02-2026-11-09.csv"' in sliced.headers["content-disposition"]
    )


def test_an_empty_export_still_has_its_header(team: Team) -> None:
    response = team.get("/api/analytics/misses", format="csv", start="2020-01-01", end="2020-01-31")
    assert rows_of(response) == [["text", "count", "last_at", "conversation_id", "language"]]


def test_customer_text_cannot_run_as_a_formula_in_a_spreadsheet(team: Team) -> None:
    response = team.get("/api/analytics/misses", format="csv", kind="kb_miss", start="2026-11-30")
    table = rows_of(response)
    texts = {line[0] for line in table[1:]}
    assert {"'" + t for t in HOSTILE[:4]} <= texts
    assert HOSTILE[4] in texts  # markup is not a formula: it stays as typed (the console shows it as text)
    assert not any(re.match(r"[=+\-@]", text) for text in texts)
    # The JSON keeps the customer's words exactly.
    rows = (team.get("/api/analytics/misses", kind="kb_miss", start="2026-11-30")).json()["rows"]
    assert {r["text"] for r in rows} >= set(HOSTILE)
    assert all(r["conversation_id"] for r in rows)


# -- the chart library ---------------------------------------------------------------------------------


def test_the_pinned_chart_library_is_served_as_recorded(team: Team) -> None:
    readme = (UPLOT / "README.md").read_text()
    for name, mime in (("uPlot.esm.js", "text/javascript"), ("uPlot.min.css", "text/css")):
        response = team.http.get(f"/console/vendor/uplot/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(mime)
        digest = hashlib.sha256(response.content).hexdigest()
        assert digest == hashlib.sha256((UPLOT / name).read_bytes()).hexdigest()
        assert f"`{name}`" in readme and digest in readme


# -- experiments -----------------------------------------------------------------------------------------


def experiment(name: str = "Heavier rating", kind: str = "routing_weights", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "variants": [
            {"name": "control", "share": 0.5, "params": WEIGHTS},
            {"name": "heavier", "share": 0.5, "params": {**WEIGHTS, "rating": 0.4, "skill": 0.3}},
        ],
        "primary_metric": "service_level",
        "minimum_effect": 0.1,
    }
    return {**body, **over}


def test_experiments_are_defined_listed_and_stopped_by_staff_only(team: Team) -> None:
    assert (team.get("/api/experiments", "agent")).status_code == 403
    assert (team.post("/api/experiments", experiment(), "agent")).status_code == 403
    assert (team.post("/api/experiments", experiment(), "anonymous")).status_code == 401
    made = team.post("/api/experiments", experiment())
    assert made.status_code == 201, made.text
    created = made.json()
    assert created["status"] == "running" and created["created_by"] == "sup-1"
    assert re.fullmatch(r"exp-[0-9a-f]{10}", created["id"])

    again = team.post("/api/experiments", experiment("Another weighting"), "admin")
    assert again.status_code == 409 and again.json()["error"] == "experiment_running"
    thresholds = [
        {"name": "control", "params": {"threshold": 0.5}},
        {"name": "strict", "params": {"threshold": 0.7}},
    ]
    other_kind = experiment(
        "Stricter answers",
        "kb_threshold",
        variants=thresholds,
        primary_metric="automation_rate",
        minimum_effect=0.05,
    )
    assert (team.post("/api/experiments", other_kind, "admin")).status_code == 201

    listed = (team.get("/api/experiments")).json()
    assert [e["name"] for e in listed["experiments"]] == ["Stricter answers", "Heavier rating"]
    assert listed["kinds"] == ["routing_weights", "kb_threshold", "reply_variant"]
    assert "service_level" in listed["metrics"] and listed["default_effect"]["service_level"] == 0.05

    assert (team.post(f"/api/experiments/{created['id']}/stop", who="agent")).status_code == 403
    stopped = team.post(f"/api/experiments/{created['id']}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    assert stopped.json()["stopped_by"] == "sup-1"
    twice = team.post(f"/api/experiments/{created['id']}/stop", who="admin")
    assert twice.status_code == 409 and twice.json()["error"] == "experiment_stopped"

    audit = (team.get("/api/experiments")).json()["audit"]
    assert [(a["action"], a["actor"]) for a in audit] == [
        ("experiment.stopped", "sup-1"),
        ("experiment.created", "admin"),
        ("experiment.created", "sup-1"),
    ]
    # Stopped, the kind is free again.
    assert (team.post("/api/experiments", experiment("Heavier rating, again"))).status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"kind": "colour"}, "kind"),
        ({"primary_metric": "happiness"}, "primary_metric"),
        ({"minimum_effect": -1}, "minimum_effect"),
        ({"variants": [{"name": "only", "params": WEIGHTS}]}, "variants"),
        (
            {
                "variants": [
                    {"name": "a", "share": 0.5, "params": WEIGHTS},
                    {"name": "b", "share": 0.6, "params": WEIGHTS},
                ]
            },
            "variants",
        ),
        (
            {"variants": [{"name": "a", "params": WEIGHTS}, {"name": "B!", "params": WEIGHTS}]},
            "variants[1].name",
        ),
        (
            {"variants": [{"name": "a", "params": WEIGHTS}, {"name": "b", "params": {"skill": 1}}]},
            "variants[1].params.load",
        ),
        ({"surprise": True}, "surprise"),
    ],
)
def test_a_bad_experiment_is_a_400_naming_the_field(team: Team, change: dict[str, Any], field: str) -> None:
    response = team.post("/api/experiments", experiment(**change))
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert (team.get("/api/experiments")).json()["experiments"] == []


def test_unknown_experiments_are_404(team: Team) -> None:
    for path in ("/api/experiments/exp-0123456789/stop", "/api/experiments/nonsense/stop"):
        response = team.post(path)
        assert response.status_code == 404 and response.json()["error"] == "experiment_not_found"
    assert (team.get("/api/experiments/exp-0123456789/results")).status_code == 404
    assert (team.post("/api/experiments", "not an object")).status_code == 400


def test_results_count_the_variants_the_conversations_were_assigned(
    team: Team, store: AnalyticsStore
) -> None:
    created = team.post("/api/experiments", experiment()).json()
    running = Experiment.from_dict(created)
    now = time.time()
    events = []
    assigned: dict[str, int] = {"control": 0, "heavier": 0}
    for n in range(240):
        conversation = f"wi-exp-{n:04d}"
        variant = running.assign(conversation)
        assigned[variant] += 1
        stamp = {running.id: variant}
        events += conversation_events(conversation, now + n * 40, experiments=stamp, handoff=n % 2 == 0)
    ingest(store, events)

    results = team.get(f"/api/experiments/{created['id']}/results").json()
    assert results["experiment"]["id"] == created["id"]
    by_name = {v["name"]: v for v in results["variants"]}
    assert {name: v["contacts"] for name, v in by_name.items()} == assigned
    assert 80 < assigned["control"] < 160  # a fair split of 240
    level = by_name["control"]["metrics"]["service_level"]
    assert level["value"] == 1.0 and level["low"] < 0.99  # a Wilson interval, not a point
    assert level["high"] == pytest.approx(1.0)
    assert results["sample_size"]["needed_per_variant"] >= 100
    assert results["verdict"] == "collecting"  # fewer than the minimum per variant: no verdict yet
    assert results["sample_ratio"]["mismatch"] is False
    assert team.get(f"/api/experiments/{created['id']}/results", "agent").status_code == 403

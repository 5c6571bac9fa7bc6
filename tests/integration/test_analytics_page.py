"""The console's Analytics view in Debian's headless Chromium against the real handoff app, a real Redis and
a real analytics store filled with the demo month: the tiles show the API's numbers, a filter changes the
charts (drawn by the vendored uPlot) and the numbers, a CSV export holds the table's rows, customer markup
in a missed question stays text, and a supervisor starts an experiment, whose conversations are assigned
and counted, reads its results with intervals and a sample-ratio warning, and stops it. No page may raise a
script error, open a native dialog or violate the Content-Security-Policy. Screenshots go to
var/artifacts/analytics/."""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from handoff.analytics.demo import generate_month
from handoff.analytics.experiments import Experiment
from handoff.analytics.store import AnalyticsStore
from tests.integration.api_helpers import flushed_database
from tests.integration.conftest import ADMIN
from tests.integration.live_app import WatchedPages, launched_chromium
from tests.integration.test_analytics_api import (
    analytics_app,
    conversation_events,
    forget_experiments,
    ingest,
    served_in_thread,
)

pytestmark = pytest.mark.integration

REDIS_DB = 1  # as test_analytics_api.py: experiments are global keys, forgotten before each test
ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "var" / "artifacts" / "analytics"
VIEWPORT: ViewportSize = {"width": 1360, "height": 900}
UI_MS = 15_000
PASSWORD = "analytics password 0123"
MONTH_CONTACTS = 3000
XSS = "<img src=x onerror=alert(1)>"
WEIGHTS = {"skill": 0.5, "load": 0.3, "rating": 0.2}


class Console:
    """The served app, its store, and pages that record their problems."""

    def __init__(self, base: str, app: Any, redis_url: str, browser: Browser) -> None:
        self.base = base
        self.app = app
        self.redis_url = redis_url
        self.store: AnalyticsStore | None = None
        self.pages = WatchedPages(browser, base, UI_MS)

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)

    def user(self, user_id: str, role: str) -> None:
        with self.admin() as client:
            body: dict[str, Any] = {
                "id": user_id,
                "name": user_id.title(),
                "password": PASSWORD,
                "role": role,
            }
            if role == "agent":
                agent = {
                    "id": user_id,
                    "name": "Ann",
                    "languages": ["en"],
                    "skills": {"general": 1},
                    "capacity": 1,
                }
                assert client.post("/api/agents", json=agent).status_code in (201, 409)
                body["agent_id"] = user_id
            response = client.post("/api/users", json=body)
            assert response.status_code in (201, 409), response.text

    def api(self, path: str, **params: str) -> Any:
        with self.admin() as client:
            response = client.get(path, params=params)
            assert response.status_code == 200, response.text
            return response.json()

    def open(self, user_id: str, hash_: str = "analytics") -> Page:
        return self.pages.open(f"/console#{hash_}", user_id, PASSWORD, viewport=VIEWPORT, locale="en-GB")


@pytest.fixture(scope="module")
def month_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo month and one question the knowledge base missed that holds markup, built once."""
    path = tmp_path_factory.mktemp("analytics-page") / "month.db"
    store = AnalyticsStore(path)
    generate_month(store, contacts=MONTH_CONTACTS)
    events = []
    for n in range(40):  # asked often enough to be among the top misses
        events += conversation_events(f"wi-markup-{n:02d}", 1796076000.0 + n * 60, text=XSS)
    ingest(store, events)
    store.close()
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def served(redis_url: str, no_overflow_routing: str, browser: Browser) -> Iterator[Console]:
    url = flushed_database(redis_url, REDIS_DB)
    app = analytics_app(url, no_overflow_routing)
    with served_in_thread(app) as base:
        console = Console(base, app, url, browser)
        console.user("sue", "supervisor")
        console.user("ann", "agent")
        yield console


@pytest.fixture
def console(served: Console, month_file: Path, tmp_path: Path) -> Iterator[Console]:
    forget_experiments(served.redis_url)
    copy = tmp_path / "analytics.db"
    copy.write_bytes(month_file.read_bytes())
    served.store = AnalyticsStore(copy)
    served.app.ctx.analytics = served.store
    yield served
    try:
        problems = served.pages.problems()
    finally:
        served.pages.close_all()
    served.app.ctx.analytics = None
    served.store.close()
    assert problems == []


def shot(page: Page, name: str, part: str | None = None) -> None:
    """The view (the top of it), or one of its cards by test id."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = str(IMAGES / f"analytics-{name}.png")
    if part is None:
        page.screenshot(path=path)
    else:
        page.get_by_test_id(part).screenshot(path=path)


def loads(page: Page) -> int:
    return int(page.get_by_test_id("analytics-view").get_attribute("data-loaded") or 0)


def eventually(check: Callable[[], bool], seconds: float = UI_MS / 1000) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def after(page: Page, change: Callable[[], object]) -> None:
    """Runs `change` and waits until the view has drawn what it asked for (the page's policy refuses the
    string evaluation wait_for_function needs)."""
    before = loads(page)
    change()
    eventually(lambda: loads(page) > before)


def opened_dashboard(console: Console) -> Page:
    page = console.open("sue")
    expect(page.get_by_test_id("tab-analytics")).to_be_visible()
    eventually(lambda: loads(page) > 0)
    return page


def percent(share: float | None) -> str:
    return "—" if share is None else f"{math.floor(share * 100 + 0.5)}%"


def series_of(page: Page, chart: str) -> list[list[Any]]:
    data: list[list[Any]] = json.loads(page.get_by_test_id(chart).get_attribute("data-series") or "[]")
    return data


def kpi(page: Page, name: str) -> str:
    return page.get_by_test_id(f"kpi-{name}-value").inner_text()


# -- the dashboard ----------------------------------------------------------------------------------------


def test_the_dashboard_shows_the_month_and_a_filter_changes_it(console: Console) -> None:
    page = opened_dashboard(console)
    summary = console.api("/api/analytics/summary")["summary"]
    assert kpi(page, "contacts") == str(summary["contacts"])
    assert kpi(page, "automation") == percent(summary["automation_rate"])
    assert kpi(page, "fcr") == percent(summary["fcr_rate"])
    assert kpi(page, "service-level") == percent(summary["service_level"])
    level = page.get_by_test_id("kpi-service-level")
    expect(level).to_contain_text("target 80% within 20 s")
    assert summary["service_level"] < 0.8  # the demo month's evenings are busy: the target is missed
    expect(level.get_by_test_id("sl-missed")).to_have_text("Below target")
    expect(page.get_by_test_id("kpi-csat-value")).to_have_text(f"{summary['csat_average']:.2f} ★")

    # The charts are uPlot's canvases, with the days of the month.
    for chart in ("chart-daily", "chart-sl", "chart-reasons", "chart-csat"):
        expect(page.get_by_test_id(chart).locator(".uplot canvas")).to_have_count(1)
    daily = series_of(page, "chart-daily")
    series = console.api("/api/analytics/series")["rows"]
    assert len(daily[0]) == len(series) == 30
    assert daily[1] == [r["contacts"] for r in series] and sum(daily[1]) == summary["contacts"]
    reasons = console.api("/api/analytics/reasons")["rows"]
    assert series_of(page, "chart-reasons")[1] == [r["handoffs"] for r in reasons]
    assert series_of(page, "chart-sl")[2] == [80] * 30  # the target line
    shot(page, "dashboard")

    # One language: the charts' data and the numbers follow.
    after(page, lambda: page.get_by_test_id("af-language").select_option("zh"))
    chinese = console.api("/api/analytics/summary", language="zh")["summary"]
    assert 0 < chinese["contacts"] < summary["contacts"]
    assert kpi(page, "contacts") == str(chinese["contacts"])
    assert kpi(page, "automation") == percent(chinese["automation_rate"])
    narrowed = series_of(page, "chart-daily")
    assert narrowed[1] == [r["contacts"] for r in console.api("/api/analytics/series", language="zh")["rows"]]
    assert narrowed[1] != daily[1]
    assert series_of(page, "chart-reasons")[1] != [r["handoffs"] for r in reasons]

    # A channel and a week as well; the CSV links carry the same filters.
    after(page, lambda: page.get_by_test_id("af-channel").select_option("telegram"))
    after(page, lambda: page.get_by_test_id("af-start").fill("2026-11-09"))
    after(page, lambda: page.get_by_test_id("af-end").fill("2026-11-15"))
    week = console.api(
        "/api/analytics/summary", language="zh", channel="telegram", start="2026-11-09", end="2026-11-15"
    )["summary"]
    assert kpi(page, "contacts") == str(week["contacts"])
    assert len(series_of(page, "chart-daily")[0]) == 7
    href = page.get_by_test_id("csv-intents").get_attribute("href") or ""
    for part in ("language=zh", "channel=telegram", "start=2026-11-09", "end=2026-11-15", "format=csv"):
        assert part in href
    after(page, lambda: page.get_by_test_id("af-reset").click())
    assert kpi(page, "contacts") == str(summary["contacts"])

    # The Chinese interface.
    after(page, lambda: page.get_by_test_id("lang-toggle").click())
    expect(page.get_by_test_id("tab-analytics")).to_have_text("数据分析")
    expect(page.get_by_test_id("kpi-service-level")).to_contain_text("未达标")


def intents_cells(row: dict[str, Any]) -> list[str]:
    """An intents CSV row as the table writes it."""

    def count(v: str) -> str:
        return v if v else "—"

    def share(v: str) -> str:
        return percent(float(v)) if v else "—"

    def stars(v: str) -> str:
        return f"{float(v):.2f}" if v else "—"

    return [
        row["intent"] or "—",
        count(row["contacts"]),
        count(row["assistant"]),
        share(row["automation_rate"]),
        count(row["handoffs"]),
        share(row["fcr_rate"]),
        stars(row["csat_average"]),
    ]


def test_a_csv_export_holds_the_rows_of_its_table(console: Console, tmp_path: Path) -> None:
    page = opened_dashboard(console)
    after(page, lambda: page.get_by_test_id("af-language").select_option("en"))
    table = page.get_by_test_id("table-intents")
    shown = [
        [cell.inner_text() for cell in row.locator("td").all()]
        for row in table.get_by_test_id("row-intents").all()
    ]
    assert len(shown) > 5
    with page.expect_download() as download:
        page.get_by_test_id("csv-intents").click()
    saved = tmp_path / "intents.csv"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "analytics-intents.csv"
    with saved.open(encoding="utf-8-sig", newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert [intents_cells(row) for row in exported] == shown

    # The misses: the customer's markup is text in the table, and each links to its conversation.
    misses = page.get_by_test_id("table-kb_miss")
    cell = misses.locator("td.said", has_text=XSS)
    expect(cell).to_have_count(1)
    assert cell.inner_text() == XSS
    assert misses.locator("img").count() == 0
    link = misses.get_by_test_id("row-kb_miss").filter(has_text=XSS).get_by_test_id("miss-open")
    expect(link).to_have_attribute("href", "#chat/wi-markup-39")
    misses.scroll_into_view_if_needed()
    shot(page, "misses")


def test_agents_have_no_analytics(console: Console) -> None:
    page = console.open("ann")
    expect(page.get_by_test_id("chats-view")).to_be_visible()
    expect(page.get_by_test_id("tab-analytics")).to_be_hidden()
    expect(page.get_by_test_id("analytics-view")).to_be_hidden()


# -- experiments --------------------------------------------------------------------------------------------


def feed(
    console: Console,
    experiment: Experiment,
    batch: str,
    count: int,
    keep: Callable[[str], bool] = lambda v: True,
) -> dict[str, int]:
    """`count` new conversations as the hub would report them, each with its assigned variant; those `keep`
    refuses are left out (a broken exposure). Returns the contacts fed per variant."""
    assert console.store is not None
    fed: dict[str, int] = {v.name: 0 for v in experiment.variants}
    events = []
    now = time.time()
    for n in range(count):
        conversation = f"wi-{batch}-{n:04d}"
        variant = experiment.assign(conversation)
        if not keep(variant):
            continue
        fed[variant] += 1
        stamp = {experiment.id: variant}
        events += conversation_events(conversation, now + n * 40, experiments=stamp, handoff=n % 3 == 0)
    ingest(console.store, events)
    return fed


def test_an_experiment_is_started_split_measured_and_stopped(console: Console) -> None:
    page = opened_dashboard(console)
    panel = page.get_by_test_id("experiments")
    expect(panel.get_by_test_id("x-none")).to_be_visible()
    panel.get_by_test_id("x-new").click()
    page.get_by_test_id("x-name").fill("Heavier rating weight")
    page.get_by_test_id("x-kind").select_option("routing_weights")
    page.get_by_test_id("x-metric").select_option("service_level")
    expect(page.get_by_test_id("x-min-effect")).to_have_value("0.05")  # the metric's default
    page.get_by_test_id("x-min-effect").fill("0.1")
    variants = page.get_by_test_id("x-variant")
    expect(variants).to_have_count(2)
    for index, (name, share, rating) in enumerate((("control", "50", "0.2"), ("heavier", "60", "0.4"))):
        row = variants.nth(index)
        row.get_by_test_id("x-variant-name").fill(name)
        row.get_by_test_id("x-variant-share").fill(share)
        row.get_by_test_id("x-param-skill").fill(str(WEIGHTS["skill"]))
        row.get_by_test_id("x-param-load").fill(str(WEIGHTS["load"]))
        row.get_by_test_id("x-param-rating").fill(rating)

    # Shares adding up to 110%: the server's 400 names the field and the form marks it.
    page.get_by_test_id("x-start").click()
    expect(page.get_by_test_id("x-error")).to_contain_text("shares must add up to 1")
    expect(page.get_by_test_id("x-variants")).to_have_attribute("aria-invalid", "true")
    variants.nth(1).get_by_test_id("x-variant-share").fill("50")
    page.get_by_test_id("x-start").click()
    row = panel.get_by_test_id("x-row")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("x-status")).to_have_text("running")
    listed = console.api("/api/experiments")["experiments"]
    assert [(e["name"], e["created_by"]) for e in listed] == [("Heavier rating weight", "sue")]
    experiment = Experiment.from_dict(listed[0])
    assert [v.params["rating"] for v in experiment.variants] == [0.2, 0.4]

    # Conversations are assigned by the experiment and reported with their variant.
    fed = feed(console, experiment, "first", 300)
    assert 110 < fed["control"] < 190 and fed["control"] + fed["heavier"] == 300
    row.get_by_test_id("x-results-open").click()
    results = page.get_by_test_id("x-results")
    expect(results.get_by_test_id("x-results-title")).to_have_text("Results: Heavier rating weight")
    lines = results.get_by_test_id("x-result-row")
    expect(lines).to_have_count(2)
    for name in ("control", "heavier"):
        line = results.locator(f"[data-testid=x-result-row][data-variant={name}]")
        handoffs = sum(1 for n in range(0, 300, 3) if experiment.assign(f"wi-first-{n:04d}") == name)
        expect(line.get_by_test_id("x-result-n")).to_have_text(f"{handoffs} / {fed[name]}")
        expect(line.get_by_test_id("x-result-value")).to_contain_text(
            "100.0% ["
        )  # the value and its interval
    expect(results.locator("[data-variant=heavier]").get_by_test_id("x-result-diff")).to_contain_text("pp [")
    expect(results.get_by_test_id("x-verdict")).to_have_text("Collecting (not enough contacts yet)")
    api_results = console.api(f"/api/experiments/{experiment.id}/results")
    needed = api_results["sample_size"]["needed_per_variant"]
    expect(results.get_by_test_id("x-needed")).to_have_text(str(needed))
    progress = float(results.get_by_test_id("x-progress").get_attribute("value") or 0)
    assert progress == pytest.approx(api_results["sample_size"]["progress"])
    expect(results.get_by_test_id("x-srm")).to_have_count(0)

    # Most of the variant's conversations go missing: the split is off, and the panel says so.
    fed_more = feed(console, experiment, "second", 600, keep=lambda variant: variant == "control")
    assert fed_more["heavier"] == 0
    row.get_by_test_id("x-results-open").click()
    expect(results.get_by_test_id("x-srm")).to_contain_text("The split is off")
    shot(page, "experiments", "experiments")

    # Stopping asks first (a dialog of the page, not the browser's), then records who stopped it.
    row.get_by_test_id("x-stop").click()
    dialog = page.get_by_test_id("x-stop-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("x-stop-text")).to_contain_text("Heavier rating weight")
    dialog.locator("button.cancel").click()
    expect(dialog).to_be_hidden()
    expect(row.get_by_test_id("x-status")).to_have_text("running")
    row.get_by_test_id("x-stop").click()
    dialog.get_by_test_id("x-stop-confirm").click()
    expect(row.get_by_test_id("x-status")).to_have_text("stopped · sue")
    expect(row.get_by_test_id("x-stop")).to_have_count(0)
    audit = console.api("/api/experiments")["audit"]
    assert [(a["action"], a["actor"]) for a in audit] == [
        ("experiment.stopped", "sue"),
        ("experiment.created", "sue"),
    ]


# -- the supervisor view: a weight change previewed, the service level's alert --------------------------


def test_a_weight_change_is_previewed_before_it_is_saved_and_a_missed_target_alerts(console: Console) -> None:
    import redis as sync_redis

    from handoff import service_level
    from tests.integration.test_weights_preview import recorded_handoffs

    assert console.store is not None
    ingest(console.store, recorded_handoffs(time.time(), "zed", "amy"))  # two days the preview can replay
    with console.admin() as client:
        for agent_id, proficiency in (("zed", 0.95), ("amy", 0.2)):
            body = {"id": agent_id, "name": agent_id.title(), "languages": ["en"],
                    "skills": {"general": proficiency}, "capacity": 2}  # fmt: skip
            assert client.post("/api/agents", json=body).status_code in (201, 409)
        saved = client.get("/api/routing/weights").json()["weights"]
    # the last 20 minutes: every handoff answered after a minute (the target is 80% within 20 s)
    r = sync_redis.Redis.from_url(console.redis_url, decode_responses=True)
    try:
        r.delete(service_level.STREAM)
        now_ms = int(time.time() * 1000)
        for n in range(40):
            r.xadd(
                service_level.STREAM,
                {"conversation_id": f"slow-{n}", "outcome": "answered", "wait": "60.0"},
                id=f"{now_ms - (20 * 60 - n * 30) * 1000}-1",
            )
        page = console.open("sue", "supervisor")
        expect(page.get_by_test_id("sl-alert")).to_be_visible()
        expect(page.get_by_test_id("sl-alert")).to_contain_text("below target")
        expect(page.get_by_test_id("sl-target")).to_contain_text("target 80% within 20 s")
        # load alone: ties go to the lower id, amy, the novice, so fewer chats are resolved first time
        page.get_by_test_id("weight-skill").fill("0")
        page.get_by_test_id("weight-load").fill("1")
        page.get_by_test_id("weight-rating").fill("0")
        page.get_by_test_id("weights-preview").click()
        table = page.get_by_test_id("weights-preview-table")
        expect(table).to_be_visible()
        rows = page.get_by_test_id("preview-row")
        expect(rows).to_have_count(5)
        expect(page.get_by_test_id("weights-preview-result")).to_contain_text(
            "recorded handoffs of the last 7"
        )
        fcr = page.locator('[data-testid="preview-row"][data-metric="fcr"] td')
        expect(fcr.nth(3)).to_contain_text("−")
        expect(fcr.nth(3)).to_have_class("num worse")
        shot(page, "weights-preview", "weights-preview-result")
        # a preview saves nothing
        with console.admin() as client:
            assert client.get("/api/routing/weights").json()["weights"] == saved
        r.delete(service_level.STREAM)
    finally:
        r.close()

"""The studio's page (/studio) in Debian's headless Chromium against the real handoff app: a stand-in Rasa
(its hub channel reports what it understood in X-Understood), real Redis, copies of the training data, the
domain, the quick replies and a small knowledge base published with the hashing test encoders, and a fake
trainer that announces its stages and writes a candidate with a report like bot/studio_train.py's.

Editors work the inbox (masked items, accept under a corrected intent, dismiss a group), edit examples with
live warnings and a 409 that shows the current version, try a message, edit, publish, diff and roll back
an article, edit a quick reply whose variable error shows at its field, and train, compare and activate a
candidate; supervisors read without write controls; agents are refused. No page may raise a script error or
violate the Content-Security-Policy, and customer markup stays text. Screenshots go to
var/artifacts/studio/.

One app and one browser are started for the module; each test gets an emptied Redis database, its own
copies of the files and new browser contexts."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect
from sanic import Sanic

from handoff.app import create_app
from handoff.blueprints import studio_kb, studio_nlu, studio_page, studio_quick_replies, studio_training
from handoff.settings import Settings
from handoff.studio.models import ModelPaths
from handoff.studio.nlu_data import NluData
from handoff.studio.training import TrainingSettings
from kb_index import editing
from kb_index.build import build
from kb_index.service import KnowledgeBase
from kb_index.testing import ENCODERS, RETRIEVAL, RecordingFactory, sample_kb
from tests.integration.api_helpers import database_url
from tests.integration.conftest import ADMIN, RASA_API, REST_AUTH, SERVICE, TOKEN, hub_secrets
from tests.integration.live_app import WatchedPages, launched_chromium, serving_in_thread
from tests.integration.studio_fixtures import (
    ROOT,
    as_new_worker,
    copy_training_data,
    use_quick_replies,
    use_training,
)
from tests.unit.quick_reply_files import SHIPPED

pytestmark = pytest.mark.integration

REDIS_DB = 15  # this module empties its own database before each test
IMAGES = ROOT / "var" / "artifacts" / "studio"  # the ones in docs/images are copied from here by hand
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
UI_MS = 10_000
PASSWORD = "studio password 0123"
XSS = "<img src=x onerror=window.__xss=1> do you ship to the moon"
LIVE_MODEL = "20260101-000000-live.tar.gz"

# What the stand-in Rasa understood of each customer message (None: confident, not an inbox item).
UNDERSTOOD: dict[str, dict[str, Any]] = {
    "can i swap the colour of my jacket": {
        "intent": "ask_policy",
        "confidence": 0.31,
        "ranking": [
            {"name": "ask_policy", "confidence": 0.31},
            {"name": "request_return", "confidence": 0.27},
            {"name": "order_status", "confidence": 0.12},
        ],
        "entities": [],
    },
    "my parcel got eaten by the dog, mail me at jo@home.net": {
        "intent": "nlu_fallback",
        "confidence": 0.15,
        "ranking": [{"name": "order_status", "confidence": 0.15}],
        "entities": [],
    },
    "do you ship to the moon": {
        "intent": "nlu_fallback",
        "confidence": 0.2,
        "ranking": [{"name": "ask_policy", "confidence": 0.2}],
        "entities": [],
    },
    XSS: {"intent": "nlu_fallback", "confidence": 0.1, "ranking": [], "entities": []},
}

# Stands in for bot/studio_train.py: the same command line and output, stages in a moment, a candidate
# archive and a report built with its own metric and report functions. `fake-trainer.json` in the root
# makes it hang in training (until it is cancelled) or makes one intent worse (a failing gate).
FAKE_TRAINER = """
import argparse, json, sys, time
from pathlib import Path
from bot.studio_train import build_report, intent_metrics

parser = argparse.ArgumentParser()
for name in ("--root", "--out", "--name", "--gates", "--base-model"):
    parser.add_argument(name)
parser.add_argument("--watch-parent", action="store_true")
parser.add_argument("--full", action="store_true")
args = parser.parse_args()
options_file = Path(args.root) / "fake-trainer.json"
options = json.loads(options_file.read_text()) if options_file.exists() else {}
started = time.monotonic()

def say(stage, **detail):
    print(json.dumps({"stage": stage, "elapsed": round(time.monotonic() - started, 1), **detail}), flush=True)
    time.sleep(options.get("pause", 0.3))

say("snapshot")
say("train", mode="finetune")
say("train", step="DIETClassifier")
for epoch in (1, 2, 3):
    say("train", step="epochs", epoch=epoch, epochs=3)
    if options.get("hang"):
        time.sleep(600)
print("Epochs: 100%|##########| 3/3", flush=True)
say("evaluate_candidate", sizes={"en": 20, "zh": 10})

def pairs(wrong):
    golds = ["order_status"] * 8 + ["request_return"] * 6 + ["ask_policy"] * 6
    return [(g, "nlu_fallback" if i in wrong else g) for i, g in enumerate(golds)]

candidate = {"en": intent_metrics(pairs({14, 16, 17} if options.get("worse") else {9})),
             "zh": intent_metrics(pairs(set()))}
say("evaluate_live", model=Path(args.base_model).name if args.base_model else None)
live = {"en": intent_metrics(pairs({9, 15})), "zh": intent_metrics(pairs(set()))} if args.base_model else None
say("report")
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
(out / (args.name + ".tar.gz")).write_bytes(b"candidate model " + args.name.encode())
report = build_report(
    name=args.name,
    live_model=Path(args.base_model).name if args.base_model else None,
    training={"mode": "finetune", "requested": "auto", "finetune_refused": None, "seconds": 1.0},
    candidate_scores=candidate,
    live_scores=live,
    held_out={"sha256": "held-out-sets", "sizes": {"en": 20, "zh": 20}, "files": {}},
    gate_settings={"max_overall_drop_points": 0.0, "max_intent_drop_points": 10.0},
    timings={"train": 1.0, "total": 2.0},
)
(out / (args.name + ".json")).write_text(json.dumps(report))
print(json.dumps({"stage": "done", "candidate": args.name + ".tar.gz", "passed": report["passed"],
                  "mode": "finetune", "timings": report["timings"]}), flush=True)
"""


def rasa(parsed: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/webhooks/hub/webhook":
            assert request.headers["authorization"] == f"Bearer {TOKEN}"
            understood = UNDERSTOOD.get(json.loads(request.content)["message"])
            headers = {"X-Understood": json.dumps(understood)} if understood else {}
            return httpx.Response(200, json=[{"text": "Let me check."}], headers=headers)
        if request.url.path == "/model/parse":
            assert request.url.params["token"] == RASA_API
            text = json.loads(request.content)["text"]
            parsed.append(text)
            ranking = [
                {"name": "request_return", "confidence": 0.81},
                {"name": "ask_policy", "confidence": 0.12},
            ]
            return httpx.Response(
                200,
                json={
                    "text": text,
                    "intent": ranking[0],
                    "intent_ranking": ranking,
                    "entities": [
                        {"entity": "item", "value": "jacket", "start": 0, "end": 6, "extractor": "DIET"}
                    ],
                    "affect": {"frustration": "calm", "risk": [], "scores": {"calm": 0.9}, "cues": []},
                },
            )
        if request.url.path == "/status":
            return httpx.Response(200, json={"model_file": f"models/{LIVE_MODEL}"})
        return httpx.Response(200, json={"status": "ok"})

    return httpx.MockTransport(handler)


@dataclass
class Studio:
    """The served app and the files it edits."""

    base: str
    project: Path
    workspace: editing.KbWorkspace
    quick_replies: Path
    models: Path
    parsed: list[str]

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
                assert client.post("/api/agents", json=agent).status_code == 201
                body["agent_id"] = user_id
            response = client.post("/api/users", json=body)
            assert response.status_code == 201, response.text

    def handoff(self, packet: dict[str, Any]) -> None:
        response = httpx.post(
            f"{self.base}/api/handoffs/",
            json=packet,
            headers={"Authorization": f"Bearer {SERVICE}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text

    def say(self, sender: str, text: str) -> None:
        response = httpx.post(
            f"{self.base}/webhooks/rest/webhook",
            json={"sender": sender, "message": text},
            headers=REST_AUTH,
            timeout=30,
        )
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("studio-page-kb")
    build(
        sample_kb(root / "kb"),
        root / "index",
        encoders=ENCODERS,
        retrieval=RETRIEVAL,
        encoder_factory=RecordingFactory(),
        progress=lambda _: None,
    )
    return root


def studio_app(url: str, parsed: list[str], index_dir: Path) -> Sanic:  # type: ignore[type-arg]
    """The app with the studio; `use_files` points it at a test's files. Agents' suggestions (unused here)
    come from the published index in `index_dir`."""
    Sanic.test_mode = True
    env = {**hub_secrets(), "REDIS_URL": url, "HUB_SWEEP_INTERVAL": "60"}
    app = create_app(
        Settings.from_env(env),
        http_transport=rasa(parsed),
        knowledge_factory=lambda: KnowledgeBase(index_dir),
    )
    for blueprint in (
        studio_nlu.bp,
        studio_kb.bp,
        studio_quick_replies.bp,
        studio_training.bp,
        studio_page.bp,
    ):
        if blueprint.name not in app.blueprints:
            app.blueprint(blueprint)
    return app


async def use_files(app: Sanic, studio: Studio) -> None:  # type: ignore[type-arg]
    """The app as newly started on an empty database, editing and serving the files of `studio`."""
    await as_new_worker(app)
    app.ctx.nlu_data = NluData(studio.project)
    app.ctx.studio_kb_workspace = studio.workspace
    await use_quick_replies(app, studio.quick_replies, poll_seconds=0.5)
    await use_training(
        app,
        TrainingSettings(
            root=studio.project,
            python=Path(sys.executable),
            models=ModelPaths(studio.models),
            trainer=(sys.executable, str(studio.project / "fake_trainer.py")),
            heartbeat_seconds=0.5,
            cancel_wait_seconds=5.0,
        ),
    )


@dataclass(frozen=True)
class Served:
    """The app served in a thread of its own, and that thread's event loop."""

    app: Sanic  # type: ignore[type-arg]
    base: str
    loop: asyncio.AbstractEventLoop

    def run(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the app's event loop and wait for it."""
        asyncio.run_coroutine_threadsafe(work, self.loop).result(30)


@contextmanager
def served_in_thread(app: Sanic) -> Iterator[Served]:  # type: ignore[type-arg]
    """The app served in a thread of its own, so the synchronous browser API can drive the page from the
    test's thread."""
    with serving_in_thread(app, "studio-app", start_timeout=60) as (base, loop):
        yield Served(app, base, loop)


@pytest.fixture(scope="module")
def seen_by_rasa() -> list[str]:
    return []


@pytest.fixture(scope="module")
def served(redis_url: str, published: Path, seen_by_rasa: list[str]) -> Iterator[Served]:
    """One app for the module: starting one takes seconds."""
    url = database_url(redis_url, REDIS_DB)
    with served_in_thread(studio_app(url, seen_by_rasa, published / "index")) as running:
        yield running


@pytest.fixture
def studio(served: Served, seen_by_rasa: list[str], published: Path, tmp_path: Path) -> Studio:
    """The module's app as newly started on an empty database, with this test's copies of the files."""
    project = copy_training_data(tmp_path / "project")
    (project / "fake_trainer.py").write_text(FAKE_TRAINER)
    kb = Path(shutil.copytree(published, tmp_path / "kb"))
    models = tmp_path / "models"
    models.mkdir()
    (models / LIVE_MODEL).write_bytes(b"the live model")
    quick_replies = Path(shutil.copytree(SHIPPED, tmp_path / "quick_replies"))
    seen_by_rasa.clear()
    found = Studio(
        served.base,
        project,
        editing.KbWorkspace(kb / "kb", kb / "index", encoders=ENCODERS),
        quick_replies,
        models,
        seen_by_rasa,
    )
    served.run(use_files(served.app, found))
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as chromium:
        yield chromium


class Pages:
    """The studio signed in, in pages that record their problems."""

    def __init__(self, browser: Browser, studio: Studio) -> None:
        self.watched = WatchedPages(browser, studio.base, UI_MS)

    def open(self, user_id: str, locale: str = "en-US") -> Page:
        return self.watched.open("/studio", user_id, PASSWORD, viewport=VIEWPORT, locale=locale)


@pytest.fixture
def pages(browser: Browser, studio: Studio) -> Iterator[Pages]:
    opened = Pages(browser, studio)
    yield opened
    try:
        problems = opened.watched.problems()
    finally:
        opened.watched.close_all()
    assert problems == []


def shot(page: Page, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / f"studio-{name}.png"))


def eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


# -- the inbox ---------------------------------------------------------------------------------------


def test_an_editor_works_the_inbox(studio: Studio, pages: Pages) -> None:
    studio.user("eve", "editor")
    studio.say("c1", "can i swap the colour of my jacket")
    studio.say("c1", "my parcel got eaten by the dog, mail me at jo@home.net")
    studio.say("c2", "do you ship to the moon")
    studio.say("c3", "do you ship to the moon")
    page = pages.open("eve")

    items = page.get_by_test_id("inbox-item")
    expect(items).to_have_count(4)
    masked = items.filter(has_text="eaten by the dog")
    expect(masked).not_to_contain_text("jo@home.net")
    expect(masked.get_by_test_id("inbox-predicted")).to_contain_text("nlu_fallback")
    expect(page.get_by_test_id("tab-inbox-badge")).to_have_text("4")
    # The two identical questions from two conversations form a group.
    group = page.get_by_test_id("inbox-group")
    expect(group).to_have_count(1)
    expect(group.get_by_test_id("inbox-item")).to_have_count(2)

    page.get_by_test_id("inbox-item").filter(has_text="swap the colour").get_by_test_id("inbox-open").click()
    expect(page.get_by_test_id("inbox-text")).to_have_text("can i swap the colour of my jacket")
    expect(page.get_by_test_id("ranking-row")).to_have_count(3)
    expect(page.get_by_test_id("ranking-row").first).to_contain_text("ask_policy")
    expect(page.get_by_test_id("context-line").filter(has_text="swap the colour")).to_have_attribute(
        "aria-current", "true"
    )
    expect(page.get_by_test_id("annotate-intent")).to_have_value("ask_policy")  # the model's guess first
    shot(page, "inbox")

    page.get_by_test_id("annotate-intent").select_option("request_return")
    page.get_by_test_id("annotate-accept").click()
    expect(page.get_by_test_id("notice")).to_contain_text("request_return")
    expect(items).to_have_count(3)

    group.get_by_test_id("group-dismiss").click()
    expect(page.get_by_test_id("inbox-group")).to_have_count(0)
    expect(items).to_have_count(1)

    page.get_by_test_id("tab-intents").click()
    page.get_by_test_id("intent-item").filter(has_text="request_return").click()
    expect(
        page.get_by_test_id("example-text").filter(has_text="can i swap the colour of my jacket")
    ).to_have_count(1)

    page.get_by_test_id("tab-audit").click()
    rows = page.get_by_test_id("audit-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Inbox: dismissed")
    expect(rows.nth(1)).to_contain_text("Inbox: accepted")
    expect(rows.nth(1)).to_contain_text("eve")


# -- intents, examples and try it ------------------------------------------------------------------------


def test_examples_with_live_warnings_a_stale_edit_and_try_it(studio: Studio, pages: Pages) -> None:
    studio.user("eve", "editor")
    taken = NluData(studio.project).examples("order_status", "en").examples[0].plain
    page = pages.open("eve")
    page.get_by_test_id("tab-intents").click()
    page.get_by_test_id("intent-filter").fill("request_re")
    page.get_by_test_id("intent-item").filter(has_text="request_return").click()
    expect(page.get_by_test_id("intent-title")).to_contain_text("request_return")

    page.get_by_test_id("new-examples").fill(taken)
    warning = page.get_by_test_id("example-warning").filter(has_text="order_status")
    expect(warning.first).to_be_visible()
    expect(warning.first).to_have_attribute("data-kind", "duplicate_elsewhere")
    page.get_by_test_id("new-examples").fill("i would like to send the blue jacket back")
    expect(page.get_by_test_id("example-warning").filter(has_text="order_status")).to_have_count(0)
    page.get_by_test_id("add-examples").click()
    added = page.get_by_test_id("example").filter(has_text="i would like to send the blue jacket back")
    expect(added).to_have_count(1)

    # Someone else adds an example meanwhile: the page's version is stale, the edit comes back as a 409.
    behind = NluData(studio.project)
    behind.add(
        "request_return",
        "en",
        ["another editor added this one"],
        behind.examples("request_return", "en").version,
    )
    added.get_by_test_id("example-edit").click()
    page.get_by_test_id("example-edit-input").fill("i would like to send the red jacket back")
    page.get_by_test_id("example-edit-save").click()
    conflict = page.get_by_test_id("intent-conflict")
    expect(conflict).to_contain_text("changed by someone else")
    expect(conflict.get_by_test_id("conflict-current")).to_contain_text("another editor added this one")
    conflict.get_by_test_id("conflict-reapply").click()
    expect(conflict).to_be_hidden()
    texts = page.get_by_test_id("example-text")
    expect(texts.filter(has_text="i would like to send the red jacket back")).to_have_count(1)
    expect(texts.filter(has_text="another editor added this one")).to_have_count(1)
    expect(texts.filter(has_text="i would like to send the blue jacket back")).to_have_count(0)

    page.get_by_test_id("example-search").fill("red jacket")
    page.get_by_test_id("example-search").press("Enter")
    expect(page.get_by_test_id("search-result")).to_have_count(1)
    expect(page.get_by_test_id("search-result")).to_contain_text("request_return")
    moving = page.get_by_test_id("example").filter(has_text="i would like to send the red jacket back")
    moving.get_by_test_id("example-move").click()
    page.get_by_test_id("example-move-intent").select_option("request_refund")
    page.get_by_test_id("example-move-save").click()
    expect(page.get_by_test_id("notice")).to_contain_text("request_refund")
    expect(moving).to_have_count(0)
    page.get_by_test_id("intent-filter").fill("request_refund")
    page.get_by_test_id("intent-item").filter(has_text="request_refund").click()
    moved = page.get_by_test_id("example").filter(has_text="i would like to send the red jacket back")
    expect(moved).to_have_count(1)
    moved.get_by_test_id("example-delete").click()
    expect(page.get_by_test_id("confirm-text")).to_contain_text("red jacket")
    page.get_by_test_id("confirm-ok").click()
    expect(moved).to_have_count(0)

    page.get_by_test_id("tab-try").click()
    page.get_by_test_id("try-text").fill("can i exchange my jacket")
    page.get_by_test_id("try-submit").click()
    ranking = page.get_by_test_id("try-ranking").get_by_test_id("ranking-row")
    expect(ranking).to_have_count(2)
    expect(ranking.first).to_contain_text("request_return")
    expect(page.get_by_test_id("try-entities")).to_contain_text("jacket")
    expect(page.get_by_test_id("try-affect")).to_contain_text("calm")
    expect(page.get_by_test_id("try-language")).to_have_text("English")
    assert studio.parsed == ["can i exchange my jacket"]


# -- the knowledge base ----------------------------------------------------------------------------------


def test_an_article_edit_publish_diff_and_rollback(studio: Studio, pages: Pages) -> None:
    studio.user("eve", "editor")
    page = pages.open("eve")
    page.get_by_test_id("tab-kb").click()
    expect(page.get_by_test_id("kb-current")).to_contain_text("v1")
    page.get_by_test_id("kb-item").filter(has_text="en-returns-how-to").click()
    title = page.get_by_test_id("article-title")
    expect(title).to_have_value("How do I return an item?")

    body = page.get_by_test_id("article-body")
    body.fill(body.input_value() + "\n\n**Free** returns within 30 days. <script>window.__xss=3</script>")
    preview = page.frame_locator("[data-testid=article-preview]")
    expect(preview.locator("strong")).to_have_text("Free")
    expect(preview.locator("body")).to_contain_text("<script>")  # raw HTML shows as text
    body.fill(body.input_value().replace(" <script>window.__xss=3</script>", ""))
    expect(preview.locator("body")).not_to_contain_text("<script>")
    title.fill("")
    page.get_by_test_id("article-save").click()
    expect(page.get_by_test_id("article-title-error")).to_contain_text("title")
    title.fill("How do I return an item for free?")
    # Another editor adds a tag meanwhile: the save is a 409 with their version, and re-applying keeps both.
    current = editing.read_article(studio.workspace, "en", "en-returns-how-to")
    theirs = {key: current[key] for key in editing.FORM_FIELDS}
    editing.save_article(
        studio.workspace,
        "en",
        "en-returns-how-to",
        {**theirs, "tags": [*theirs["tags"], "free"]},
        current["version"],
    )
    page.get_by_test_id("article-save").click()
    conflict = page.get_by_test_id("article-conflict")
    expect(conflict).to_contain_text("Changed by someone else")
    expect(conflict.get_by_test_id("conflict-current")).to_contain_text("return, send back, free")
    conflict.get_by_test_id("conflict-reapply").click()
    expect(page.get_by_test_id("notice")).to_contain_text("en-returns-how-to")
    expect(page.get_by_test_id("article-tags")).to_have_value("return, send back, free")
    expect(title).to_have_value("How do I return an item for free?")
    expect(page.get_by_test_id("article-status")).to_have_text("changed, not published")
    expect(page.get_by_test_id("kb-unpublished")).to_contain_text("1 changed")

    page.get_by_test_id("kb-publish").click()
    expect(page.get_by_test_id("publish-status")).to_have_text("Published", timeout=90_000)
    expect(page.get_by_test_id("kb-current")).to_contain_text("v2")

    page.get_by_test_id("kb-tab-versions").click()
    expect(page.get_by_test_id("version-row")).to_have_count(2)
    page.get_by_test_id("diff-from").select_option("v1")
    page.get_by_test_id("diff-to").select_option("v2")
    page.get_by_test_id("diff-show").click()
    changed = page.get_by_test_id("diff-article").filter(has_text="en-returns-how-to")
    expect(changed.locator(".diff-add").filter(has_text="**Free** returns within 30 days.")).to_have_count(1)
    expect(changed.locator(".diff-del").filter(has_text="How do I return an item?")).to_have_count(1)
    shot(page, "kb-diff")

    page.get_by_test_id("version-row").filter(has_text="v1").get_by_test_id("version-rollback").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("notice")).to_contain_text("v1")
    expect(page.get_by_test_id("kb-current")).to_contain_text("v1")
    assert "Free" not in (studio.workspace.kb_dir / "en" / "en-returns-how-to.md").read_text()
    assert page.evaluate("window.__xss") is None

    # A question the knowledge base missed, masked, goes to an article's customer questions.
    studio.say("m1", "hello")
    studio.handoff(
        {
            "conversation_id": "rest-m1",
            "reason": "kb_miss",
            "language": "en",
            "transcript": [
                {"author": "customer", "text": "can the courier call me on +44 7700 900123", "ts": 1.0}
            ],
            "kb_hits": [
                {"article_id": "en-shipping-tracking", "title": "How can I track my parcel?", "score": 0.3}
            ],
        }
    )
    page.get_by_test_id("kb-tab-misses").click()
    miss = page.get_by_test_id("miss")
    expect(miss).to_have_count(1)
    expect(miss.get_by_test_id("miss-question")).not_to_contain_text("7700 900123")
    expect(miss.get_by_test_id("miss-article")).to_have_value("en-shipping-tracking")
    miss.get_by_test_id("miss-add").click()
    expect(page.get_by_test_id("notice")).to_contain_text("en-shipping-tracking")
    expect(miss).to_have_count(0)
    tracking = (studio.workspace.kb_dir / "en" / "en-shipping-tracking.md").read_text()
    assert "can the courier call me on" in tracking and "7700 900123" not in tracking


# -- quick replies ---------------------------------------------------------------------------------------


def test_a_quick_reply_edit_with_a_variable_error_at_its_field(studio: Studio, pages: Pages) -> None:
    studio.user("eve", "editor")
    page = pages.open("eve")
    page.get_by_test_id("tab-quick-replies").click()
    first = page.get_by_test_id("qr-item").first
    template_id = first.get_attribute("data-id")
    first.click()
    expect(page.get_by_test_id("qr-title")).to_have_text(str(template_id))
    text = page.get_by_test_id("qr-en-text")
    text.fill("Hello {customer_nmae}, one moment please.")
    error = page.get_by_test_id("qr-en-text-error")
    expect(error).to_contain_text("unknown variable {customer_nmae}")
    expect(error).to_contain_text("did you mean {customer_name}")
    page.get_by_test_id("qr-save").click()  # the server refuses it too, at the same field
    expect(error).to_contain_text("customer_nmae")

    text.fill("Hello , one moment please.")
    text.press("End")
    text.press("Home")
    for _ in range(len("Hello ")):
        text.press("ArrowRight")
    page.get_by_test_id("qr-variable").filter(has_text="{customer_name}").click()
    expect(text).to_have_value("Hello {customer_name}, one moment please.")
    expect(error).to_be_hidden()
    filled = page.get_by_test_id("qr-en-preview").get_by_test_id("qr-preview-text")
    expect(filled).to_contain_text(", one moment please.")
    expect(filled).not_to_contain_text("{customer_name}")  # a sample name in its place
    page.get_by_test_id("qr-save").click()
    expect(page.get_by_test_id("notice")).to_contain_text(f"{template_id} saved")
    assert "Hello {customer_name}, one moment please." in (studio.quick_replies / "en.yml").read_text()

    # An admin retitles it meanwhile: the next save is a 409, and re-applying keeps their title and my text.
    with studio.admin() as admin:
        current = admin.get(f"/api/studio/quick-replies/{template_id}").json()
        english = {**current["languages"]["en"], "title": "Retitled by the admin"}
        body = {"version": current["version"], "languages": {"en": english}}
        assert admin.put(f"/api/studio/quick-replies/{template_id}", json=body).status_code == 200
    text.fill("Hello {customer_name}, two moments please.")
    page.get_by_test_id("qr-save").click()
    conflict = page.get_by_test_id("qr-conflict")
    expect(conflict.get_by_test_id("conflict-current")).to_contain_text("Retitled by the admin")
    conflict.get_by_test_id("conflict-reapply").click()
    expect(page.get_by_test_id("notice")).to_contain_text(f"{template_id} saved")
    expect(page.get_by_test_id("qr-en-title")).to_have_value("Retitled by the admin")
    expect(text).to_have_value("Hello {customer_name}, two moments please.")


# -- training --------------------------------------------------------------------------------------------


def test_train_compare_activate_roll_back_and_cancel(studio: Studio, pages: Pages) -> None:
    studio.user("eve", "editor")
    page = pages.open("eve")
    page.get_by_test_id("tab-training").click()
    expect(page.get_by_test_id("training-run")).to_contain_text("No training has run yet")
    expect(page.get_by_test_id("live-model")).to_contain_text(LIVE_MODEL)

    page.get_by_test_id("training-start").click()
    expect(page.get_by_test_id("training-state")).to_have_text("Running")
    expect(page.get_by_test_id("training-stage").first).to_have_attribute("data-status", "done")
    expect(page.get_by_test_id("training-state")).to_have_text("Finished", timeout=30_000)
    stages = page.get_by_test_id("training-stage")
    expect(stages).to_have_count(5)
    for n in range(5):
        expect(stages.nth(n)).to_have_attribute("data-status", "done")
    candidate = page.get_by_test_id("candidate").first
    expect(candidate.get_by_test_id("candidate-verdict")).to_contain_text("every gate passes")
    row = candidate.get_by_test_id("intent-row").filter(has_text="ask_policy").first
    expect(row).to_contain_text("+16.67")  # one more of six held-out messages right than the live model
    expect(candidate.get_by_test_id("gate")).to_have_count(4)
    shot(page, "training")

    name = candidate.get_attribute("data-name")
    assert name and name != LIVE_MODEL
    candidate.get_by_test_id("candidate-activate").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("live-model")).to_contain_text(name)
    expect(page.get_by_test_id("previous-model")).to_contain_text(LIVE_MODEL)
    page.get_by_test_id("model-rollback").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("live-model")).to_contain_text(LIVE_MODEL)

    # A candidate worse than the live model on one intent: its gate fails and it cannot be activated.
    (studio.project / "fake-trainer.json").write_text(json.dumps({"worse": True, "pause": 0.1}))
    page.get_by_test_id("training-start").click()
    expect(page.get_by_test_id("training-state")).to_have_text("Finished", timeout=30_000)
    worse = page.get_by_test_id("candidate").first
    expect(worse).not_to_have_attribute("data-name", name)
    expect(worse.get_by_test_id("candidate-verdict")).to_contain_text("a gate fails")
    expect(worse.locator("[data-testid=gate][data-passed=false]")).to_have_count(2)
    expect(worse.get_by_test_id("candidate-activate")).to_be_disabled()
    expect(worse.get_by_test_id("intent-row").first).to_contain_text("−33.33")  # worst first

    # A run that hangs in training: a reload finds it running, and it can be cancelled.
    (studio.project / "fake-trainer.json").write_text(json.dumps({"hang": True, "pause": 0.1}))
    page.get_by_test_id("training-start").click()
    expect(page.get_by_test_id("training-step")).to_contain_text("epochs")
    page.reload()
    expect(page.get_by_test_id("training-state")).to_have_text("Running")
    expect(page.get_by_test_id("training-stage").nth(1)).to_have_attribute("data-status", "current")
    elapsed = page.get_by_test_id("training-elapsed").inner_text()
    expect(page.get_by_test_id("training-elapsed")).not_to_have_text(elapsed)  # the clock runs
    page.get_by_test_id("training-cancel").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("training-state")).to_have_text("Cancelled", timeout=20_000)
    expect(page.get_by_test_id("training-run-error")).to_contain_text("cancelled by eve")


# -- roles and languages ---------------------------------------------------------------------------------


def test_supervisors_read_agents_are_refused_and_the_chinese_interface(studio: Studio, pages: Pages) -> None:
    studio.user("sam", "supervisor")
    studio.user("ann", "agent")
    studio.say("c1", "can i swap the colour of my jacket")
    studio.say("c2", XSS)
    page = pages.open("sam")
    expect(page.get_by_test_id("read-only")).to_be_visible()
    page.get_by_test_id("inbox-item").filter(has_text="swap the colour").get_by_test_id("inbox-open").click()
    expect(page.get_by_test_id("inbox-text")).to_have_text("can i swap the colour of my jacket")
    expect(page.get_by_test_id("annotate-form")).to_be_hidden()
    expect(page.get_by_test_id("inbox-pick")).to_have_count(0)
    expect(page.get_by_test_id("group-dismiss")).to_have_count(0)
    # A customer's markup is shown as the characters typed, in the list, the item and its conversation.
    page.get_by_test_id("inbox-item").filter(has_text="do you ship").get_by_test_id("inbox-open").click()
    expect(page.get_by_test_id("inbox-text")).to_have_text(XSS)
    expect(page.get_by_test_id("context-line").filter(has_text="<img src=x")).to_have_count(1)
    assert page.locator("#main img").count() == 0
    assert page.evaluate("window.__xss") is None

    page.get_by_test_id("tab-intents").click()
    page.get_by_test_id("intent-item").filter(has_text="request_return").click()
    expect(page.get_by_test_id("example").first).to_be_visible()
    expect(page.get_by_test_id("add-examples-form")).to_be_hidden()
    expect(page.get_by_test_id("example-edit")).to_have_count(0)

    page.get_by_test_id("tab-kb").click()
    expect(page.get_by_test_id("kb-publish")).to_be_hidden()
    expect(page.get_by_test_id("kb-new")).to_be_hidden()
    page.get_by_test_id("kb-item").first.click()
    expect(page.get_by_test_id("article-title")).to_be_disabled()
    expect(page.get_by_test_id("article-save")).to_be_hidden()

    page.get_by_test_id("tab-quick-replies").click()
    page.get_by_test_id("qr-item").first.click()
    expect(page.get_by_test_id("qr-en-text")).to_be_disabled()
    expect(page.get_by_test_id("qr-save")).to_be_hidden()
    expect(page.get_by_test_id("qr-new")).to_be_hidden()

    page.get_by_test_id("tab-training").click()
    expect(page.get_by_test_id("live-model")).to_contain_text(LIVE_MODEL)
    expect(page.get_by_test_id("training-start")).to_be_hidden()
    expect(page.get_by_test_id("model-rollback")).to_be_hidden()

    page.get_by_test_id("tab-try").click()  # supervisors may try messages
    page.get_by_test_id("try-text").fill("hello")
    page.get_by_test_id("try-submit").click()
    expect(page.get_by_test_id("try-ranking").get_by_test_id("ranking-row")).to_have_count(2)

    page.get_by_test_id("tab-audit").click()
    expect(page.get_by_test_id("audit-view")).to_be_visible()

    page.get_by_test_id("lang-toggle").click()
    expect(page.get_by_test_id("tab-inbox")).to_contain_text("待处理")
    expect(page.get_by_test_id("read-only")).to_have_text("只读")
    expect(page.get_by_test_id("me")).to_contain_text("主管")
    page.reload()
    expect(page.get_by_test_id("tab-kb")).to_have_text("知识库")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    agent = pages.open("ann")
    expect(agent.get_by_test_id("denied-view")).to_be_visible()
    expect(agent.get_by_test_id("tab-inbox")).to_be_hidden()
    with httpx.Client(base_url=studio.base) as client:  # the page itself is public; its data is not
        html = client.get("/studio")
        assert html.status_code == 200 and html.headers["cache-control"] == "no-store"
        policy = html.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy
        module = client.get("/studio/main.js")
        assert module.headers["content-type"].startswith("text/javascript")
        assert client.get("/studio/missing.js").status_code == 404  # only the files that exist
        assert client.get("/api/studio/inbox").status_code == 401

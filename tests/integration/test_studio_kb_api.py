"""The studio's knowledge-base API over HTTP against a real redis-server: who may read and change articles,
409s that carry the current version, 400s that name the field, the Markdown preview, real publishes on a
small knowledge base (the build's child process with the hashing test encoders, and once with the real
ones), versions, text diffs, rollbacks that restore the files, and the inbox of questions the knowledge base
missed.

One app is served for the module (starting one takes seconds); each test gets a flushed Redis database and
its own copy of the articles and index.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis
from redis.asyncio import Redis as AsyncRedis
from sanic import Sanic

from handoff.app import create_app
from handoff.blueprints import studio_kb
from handoff.settings import Settings
from handoff.studio import audit
from kb_index import editing, storage
from kb_index.build import build
from kb_index.manifest import read_manifest
from kb_index.testing import ENCODERS, RETRIEVAL, RecordingFactory, sample_kb
from tests.integration.conftest import ADMIN, hub_secrets, rasa_stand_in
from tests.integration.live_app import serving
from tests.integration.studio_fixtures import as_new_worker

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

REDIS_DB = 3  # the studio's keys are global: this module flushes its own database before each test
FORM = {
    "title": "Can I change my delivery address?",
    "category": "shipping",
    "question_type": "how_to",
    "urgency": "normal",
    "tags": ["delivery address"],
    "questions": ["i moved, can the parcel go to my new flat"],
    "related": ["en-shipping-tracking"],
    "body": "Open **Account > Orders** and choose *Change address* before the order ships.",
}
ARTICLES = "/api/studio/kb/articles"
PUBLISH_POLL_SECONDS = 0.05  # a publish of the sample takes about a second: see its end promptly


@pytest.fixture(scope="module")
def db_url(redis_url: str) -> str:
    return redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("studio-kb-api")
    build(
        sample_kb(root / "kb"),
        root / "index",
        encoders=ENCODERS,
        retrieval=RETRIEVAL,
        encoder_factory=RecordingFactory(),
        progress=lambda _: None,
    )
    return root


@pytest.fixture
def workspace(published: Path, tmp_path: Path) -> editing.KbWorkspace:
    """The sample knowledge base published as v1, copied for each test; publishes use the test encoders."""
    root = Path(shutil.copytree(published, tmp_path / "copy"))
    return editing.KbWorkspace(root / "kb", root / "index", encoders=ENCODERS)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(db_url: str, no_overflow_routing: str) -> AsyncIterator[tuple[Sanic, str]]:  # type: ignore[type-arg]
    Sanic.test_mode = True
    env = {**hub_secrets(), "REDIS_URL": db_url, "HUB_ROUTING_CONFIG": no_overflow_routing}
    app = create_app(Settings.from_env(env), http_transport=rasa_stand_in([]))
    if "studio_kb" not in app.blueprints:
        app.blueprint(studio_kb.bp)
    async with serving(app) as url:
        yield app, url


class Studio:
    """The served app called with one token per role."""

    def __init__(self, app: Sanic, client: httpx.AsyncClient) -> None:  # type: ignore[type-arg]
        self.app = app
        self.client = client
        self.tokens: dict[str, str] = {}

    async def token(self, role: str) -> str:
        if role not in self.tokens:
            admin = {"Authorization": f"Bearer {ADMIN}"}
            if role == "agent":  # agents' tokens belong to an agent record
                spec = {
                    "id": "ana",
                    "name": "Ana",
                    "languages": ["en"],
                    "skills": {"general": 0.5},
                    "capacity": 1,
                }
                assert (await self.client.post("/api/agents", json=spec, headers=admin)).status_code == 201
                issued = await self.client.post("/api/agents/ana/tokens", headers=admin)
            else:
                body = {"role": role, "user_id": f"{role}-1"}
                issued = await self.client.post("/api/tokens", json=body, headers=admin)
            assert issued.status_code == 201, issued.text
            self.tokens[role] = issued.json()["token"]
        return self.tokens[role]

    async def call(
        self, method: str, path: str, role: str | None = "editor", **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {await self.token(role)}"} if role else {}
        headers.update(kwargs.pop("headers", {}))
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def article(self, slug: str) -> dict[str, Any]:
        response = await self.call("GET", f"{ARTICLES}/{slug[:2]}/{slug}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def publish_and_wait(self, timeout: float = 120.0) -> dict[str, Any]:
        started = await self.call("POST", "/api/studio/kb/publish")
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state: dict[str, Any] = (await self.call("GET", "/api/studio/kb/publish", "supervisor")).json()
            if state["state"] != "running":
                return state
            await asyncio.sleep(PUBLISH_POLL_SECONDS)
        raise AssertionError("the publish did not finish")


@pytest_asyncio.fixture(loop_scope="module")
async def studio(
    served: tuple[Sanic, str],  # type: ignore[type-arg]
    workspace: editing.KbWorkspace,
) -> AsyncIterator[Studio]:
    app, url = served
    await as_new_worker(app)
    app.ctx.studio_kb_workspace = workspace
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield Studio(app, http)


def form_of(article: dict[str, Any]) -> dict[str, Any]:
    return {k: article[k] for k in editing.FORM_FIELDS}


# -- access ------------------------------------------------------------------------------------------


async def test_editors_change_supervisors_read_agents_and_strangers_are_refused(studio: Studio) -> None:
    listed = await studio.call("GET", ARTICLES, "supervisor")
    assert listed.status_code == 200 and listed.json()["current_version"] == "v1"
    assert len(listed.json()["articles"]) == 8
    assert (await studio.call("GET", ARTICLES, "agent")).status_code == 403
    assert (await studio.call("GET", ARTICLES, None)).status_code == 401
    path = f"{ARTICLES}/en/en-shipping-address"
    for role in ("supervisor", "agent"):
        assert (await studio.call("PUT", path, role, json=FORM)).status_code == 403
        assert (await studio.call("POST", "/api/studio/kb/publish", role)).status_code == 403
        assert (
            await studio.call("POST", "/api/studio/kb/rollback", role, json={"version": "v1"})
        ).status_code == 403
    assert (await studio.call("PUT", path, "admin", json=FORM)).status_code == 201
    for path in ("/api/studio/kb/versions", "/api/studio/kb/publish", "/api/studio/kb/misses"):
        assert (await studio.call("GET", path, "supervisor")).status_code == 200, path
        assert (await studio.call("GET", path, "agent")).status_code == 403, path


# -- editing -----------------------------------------------------------------------------------------


async def test_an_article_is_created_updated_and_deleted_by_version(studio: Studio, db_url: str) -> None:
    path = f"{ARTICLES}/en/en-shipping-address"
    created = await studio.call("PUT", path, json={"base_version": None, **FORM})
    assert created.status_code == 201 and created.json()["result"] == "created"
    article = created.json()["article"]
    assert article["status"] == "new" and article["questions"] == FORM["questions"]
    assert (await studio.article("en-shipping-address")) == article

    update = {"base_version": article["version"], **FORM, "urgency": "high"}
    updated = await studio.call("PUT", path, json=update)
    assert updated.status_code == 200 and updated.json()["result"] == "updated"
    again = await studio.call(
        "PUT", path, json={**update, "base_version": updated.json()["article"]["version"]}
    )
    assert again.status_code == 200 and again.json()["result"] == "unchanged"

    stale = await studio.call("PUT", path, json={**update, "title": "Someone else's edit"})
    assert stale.status_code == 409 and stale.json()["error"] == "version_conflict"
    current = stale.json()["current"]
    assert current["version"] == updated.json()["article"]["version"] and current["urgency"] == "high"

    deleted = await studio.call("DELETE", path, params={"base_version": article["version"]})
    assert deleted.status_code == 409 and deleted.json()["current"]["version"] == current["version"]
    deleted = await studio.call("DELETE", path, params={"base_version": current["version"]})
    assert deleted.status_code == 200
    assert (await studio.call("GET", path)).status_code == 404

    client = AsyncRedis.from_url(db_url, decode_responses=True)
    try:
        actions = [e["action"] for e in await audit.recent(client, 10, "kb.")]
    finally:
        await client.aclose()
    assert actions == ["kb.article.deleted", "kb.article.updated", "kb.article.created"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**FORM, "category": "return"}, "category"),
        ({**FORM, "title": ""}, "title"),
        ({**FORM, "questions": "where is it"}, "questions"),
        ({**FORM, "related": ["en-nowhere"]}, "related"),
        ({**FORM, "questions": ["How can I track my parcel?", "Which payment methods do you accept"]}, None),
        ({**FORM, "body": "   "}, "body"),
        ({**FORM, "colour": "red"}, "colour"),
        ({k: v for k, v in FORM.items() if k != "urgency"}, "urgency"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(
    studio: Studio, body: dict[str, Any], field: str | None, workspace: editing.KbWorkspace
) -> None:
    response = await studio.call("PUT", f"{ARTICLES}/en/en-shipping-address", json=body)
    if field is None:  # questions no other article lists
        assert response.status_code == 201, response.text
        return
    assert response.status_code == 400 and response.json()["field"] == field, response.text
    assert not (workspace.kb_dir / "en" / "en-shipping-address.md").exists()


async def test_bad_addresses_and_bodies_are_400s(studio: Studio) -> None:
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("GET", f"{ARTICLES}/fr/fr-x", {}, "language"),
        ("GET", f"{ARTICLES}/en/EN-X", {}, "slug"),
        ("PUT", f"{ARTICLES}/en/zh-mixed", {"json": FORM}, "slug"),
        ("PUT", f"{ARTICLES}/en/en-x", {"json": {**FORM, "base_version": 5}}, "base_version"),
        ("DELETE", f"{ARTICLES}/en/en-payment-methods", {}, "base_version"),
        ("GET", ARTICLES, {"params": {"language": "de"}}, "language"),
        ("GET", "/api/studio/kb/diff", {"params": {"from": "v1"}}, "to"),
        ("GET", "/api/studio/kb/diff", {"params": {"from": "latest", "to": "v1"}}, "from"),
        ("POST", "/api/studio/kb/rollback", {"json": {}}, "version"),
        (
            "POST",
            "/api/studio/kb/rollback",
            {"json": {"version": "v1", "discard_unpublished": "yes"}},
            "discard_unpublished",
        ),
        ("POST", "/api/studio/kb/preview", {"json": {"body": 3}}, "body"),
        ("GET", "/api/studio/kb/misses", {"params": {"limit": "0"}}, "limit"),
    ]
    for method, path, kwargs, field in cases:
        response = await studio.call(method, path, **kwargs)
        assert response.status_code == 400 and response.json().get("field") == field, (path, response.text)
    broken = await studio.call(
        "PUT", f"{ARTICLES}/en/en-x", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400


async def test_the_preview_lets_no_script_through(studio: Studio) -> None:
    body = (
        "**Bold** and a [safe link](https://example.com/help).\n\n"
        "<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n"
        "[bad](javascript:alert(3)) [worse](JaVaScRiPt:alert(4))\n\n"
        "[data](data:text/html;base64,PHNjcmlwdD4=)\n\n"
        "![pixel](javascript:alert(5)) [entity](&#106;avascript:alert(6))\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    response = await studio.call("POST", "/api/studio/kb/preview", json={"body": body})
    assert response.status_code == 200
    html = response.json()["html"]
    assert "<strong>Bold</strong>" in html and '<a href="https://example.com/help">safe link</a>' in html
    assert "<table>" in html and "&lt;script&gt;" in html and "&lt;img" in html
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html.lower()
    assert 'href="data' not in html
    assert (
        await studio.call("POST", "/api/studio/kb/preview", "supervisor", json={"body": "x"})
    ).status_code == 403


# -- publish, versions, diff, rollback -----------------------------------------------------------------


async def test_edit_publish_diff_and_roll_back(
    studio: Studio, workspace: editing.KbWorkspace, db_url: str
) -> None:
    original = (workspace.kb_dir / "en" / "en-shipping-fees.md").read_bytes()
    fees = await studio.article("en-shipping-fees")
    edited = {"base_version": fees["version"], **form_of(fees), "body": "Delivery is always free."}
    assert (await studio.call("PUT", f"{ARTICLES}/en/en-shipping-fees", json=edited)).status_code == 200
    listed = (await studio.call("GET", ARTICLES)).json()
    assert listed["unpublished"] == {"added": [], "changed": ["en-shipping-fees"], "removed": []}

    started = await studio.call("POST", "/api/studio/kb/publish")
    assert started.status_code == 202 and started.json()["state"] == "running"
    assert started.json()["unpublished"]["changed"] == ["en-shipping-fees"]
    second = await studio.call("POST", "/api/studio/kb/publish")
    assert second.status_code == 409 and second.json()["error"] == "publish_running"
    assert second.json()["current"]["job"] == started.json()["job"]
    busy = await studio.call("POST", "/api/studio/kb/rollback", json={"version": "v1"})
    assert busy.status_code == 409 and busy.json()["error"] == "publish_running"

    deadline = time.monotonic() + 120
    while (state := (await studio.call("GET", "/api/studio/kb/publish")).json())["state"] == "running":
        assert time.monotonic() < deadline, state
        await asyncio.sleep(PUBLISH_POLL_SECONDS)
    assert state["state"] == "succeeded", state
    assert (state["version"], state["current_version"]) == ("v2", "v2")
    assert state["changes"]["changed"] == ["en-shipping-fees"] and state["progress"]
    assert storage.read_current(workspace.index_dir) == "v2"
    assert (await studio.article("en-shipping-fees"))["status"] == "published"

    versions = (await studio.call("GET", "/api/studio/kb/versions", "supervisor")).json()
    assert versions["current_version"] == "v2"
    newest, oldest = versions["versions"]
    assert (newest["version"], newest["current"], newest["published_by"], newest["text_available"]) == (
        "v2",
        True,
        "editor-1",
        True,
    )
    assert oldest["version"] == "v1" and oldest["published_by"] is None

    diff = (await studio.call("GET", "/api/studio/kb/diff", params={"from": "v1", "to": "v2"})).json()
    assert diff["text_available"] and diff["summary"] == {"added": 0, "changed": 1, "removed": 0}
    (row,) = diff["articles"]
    assert row["id"] == "en-shipping-fees" and "\n+Delivery is always free." in row["diff"]

    rolled = await studio.call("POST", "/api/studio/kb/rollback", json={"version": "v1"})
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["previous"] == "v2" and rolled.json()["written"] == ["en-shipping-fees"]
    assert (workspace.kb_dir / "en" / "en-shipping-fees.md").read_bytes() == original
    assert storage.read_current(workspace.index_dir) == "v1"
    nothing = await studio.call("POST", "/api/studio/kb/publish")
    assert nothing.status_code == 409 and nothing.json()["error"] == "nothing_to_publish"

    client = AsyncRedis.from_url(db_url, decode_responses=True)
    try:
        actions = [e["action"] for e in await audit.recent(client, 10, "kb.")]
    finally:
        await client.aclose()
    assert actions == ["kb.rolled_back", "kb.published", "kb.publish.started", "kb.article.updated"]


async def test_rollback_keeps_unpublished_edits_unless_told_to_discard_them(
    studio: Studio, workspace: editing.KbWorkspace
) -> None:
    assert (await studio.call("PUT", f"{ARTICLES}/en/en-shipping-address", json=FORM)).status_code == 201
    refused = await studio.call("POST", "/api/studio/kb/rollback", json={"version": "v1"})
    assert refused.status_code == 409 and refused.json()["error"] == "unpublished_changes"
    assert refused.json()["current"]["unpublished"]["added"] == ["en-shipping-address"]
    assert (workspace.kb_dir / "en" / "en-shipping-address.md").exists()
    done = await studio.call(
        "POST", "/api/studio/kb/rollback", json={"version": "v1", "discard_unpublished": True}
    )
    assert done.status_code == 200 and done.json()["discarded"] == ["en-shipping-address"]
    assert not (workspace.kb_dir / "en" / "en-shipping-address.md").exists()
    unknown = await studio.call("POST", "/api/studio/kb/rollback", json={"version": "v9"})
    assert unknown.status_code == 404


async def test_a_failed_build_is_reported_with_its_errors(
    studio: Studio, workspace: editing.KbWorkspace
) -> None:
    broken_encoder = {"en": "hashing:x"}
    studio.app.ctx.studio_kb_workspace = editing.KbWorkspace(
        workspace.kb_dir, workspace.index_dir, broken_encoder
    )
    assert (await studio.call("PUT", f"{ARTICLES}/en/en-shipping-address", json=FORM)).status_code == 201
    state = await studio.publish_and_wait()
    assert state["state"] == "failed" and state["problems"] and state["current_version"] == "v1"
    assert "nothing was published" in state["message"]
    (workspace.kb_dir / "en" / "en-broken.md").write_text("---\nid: en-broken\n---\n", encoding="utf-8")
    invalid = await studio.call("POST", "/api/studio/kb/publish")
    assert invalid.status_code == 409 and invalid.json()["error"] == "articles_invalid"
    assert any("en-broken" in p["path"] for p in invalid.json()["current"]["problems"])


async def test_a_publish_whose_worker_died_reads_as_interrupted(studio: Studio, db_url: str) -> None:
    idle = (await studio.call("GET", "/api/studio/kb/publish")).json()
    assert (idle["state"], idle["current_version"]) == ("idle", "v1")
    client = redis.Redis.from_url(db_url, decode_responses=True)
    try:
        client.set(
            studio_kb.publish_state_key(), json.dumps({"state": "running", "job": "gone", "progress": []})
        )
        assert (await studio.call("GET", "/api/studio/kb/publish")).json()["state"] == "interrupted"
        client.set(studio_kb.publish_lease_key(), "other-job", px=10_000)
        busy = await studio.call("POST", "/api/studio/kb/publish")
        assert busy.status_code == 409 and busy.json()["error"] == "publish_running"
    finally:
        client.close()


@pytest.mark.model
async def test_a_publish_with_the_real_encoders_is_served_at_once(studio: Studio, tmp_path: Path) -> None:
    """The default encoders (MiniLM under ONNX, USE for Chinese) in the build's child process; a few
    seconds on the sample articles when the exported model is at hand, which var/kb_index/models reuses."""
    from kb_index.service import KnowledgeBase
    from kb_index.settings import DEFAULT_INDEX_DIR

    index_dir = tmp_path / "real-index"
    exported = DEFAULT_INDEX_DIR / storage.MODELS
    if exported.is_dir():
        shutil.copytree(exported, index_dir / storage.MODELS)
    studio.app.ctx.studio_kb_workspace = editing.KbWorkspace(sample_kb(tmp_path / "real-kb"), index_dir)
    refunds = await studio.article("en-refunds-timeline")
    question = "can the money go back to my gift card instead of my bank"
    edited = {"base_version": refunds["version"], **form_of(refunds), "questions": [question]}
    assert (await studio.call("PUT", f"{ARTICLES}/en/en-refunds-timeline", json=edited)).status_code == 200
    state = await studio.publish_and_wait(timeout=600)
    assert (state["state"], state["version"]) == ("succeeded", "v1"), state
    result = await KnowledgeBase(index_dir).search(question, "en")
    assert result.version == "v1" and result.hits[0].article_id == "en-refunds-timeline"
    manifest = read_manifest(storage.version_dir(index_dir, "v1"))
    assert manifest.languages["en"].encoder.spec.startswith("onnx-int8:")


# -- the miss inbox ----------------------------------------------------------------------------------


def packet(conversation_id: str, question: str, language: str = "en", **extra: Any) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "reason": "kb_miss",
        "language": language,
        "transcript": [
            {"author": "customer", "text": "hello", "ts": 1.0},
            {"author": "bot", "text": "Hi! How can I help?", "ts": 1.5},
            {"author": "customer", "text": question, "ts": 2.0},
        ],
        "kb_hits": [
            {"article_id": "en-refunds-timeline", "title": "How long does a refund take?", "score": 0.41}
        ],
        **extra,
    }


async def test_missed_questions_become_article_questions_or_are_dismissed(
    studio: Studio, db_url: str, workspace: editing.KbWorkspace
) -> None:
    client = AsyncRedis.from_url(db_url, decode_responses=True)
    try:
        now = time.time()
        email = "my refund to jane.doe@mail.example never came, when do I get my money back"
        first = await studio_kb.record_kb_miss_from_packet(client, packet("rest-a", email), now - 30)
        second = await studio_kb.record_kb_miss_from_packet(
            client, packet("rest-b", "do you ship to mars"), now - 20
        )
        chinese = await studio_kb.record_kb_miss_from_packet(
            client, packet("rest-c", "发票抬头能改吗", "zh"), now - 10
        )
        assert (
            await studio_kb.record_kb_miss_from_packet(
                client, {**packet("rest-d", "x"), "reason": "complaint"}
            )
            is None
        )
        old = await studio_kb.record_kb_miss(client, "rest-e", "en", "an old one", now - 100 * 86400)
    finally:
        await client.aclose()
    assert first and second and chinese and old

    listed = (await studio.call("GET", "/api/studio/kb/misses", "supervisor")).json()
    assert [m["id"] for m in listed["misses"]] == [chinese, second, first] and listed["total"] == 3
    shown = listed["misses"][2]
    assert "jane.doe" not in shown["question"] and shown["masked"] == ["email"] and listed["masking"]
    assert "conversation_id" not in shown and shown["hits"][0]["article_id"] == "en-refunds-timeline"
    english = (
        await studio.call("GET", "/api/studio/kb/misses", params={"language": "en", "limit": 1, "offset": 1})
    ).json()
    assert [m["id"] for m in english["misses"]] == [first] and english["total"] == 2

    wrong = await studio.call(
        "POST",
        f"/api/studio/kb/misses/{first}/to-article",
        json={"language": "zh", "slug": "zh-refunds-timeline"},
    )
    assert wrong.status_code == 400 and wrong.json()["field"] == "language"
    moved = await studio.call(
        "POST",
        f"/api/studio/kb/misses/{first}/to-article",
        json={"language": "en", "slug": "en-refunds-timeline"},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["added"] and moved.json()["article"]["questions"] == [shown["question"]]
    assert "jane.doe" not in (workspace.kb_dir / "en" / "en-refunds-timeline.md").read_text("utf-8")

    taken = await studio.call(
        "POST",
        f"/api/studio/kb/misses/{second}/to-article",
        json={"language": "en", "slug": "en-refunds-timeline", "question": shown["question"]},
    )
    assert taken.status_code == 200 and taken.json()["added"] is False  # already there: nothing to add
    elsewhere = await studio.call(
        "POST",
        f"/api/studio/kb/misses/{chinese}/to-article",
        json={"language": "zh", "slug": "zh-invoices-electronic", "question": "?"},
    )
    assert elsewhere.status_code == 400 and elsewhere.json()["field"] == "question"

    assert (
        await studio.call("POST", f"/api/studio/kb/misses/{chinese}/dismiss", "supervisor")
    ).status_code == 403
    assert (await studio.call("POST", f"/api/studio/kb/misses/{chinese}/dismiss")).status_code == 200
    assert (await studio.call("POST", f"/api/studio/kb/misses/{chinese}/dismiss")).status_code == 404
    assert (await studio.call("POST", "/api/studio/kb/misses/not-an-id/dismiss")).status_code == 404
    assert (await studio.call("GET", "/api/studio/kb/misses")).json() == {
        "misses": [],
        "total": 0,
        "masking": True,
    }


async def test_the_miss_store_keeps_the_newest_and_never_fails_a_handoff(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = AsyncRedis.from_url(db_url, decode_responses=True)
    try:
        await client.flushdb()
        monkeypatch.setattr(studio_kb, "MISSES_KEPT", 2)
        now = time.time()
        recorded = [
            await studio_kb.record_kb_miss(client, f"rest-{n}", "en", f"question {n}", now + n)
            for n in range(3)
        ]
        ids = [i for i in recorded if i is not None]
        assert ids == recorded
        assert await client.zrange(studio_kb.misses_key("en"), 0, -1) == ids[1:]
        assert sorted(await client.hkeys(studio_kb.miss_items_key())) == sorted(ids[1:])
        again = await studio_kb.record_kb_miss(client, "rest-2", "en", "Question   2", now + 5)
        assert again == ids[2] and await client.zscore(studio_kb.misses_key("en"), ids[2]) == now + 5
        assert await studio_kb.record_kb_miss(client, "rest-9", "fr", "question", now) is None
        assert await studio_kb.record_kb_miss(client, "rest-9", "en", "   ", now) is None
    finally:
        await client.aclose()

    class Down:
        async def eval(self, *args: Any) -> None:
            raise ConnectionError("redis is down")

    assert await studio_kb.record_kb_miss_from_packet(Down(), packet("rest-x", "where is it")) is None  # type: ignore[arg-type]

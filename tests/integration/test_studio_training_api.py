"""The studio's training and model API over real HTTP against a real redis-server, with the fake trainer of
tests/unit/test_studio_training.py: roles, starting (one run at a time, also across workers), the event
stream, cancelling through another worker, a run whose worker died, the models with their reports,
activation behind the gates, rollback, the audit log and the API reference.

Two workers are served for the module; each test gets an emptied Redis database, its own project and a new
training runner on each worker."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis
from redis.asyncio import Redis as AsyncRedis
from sanic import Sanic

from handoff.app import create_app
from handoff.blueprints import studio_training
from handoff.settings import Settings
from handoff.studio import audit
from handoff.studio.training import TrainingSettings, lease_key, run_key
from tests.integration.api_helpers import database_url, issue_token
from tests.integration.conftest import ADMIN, hub_secrets, rasa_stand_in
from tests.integration.live_app import serving
from tests.integration.studio_fixtures import as_new_worker, use_training
from tests.unit.test_studio_training import make_project, set_control

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

REDIS_DB = 6  # the studio's keys are global: this module empties its own database before each test
WORKERS = 2
TRAINING = "/api/studio/training"
MODELS = "/api/studio/models"


@pytest.fixture(scope="module")
def db_url(redis_url: str) -> str:
    return database_url(redis_url, REDIS_DB)


@pytest.fixture
def project(tmp_path: Path) -> TrainingSettings:
    return make_project(tmp_path / "project", pause=0.05)


def build_app(db_url: str) -> Sanic:  # type: ignore[type-arg]
    Sanic.test_mode = True
    env = {**hub_secrets(), "REDIS_URL": db_url, "HUB_SWEEP_INTERVAL": "60"}
    app = create_app(Settings.from_env(env), http_transport=rasa_stand_in([]))
    if studio_training.bp.name not in app.blueprints:
        app.blueprint(studio_training.bp)
    return app


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(db_url: str) -> AsyncIterator[list[tuple[Sanic, str]]]:  # type: ignore[type-arg]
    """Two running apps on the same Redis (hub workers). The first is started last: sanic-ext serves the
    API reference from the app started last in a process."""
    async with AsyncExitStack() as stack:
        started = []
        for _ in range(WORKERS):
            app = build_app(db_url)
            started.append((app, await stack.enter_async_context(serving(app))))
        yield started[::-1]


@pytest_asyncio.fixture(loop_scope="module")
async def workers(
    served: list[tuple[Sanic, str]],  # type: ignore[type-arg]
    project: TrainingSettings,
) -> AsyncIterator[Callable[[int], Any]]:
    """`await workers(n)`: n of the module's workers, as httpx clients, newly started on an empty database
    and training the test's project."""
    await as_new_worker(served[0][0])
    for app, _ in served:
        await use_training(app, project)
    async with AsyncExitStack() as stack:

        async def start(count: int) -> list[httpx.AsyncClient]:
            assert count <= len(served), "raise WORKERS"
            return [
                await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=30))
                for _, base in served[:count]
            ]

        yield start


async def token(http: httpx.AsyncClient, role: str, user_id: str) -> dict[str, str]:
    return await issue_token(http, ADMIN, role, user_id)


async def until_finished(
    http: httpx.AsyncClient, auth: dict[str, str], timeout: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict[str, Any] = (await http.get(TRAINING, headers=auth)).json()["run"]
        if run["state"] != "running":
            return run
        await asyncio.sleep(0.1)
    raise AssertionError("the run did not finish")


async def audit_entries(db_url: str, prefix: str) -> list[dict[str, Any]]:
    client = AsyncRedis.from_url(db_url, decode_responses=True)
    try:
        return await audit.recent(client, limit=50, action_prefix=prefix)
    finally:
        await client.aclose()


async def test_roles_agents_are_refused_supervisors_read_editors_change(
    workers: Callable[[int], Any], project: TrainingSettings
) -> None:
    [http] = await workers(1)
    agent = await token(http, "agent", "ana")
    supervisor = await token(http, "supervisor", "sam")
    editor = await token(http, "editor", "eve")
    assert (await http.get(TRAINING)).status_code == 401
    for method, path in (
        ("GET", TRAINING),
        ("GET", MODELS),
        ("POST", TRAINING),
        ("POST", f"{MODELS}/rollback"),
    ):
        assert (await http.request(method, path, headers=agent)).status_code == 403, (method, path)
    assert (await http.get(TRAINING, headers=supervisor)).json() == {"run": None, "recent": []}
    assert (await http.get(MODELS, headers=supervisor)).status_code == 200
    for method, path in (("POST", TRAINING), ("DELETE", TRAINING), ("POST", f"{MODELS}/rollback")):
        refused = await http.request(method, path, headers=supervisor)
        assert refused.status_code == 403 and "editor" in refused.json()["message"], (method, path)
    started = await http.post(TRAINING, headers=editor)
    assert started.status_code == 202
    await until_finished(http, editor)


async def test_a_run_starts_reports_its_stages_and_refuses_a_second_start(
    workers: Callable[[int], Any], project: TrainingSettings, db_url: str
) -> None:
    set_control(project, pause=0.3)
    first, second = await workers(2)
    editor = await token(first, "editor", "eve")
    other = await token(first, "editor", "kim")
    started = await first.post(TRAINING, json={"mode": "auto"}, headers=editor)
    assert started.status_code == 202, started.text
    run = started.json()["run"]
    assert run["state"] == "running" and run["who"] == "eve" and run["base_model"] == "live.tar.gz"

    refused = await second.post(TRAINING, json={"mode": "full"}, headers=other)  # another worker
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "training_running" and run["id"] in body["message"] and "eve" in body["message"]
    assert body["current"]["id"] == run["id"] and body["current"]["state"] == "running"

    seen = (await second.get(TRAINING, headers=other)).json()["run"]  # any worker sees it
    assert seen["id"] == run["id"] and seen["elapsed"] >= 0
    done = await until_finished(second, other)
    assert done["state"] == "succeeded" and done["candidate"] == f"{run['id']}.tar.gz"
    assert [s["stage"] for s in done["stages"]][:2] == ["snapshot", "train"]
    assert done["result"]["passed"] is True and done["result"]["gates"]["passed"] is True
    assert "a log line" in done["log_tail"]
    recent = (await first.get(TRAINING, headers=editor)).json()["recent"]
    assert [r["id"] for r in recent] == [run["id"]] and "log_tail" not in recent[0]
    actions = [e["action"] for e in await audit_entries(db_url, "training.")]
    assert actions == ["training.finished", "training.started"]


async def test_bad_requests_name_the_field(workers: Callable[[int], Any]) -> None:
    [http] = await workers(1)
    editor = await token(http, "editor", "eve")
    wrong = await http.post(TRAINING, json={"mode": "quick"}, headers=editor)
    assert wrong.status_code == 400 and wrong.json()["field"] == "mode"
    broken = await http.post(TRAINING, content=b"{not json", headers=editor)
    assert broken.status_code == 400
    listed = await http.post(TRAINING, json=["auto"], headers=editor)
    assert listed.status_code == 400
    nothing = await http.delete(TRAINING, headers=editor)
    assert nothing.status_code == 409 and nothing.json()["error"] == "not_running"
    for name in ("..%2Flive.tar.gz", ".hidden", "x" * 200):
        bad = await http.post(f"{MODELS}/{name}/activate", headers=editor)
        assert bad.status_code in (400, 404), name
        assert bad.status_code != 500
    bad_name = await http.post(f"{MODELS}/.hidden/activate", headers=editor)
    assert bad_name.status_code == 400 and bad_name.json()["field"] == "name"
    expected = await http.post(f"{MODELS}/rollback", json={"expected_active": 3}, headers=editor)
    assert expected.status_code == 400 and expected.json()["field"] == "expected_active"
    stream = await http.get(f"{TRAINING}/events", headers={**editor, "Last-Event-ID": "yesterday"})
    assert stream.status_code == 400 and stream.json()["field"] == "Last-Event-ID"


async def read_events(
    http: httpx.AsyncClient,
    auth: dict[str, str],
    until: Callable[[str, dict[str, Any]], bool],
    **headers: str,
) -> list[tuple[str, str, Any]]:
    """(id, event, data) of the stream until `until(event, data)` holds."""
    events: list[tuple[str, str, Any]] = []
    async with http.stream("GET", f"{TRAINING}/events", headers={**auth, **headers}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        event_id, kind = "", ""
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                events.append((event_id, kind, data))
                if until(kind, data):
                    break
                event_id, kind = "", ""
    return events


async def test_the_event_stream_shows_the_run_live_on_any_worker(workers: Callable[[int], Any]) -> None:
    owner, watcher = await workers(2)
    editor = await token(owner, "editor", "eve")

    def over(kind: str, data: dict[str, Any]) -> bool:
        return kind == "state" and data is not None and data["state"] != "running"

    reading = asyncio.create_task(asyncio.wait_for(read_events(watcher, editor, over), 30))
    await asyncio.sleep(0.3)
    run = (await owner.post(TRAINING, headers=editor)).json()["run"]
    events = await reading
    assert events[0][1] == "state" and events[0][2] is None  # the snapshot on connecting: no run yet
    kinds = [kind for _, kind, _ in events]
    assert "stage" in kinds and kinds[-1] == "state"
    stages = [d for _, k, d in events if k == "stage"]
    assert all(d["id"] == run["id"] and d["elapsed"] >= 0 for d in stages)
    assert [d["epoch"] for d in stages if d.get("step") == "epochs"] == [1, 2, 3]
    assert events[-1][2]["state"] == "succeeded" and events[-1][2]["result"]["passed"]

    # A page reloaded mid-run continues from the last event it saw, with nothing repeated.
    first_stage = next(i for i, (_, k, _) in enumerate(events) if k == "stage")
    resumed = await asyncio.wait_for(
        read_events(watcher, editor, over, **{"Last-Event-ID": events[first_stage][0]}), 10
    )
    assert [e[0] for e in resumed] == [e[0] for e in events[first_stage + 1 :] if e[0]]


async def test_a_cancel_reaching_another_worker_stops_the_run(
    workers: Callable[[int], Any], project: TrainingSettings, db_url: str
) -> None:
    set_control(project, hang=True)
    owner, other = await workers(2)
    editor = await token(owner, "editor", "eve")
    kim = await token(owner, "editor", "kim")
    run = (await owner.post(TRAINING, headers=editor)).json()["run"]
    for _ in range(200):
        if (await other.get(TRAINING, headers=kim)).json()["run"]["progress"] is not None:
            break
        await asyncio.sleep(0.05)
    pid = json.loads((project.root / "trainer_seen.json").read_text())["pid"]
    cancelled = await other.delete(TRAINING, headers=kim)
    assert cancelled.status_code == 200, cancelled.text
    state = cancelled.json()["run"]
    assert (
        state["id"] == run["id"] and state["state"] == "cancelled" and state["cancel_requested_by"] == "kim"
    )
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    again = await owner.post(TRAINING, headers=editor)  # the lease is free again
    assert again.status_code == 202
    set_control(project)
    await until_finished(owner, editor)
    cancel_entries = await audit_entries(db_url, "training.cancelled")
    assert [(e["actor"], e["detail"]["run"]) for e in cancel_entries] == [("kim", run["id"])]


async def test_a_run_whose_worker_died_shows_as_interrupted(
    workers: Callable[[int], Any], db_url: str
) -> None:
    [http] = await workers(1)
    editor = await token(http, "editor", "eve")
    client = redis.Redis.from_url(db_url, decode_responses=True)
    run_id = "20261206-120000-abcdef"
    state: dict[str, Any] = {
        "id": run_id,
        "state": "running",
        "mode": "auto",
        "stage": "train",
        "stages": [],
        "who": "eve",
    }
    state |= {"started": time.time() - 30, "finished": None, "result": None, "error": None}
    client.set(run_key(run_id), json.dumps(state))
    client.set("hub:studio:training:current", run_id)
    client.lpush("hub:studio:training:runs", run_id)
    client.set(lease_key(), run_id, px=200)  # its worker stopped renewing it
    client.close()
    await asyncio.sleep(0.4)
    seen = (await http.get(TRAINING, headers=editor)).json()["run"]
    assert seen["state"] == "interrupted" and seen["error"] and seen["finished"] is not None
    assert (await http.delete(TRAINING, headers=editor)).status_code == 409
    assert (await http.post(TRAINING, headers=editor)).status_code == 202
    await until_finished(http, editor)


async def test_models_activation_behind_the_gates_and_rollback(
    workers: Callable[[int], Any], project: TrainingSettings, db_url: str
) -> None:
    first, second = await workers(2)
    editor = await token(first, "editor", "eve")
    supervisor = await token(first, "supervisor", "sam")
    run = (await first.post(TRAINING, headers=editor)).json()["run"]
    await until_finished(first, editor)
    candidate = f"{run['id']}.tar.gz"

    listing = (await second.get(MODELS, headers=supervisor)).json()
    assert listing["active"]["name"] == "live.tar.gz" and listing["previous"] is None
    [entry] = listing["candidates"]
    assert entry["name"] == candidate and entry["activatable"] and entry["reason"] is None
    assert entry["compared_with"] == "live.tar.gz" and entry["gates"]["passed"]
    assert entry["report"]["comparison"]["en"]["intents"]["a"]["change_points"]["accuracy"] == 10.0
    assert listing["gate_settings"]["max_overall_drop_points"] == 0.0
    assert listing["rasa_processes"] == [{"process": 1, "state": "up", "model": None}]

    stale = await second.post(
        f"{MODELS}/{candidate}/activate", json={"expected_active": "other.tar.gz"}, headers=editor
    )
    assert stale.status_code == 409 and stale.json()["error"] == "active_changed"
    activated = await second.post(
        f"{MODELS}/{run['id']}/activate", json={"expected_active": "live.tar.gz"}, headers=editor
    )
    assert activated.status_code == 200, activated.text
    assert activated.json()["active"] == candidate and activated.json()["previous"] == "live.tar.gz"
    models = project.models.models_dir
    newest = max(models.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    assert newest.name == candidate  # what the watcher loads into every Rasa process
    again = await first.post(f"{MODELS}/{candidate}/activate", headers=editor)
    assert again.status_code == 409 and again.json()["error"] == "already_active"

    back = await first.post(f"{MODELS}/rollback", json={"expected_active": candidate}, headers=editor)
    assert back.status_code == 200 and back.json() == {"active": "live.tar.gz", "previous": candidate}
    assert max(models.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime).name == "live.tar.gz"
    listed = (await first.get(MODELS, headers=editor)).json()
    assert listed["active"]["name"] == "live.tar.gz" and listed["previous"]["name"] == candidate
    entries = await audit_entries(db_url, "model.")
    assert [(e["action"], e["actor"], e["detail"]["model"], e["detail"]["previous"]) for e in entries] == [
        ("model.rolled_back", "eve", "live.tar.gz", candidate),
        ("model.activated", "eve", candidate, "live.tar.gz"),
    ]
    missing = await first.post(f"{MODELS}/nothing.tar.gz/activate", headers=editor)
    assert missing.status_code == 404 and missing.json()["error"] == "unknown_model"


async def test_a_candidate_failing_a_gate_is_refused_with_the_gates(
    workers: Callable[[int], Any], project: TrainingSettings
) -> None:
    set_control(project, candidate={"a": [10, 0], "b": [5, 5]}, live={"a": [9, 1], "b": [9, 1]})
    [http] = await workers(1)
    editor = await token(http, "editor", "eve")
    run = (await http.post(TRAINING, headers=editor)).json()["run"]
    done = await until_finished(http, editor)
    assert done["state"] == "succeeded" and done["result"]["passed"] is False
    [entry] = (await http.get(MODELS, headers=editor)).json()["candidates"]
    assert entry["activatable"] is False and entry["reason"] == "gates_failed"
    refused = await http.post(f"{MODELS}/{run['id']}.tar.gz/activate", headers=editor)
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "gates_failed" and "b -40.00" in body["message"]
    failing = [c for c in body["current"]["gates"]["checks"] if not c["passed"]]
    assert {(c["gate"], c["language"]) for c in failing} == {
        ("overall_accuracy", "en"),
        ("intent_accuracy", "en"),
    }
    assert [f["intent"] for f in failing[1]["failing"]] == ["b"]
    nothing = await http.post(f"{MODELS}/rollback", headers=editor)
    assert nothing.status_code == 409 and nothing.json()["error"] == "no_previous_model"


async def test_the_api_reference_files_every_operation_under_studio(workers: Callable[[int], Any]) -> None:
    [http] = await workers(1)
    spec = (await http.get("/docs/openapi.json")).json()
    operations = [
        ("get", TRAINING),
        ("post", TRAINING),
        ("delete", TRAINING),
        ("get", f"{TRAINING}/events"),
        ("get", MODELS),
        ("post", f"{MODELS}/{{name}}/activate"),
        ("post", f"{MODELS}/rollback"),
    ]
    for method, path in operations:
        operation = spec["paths"][path][method]
        assert operation["tags"] == ["studio"], (method, path)
        assert {"401", "403"} <= set(operation["responses"]), (method, path)
        assert operation.get("security"), (method, path)

"""What-if before saving a weight change: the last days' recorded handoffs (a real analytics store) replayed
by the routing simulator with the team as the routing engine knows it, under the current and the proposed
weights; nothing is saved. Real Redis, the real app served on a port."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from handoff.analytics.store import AnalyticsStore
from tests.integration.api_helpers import flushed_database
from tests.integration.test_analytics_api import Team, analytics_app, ingest, served_in_thread

pytestmark = pytest.mark.integration

REDIS_DB = 8
HANDOFFS = 160


def recorded_handoffs(now: float, expert: str = "zed", novice: str = "ann") -> list[dict[str, Any]]:
    """Two days of answered handoffs in the general queue, alternately handled by the expert, who resolves
    them, and the novice, whose customers come back about the same order half of the time, as a store
    would have recorded them."""
    events: list[dict[str, Any]] = []
    start = now - 2 * 86400
    for n in range(HANDOFFS):
        cid = f"wp-{n}"
        ts = start + n * (2 * 86400 - 7200) / HANDOFFS
        agent = expert if n % 2 else novice
        base = {"conversation_id": cid}
        events += [
            {**base, "type": "customer_message", "ts": ts, "channel": "widget", "language": "en"},
            {**base, "type": "handoff", "ts": ts + 1, "reason": "customer_request", "queue": "general",
             "language": "en", "order_id": f"A{n}", "experiments": {}},
            {**base, "type": "accepted", "ts": ts + 11, "agent_id": agent, "wait": 10.0},
            {**base, "type": "resolved", "ts": ts + 311, "agent_id": agent},
        ]  # fmt: skip
        if agent == novice and n % 4 == 0:  # back an hour later about the same order
            events += [
                {**base, "type": "customer_message", "ts": ts + 3600, "channel": "widget", "language": "en",
                 "order_id": f"A{n}"},
                {**base, "type": "closed", "ts": ts + 3700, "actor": "customer"},
            ]  # fmt: skip
    return events


@pytest.fixture(scope="module")
def team(
    redis_url: str, no_overflow_routing: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Team]:
    url = flushed_database(redis_url, REDIS_DB)
    app = analytics_app(url, no_overflow_routing)
    store = AnalyticsStore(tmp_path_factory.mktemp("preview") / "a.sqlite")
    ingest(store, recorded_handoffs(time.time()))
    with served_in_thread(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        team = Team(app, http, url)
        team.build()
        admin = team.auth["admin"]
        for agent_id, proficiency in (("zed", 0.95), ("ann", 0.2)):
            body = {"id": agent_id, "name": agent_id.title(), "languages": ["en"],
                    "skills": {"general": proficiency}, "capacity": 2}  # fmt: skip
            assert http.post("/api/agents", json=body, headers=admin).status_code == 201
        app.ctx.analytics = store
        yield team
        app.ctx.analytics = None
    store.close()


def test_the_preview_replays_the_recorded_handoffs_under_both_weights(team: Team) -> None:
    before = team.get("/api/routing/weights").json()["weights"]
    r = team.post("/api/routing/weights/preview", {"skill": 0.0, "load": 1.0, "rating": 0.0, "days": 7})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["records"] == HANDOFFS and body["agents"] == 3  # agent-1 of the team fixture, zed, ann
    comparison = body["comparison"]
    assert comparison["current_weights"] == before
    assert comparison["proposed_weights"] == {"skill": 0.0, "load": 1.0, "rating": 0.0}
    for side in ("current", "proposed"):
        assert comparison[side]["arrivals"] == HANDOFFS * 3  # three seeds, the same customers
    assert set(comparison["delta"]) >= {"wait_mean", "service_level", "fcr"}
    assert comparison["recorded"]  # what the store recorded, beside the predictions
    # nothing was saved
    assert team.get("/api/routing/weights").json()["weights"] == before


def test_skill_first_weights_predict_more_first_contact_resolution_than_load_only(team: Team) -> None:
    """The expert resolves more: weights that send chats to the expert predict a higher resolution rate
    (load alone breaks ties by id, which favours the novice, ann)."""
    skill_first = team.post("/api/routing/weights/preview", {"skill": 1.0, "load": 0.0, "rating": 0.0})
    load_only = team.post("/api/routing/weights/preview", {"skill": 0.0, "load": 1.0, "rating": 0.0})
    assert skill_first.status_code == load_only.status_code == 200
    fcr_skill = skill_first.json()["comparison"]["proposed"]["fcr"]
    fcr_load = load_only.json()["comparison"]["proposed"]["fcr"]
    assert fcr_skill > fcr_load


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"skill": 0, "load": 0, "rating": 0}, "weights"),
        ({"skill": -1}, "weights"),
        ({"skill": 0.5, "days": 0}, "days"),
        ({"skill": 0.5, "days": "7"}, "days"),
        ({"skill": 0.5, "days": 400}, "days"),
    ],
)
def test_bad_proposals_are_400s_naming_the_field(team: Team, body: dict[str, Any], field: str) -> None:
    r = team.post("/api/routing/weights/preview", body)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field


def test_only_supervisors_and_admins_may_preview(team: Team) -> None:
    weights = {"skill": 0.5, "load": 0.3, "rating": 0.2}
    assert team.post("/api/routing/weights/preview", weights, who="agent").status_code == 403
    assert team.post("/api/routing/weights/preview", weights, who="anonymous").status_code == 401
    assert team.post("/api/routing/weights/preview", weights, who="admin").status_code == 200


def test_without_an_analytics_store_the_preview_is_unavailable(team: Team) -> None:
    store, team.app.ctx.analytics = team.app.ctx.analytics, None
    try:
        r = team.post("/api/routing/weights/preview", {"skill": 0.5, "load": 0.3, "rating": 0.2})
        assert r.status_code == 503 and "analytics" in r.text
    finally:
        team.app.ctx.analytics = store


def test_no_recorded_handoffs_is_said_not_guessed(team: Team, tmp_path: Path) -> None:
    store, empty = team.app.ctx.analytics, AnalyticsStore(tmp_path / "empty.sqlite")
    team.app.ctx.analytics = empty
    try:
        r = team.post("/api/routing/weights/preview", {"skill": 0.5, "load": 0.3, "rating": 0.2})
        assert r.status_code == 200 and r.json()["records"] == 0 and r.json()["comparison"] is None
    finally:
        team.app.ctx.analytics = store
        empty.close()

"""The experiment store against a real redis-server: one running experiment per kind, stop, audit and the
running set every worker sees within a second."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from handoff.analytics.experiments import (
    ExperimentError,
    ExperimentStore,
    assign,
    audit_key,
    running_key,
)
from handoff.errors import Conflict, NotFoundError

pytestmark = pytest.mark.integration

REDIS_DB = 4  # only the keys under hub:experiments:, deleted before each test


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}", decode_responses=True)
    stale = [key async for key in client.scan_iter(match="hub:experiments:*")]
    if stale:
        await client.delete(*stale)
    yield client
    await client.aclose()


@pytest.fixture
def wall() -> Clock:
    return Clock(1_800_000_000.0)


@pytest.fixture
def ticks() -> Clock:
    return Clock(100.0)


@pytest.fixture
def store(redis: Redis, wall: Clock, ticks: Clock) -> ExperimentStore:
    return ExperimentStore(redis, clock=wall, monotonic=ticks)


def definition(kind: str = "kb_threshold", name: str = "Stricter answers") -> dict[str, Any]:
    params: dict[str, list[dict[str, Any]]] = {
        "kb_threshold": [{"threshold": 0.55}, {"threshold": 0.7}],
        "reply_variant": [{"variant": "default"}, {"variant": "short"}],
        "routing_weights": [
            {"skill": 0.4, "load": 0.3, "rating": 0.3},
            {"skill": 0.6, "load": 0.2, "rating": 0.2},
        ],
    }
    return {
        "name": name,
        "kind": kind,
        "variants": [
            {"name": "control", "share": 0.5, "params": params[kind][0]},
            {"name": "treatment", "share": 0.5, "params": params[kind][1]},
        ],
        "primary_metric": "automation_rate",
    }


async def test_create_get_and_audit(store: ExperimentStore, wall: Clock) -> None:
    created = await store.create(definition(), "sup-1")
    assert created.id.startswith("exp-") and created.created_by == "sup-1"
    assert created.created_at == wall.now and created.running
    assert await store.get(created.id) == created
    [entry] = await store.audit()
    assert entry["action"] == "experiment.created" and entry["actor"] == "sup-1" and entry["ts"] == wall.now
    assert entry["detail"]["id"] == created.id and entry["detail"]["kind"] == "kb_threshold"


async def test_an_invalid_definition_writes_nothing(store: ExperimentStore, redis: Redis) -> None:
    with pytest.raises(ExperimentError) as caught:
        await store.create({**definition(), "kind": "pricing"}, "sup-1")
    assert caught.value.field == "kind"
    assert [key async for key in redis.scan_iter(match="hub:experiments:*")] == []


async def test_unknown_and_malformed_ids_are_not_found(store: ExperimentStore) -> None:
    for experiment_id in ("exp-0000000000", "../../etc", "", "exp-*"):
        with pytest.raises(NotFoundError) as caught:
            await store.get(experiment_id)
        assert caught.value.code == "experiment_not_found"
    with pytest.raises(NotFoundError):
        await store.stop("exp-0000000000", "sup-1")


async def test_one_running_experiment_per_kind(store: ExperimentStore) -> None:
    first = await store.create(definition(), "sup-1")
    with pytest.raises(Conflict) as caught:
        await store.create(definition(name="Another threshold"), "sup-2")
    assert caught.value.code == "experiment_running" and caught.value.current["id"] == first.id
    other = await store.create(definition("reply_variant"), "sup-2")  # another kind may run beside it
    assert {e.id for e in await store.running()} == {first.id, other.id}
    await store.stop(first.id, "sup-1")
    again = await store.create(definition(name="Second try"), "sup-1")  # the kind is free again
    assert again.running


async def test_concurrent_creates_of_one_kind_start_only_one(redis: Redis, wall: Clock) -> None:
    workers = [ExperimentStore(redis, clock=wall) for _ in range(4)]
    outcomes = await asyncio.gather(
        *(w.create(definition(name=f"try {i}"), f"sup-{i}") for i, w in enumerate(workers)),
        return_exceptions=True,
    )
    started = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(started) == 1 and len(refused) == 3
    assert await redis.hgetall(running_key()) == {"kb_threshold": started[0].id}
    assert await redis.llen(audit_key()) == 1


async def test_stop_is_recorded_and_not_repeated(store: ExperimentStore, wall: Clock) -> None:
    created = await store.create(definition(), "sup-1")
    wall.now += 3600
    stopped = await store.stop(created.id, "sup-2")
    assert stopped.stopped_at == wall.now and stopped.stopped_by == "sup-2" and not stopped.running
    assert await store.get(created.id) == stopped
    assert stopped.as_dict()["status"] == "stopped"
    with pytest.raises(Conflict) as caught:
        await store.stop(created.id, "sup-3")
    assert caught.value.code == "experiment_stopped" and caught.value.current["stopped_by"] == "sup-2"
    actions = [(e["action"], e["actor"]) for e in await store.audit()]
    assert actions == [("experiment.stopped", "sup-2"), ("experiment.created", "sup-1")]


async def test_list_puts_running_first_then_newest(store: ExperimentStore, wall: Clock) -> None:
    old = await store.create(definition("kb_threshold", "old"), "sup")
    wall.now += 10
    middle = await store.create(definition("reply_variant", "middle"), "sup")
    wall.now += 10
    new = await store.create(definition("routing_weights", "new"), "sup")
    await store.stop(new.id, "sup")
    assert [e.name for e in await store.list()] == ["middle", "old", "new"]
    assert [e.name for e in await store.list(limit=1)] == ["middle"]
    for i in range(3):  # newer stopped experiments do not push a running one out of a short list
        wall.now += 10
        await store.stop((await store.create(definition("routing_weights", f"later {i}"), "sup")).id, "sup")
    assert [e.name for e in await store.list(limit=3)] == ["middle", "old", "later 2"]
    assert new.id not in {e.id for e in await store.list(limit=3)}
    assert {old.id, middle.id} == {e.id for e in await store.running()}


async def test_other_workers_see_a_change_within_the_refresh(redis: Redis, wall: Clock, ticks: Clock) -> None:
    console = ExperimentStore(redis, clock=wall, monotonic=ticks)
    worker = ExperimentStore(redis, clock=wall, monotonic=ticks)
    assert await worker.running() == ()
    created = await console.create(definition(), "sup")
    assert await console.running() == (created,)  # the worker that changed it knows at once
    ticks.now += 0.5
    assert await worker.running() == ()  # still its copy: at most one Redis read per second
    ticks.now += 0.6
    assert await worker.running() == (created,)
    await console.stop(created.id, "sup")
    ticks.now += 0.2
    assert [e.id for e in await worker.running()] == [created.id]
    ticks.now += 1.0
    assert await worker.running() == ()


async def test_variants_and_params_for_a_conversation(store: ExperimentStore) -> None:
    threshold = await store.create(definition("kb_threshold"), "sup")
    weights = await store.create(definition("routing_weights"), "sup")
    for conversation in ("web-1", "web-2", "tg-77"):
        expected = {
            threshold.id: assign(threshold.id, threshold.variants, conversation),
            weights.id: assign(weights.id, weights.variants, conversation),
        }
        assert await store.variants_for(conversation) == expected
        assert await store.variants_for(conversation, kinds=["kb_threshold"]) == {
            threshold.id: expected[threshold.id]
        }
        found = await store.params_for(conversation, "routing_weights")
        assert found is not None
        experiment_id, variant, params = found
        assert (experiment_id, variant) == (weights.id, expected[weights.id])
        assert params == weights.variant(variant).params  # type: ignore[union-attr]
    assert await store.params_for("web-1", "reply_variant") is None
    assert await store.variants_for("web-1", kinds=["reply_variant"]) == {}

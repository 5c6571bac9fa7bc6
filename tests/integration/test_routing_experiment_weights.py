"""A handoff in a routing-weights experiment is routed with its variant's weights, by the same scoring as
the team's pools (handoff/routing/scoring.py), and its decision record explains it with those weights."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis

from handoff import keys
from handoff.routing.config import RoutingConfig, Weights
from handoff.routing.engine import RoutingEngine
from handoff.routing.scoring import rank
from tests.integration.test_routing_engine import Clock, add, agent_states, packet, redis  # noqa: F401

pytestmark = pytest.mark.integration


async def engine_with(redis: Redis, clock: Clock | None = None) -> RoutingEngine:  # noqa: F811
    engine = RoutingEngine(redis, replace(RoutingConfig.load()), clock=clock or Clock())
    await engine.start()
    return engine


async def test_the_variants_weights_choose_the_agent_the_teams_would_not(redis: Redis) -> None:  # noqa: F811
    engine = await engine_with(redis)
    await add(engine, "ann", {"returns": 1.0}, capacity=4)  # the expert, already busy
    await add(engine, "bob", {"returns": 0.2}, capacity=4)
    await engine.enqueue("warm1", packet("warm1"))
    await engine.enqueue("warm2", packet("warm2"))
    assert (await engine.get_agent("ann")).active == 2 and (await engine.get_agent("bob")).active == 0
    team = await engine.enqueue("c1", packet("c1"))
    assert team.agent_id == "ann"  # 0.4 skill outweighs her load under the team's weights
    load_first = {"skill": 0.0, "load": 1.0, "rating": 0.0}
    own = await engine.enqueue("c2", packet("c2", routing_weights=load_first, experiments={"e": "b"}))
    assert own.agent_id == "bob"
    decision = (await engine.decisions("c2"))[0]
    assert decision["weights"] == {"skill": 0.0, "load": 1.0, "rating": 0.0}
    assert decision["candidates"][0]["agent_id"] == "bob"
    assert decision["candidates"][0]["total"] == pytest.approx(1.0)
    stored = await redis.get(keys.handoff_packet("c2"))
    assert stored is not None  # the packet the agent sees keeps the variant's name but not the weights
    assert "routing_weights" not in stored and '"experiments"' in stored
    # the next handoff of the same conversation without a variant uses the team's weights again
    await engine.release("c2", None, "bot")
    assert (await engine.enqueue("c2", packet("c2"))).agent_id == "ann"


async def test_the_variants_choice_equals_the_pure_scoring(redis: Redis) -> None:  # noqa: F811
    rng = random.Random(11)
    engine = await engine_with(redis)
    for i in range(12):
        await add(engine, f"a{i:02d}", {"returns": round(rng.random(), 3)}, capacity=rng.randint(1, 4))
        for _ in range(rng.randint(0, 3)):
            await engine.rate(f"a{i:02d}", rng.randint(1, 5))
    for n in range(10):
        weights = Weights(*(round(rng.random(), 2) for _ in range(3)))
        expected = rank(
            await agent_states(engine, redis), "returns", "en", replace(engine.config, weights=weights)
        )
        cid = f"x{n}"
        status = await engine.enqueue(cid, packet(cid, routing_weights=weights.as_dict()))
        assert status.agent_id == (expected.best.agent_id if expected.best else None)


@pytest.mark.parametrize("bad", [{"skill": -1, "load": 1, "rating": 0}, {"skill": "x"}, "0.1,0.2", None])
async def test_malformed_variant_weights_route_with_the_teams(redis: Redis, bad: Any) -> None:  # noqa: F811
    engine = await engine_with(redis)
    await add(engine, "ann", {"returns": 1.0}, capacity=4)
    await add(engine, "bob", {"returns": 0.2}, capacity=4)
    status = await engine.enqueue("c1", packet("c1", routing_weights=bad))
    assert status.agent_id == "ann"

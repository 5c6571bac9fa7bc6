"""The routing engine against a real redis-server: pools, offers, queues, overflow, sticky, decisions."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis

from handoff.routing.config import RoutingConfig, Weights
from handoff.routing.engine import AgentSpec, NotFound, RoutingEngine, RoutingError
from handoff.routing.scoring import AgentState, Presence, rank

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    # Database 1, flushed per test: the engine's keys are global, other suites use database 0.
    client = Redis.from_url(redis_url.rsplit("/", 1)[0] + "/1", decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_engine(redis: Redis, clock: Clock) -> Callable[..., Any]:
    async def build(**overrides: Any) -> RoutingEngine:
        engine = RoutingEngine(redis, replace(RoutingConfig.load(), **overrides), clock=clock)
        await engine.start()
        return engine

    return build


async def add(
    engine: RoutingEngine,
    agent_id: str,
    skills: dict[str, float] | None = None,
    languages: tuple[str, ...] = ("en",),
    capacity: int = 2,
    online: bool = True,
) -> None:
    spec = AgentSpec(agent_id.title(), languages, skills or {"returns": 0.8}, capacity)
    await engine.put_agent(agent_id, spec, create=True)
    if online:
        await engine.set_presence(agent_id, Presence.ONLINE)


async def agent_states(engine: RoutingEngine, redis: Redis) -> list[AgentState]:
    """Every agent as the pure scoring sees it, read back from Redis."""
    states = []
    for a in await engine.agents():
        raw = await redis.hgetall(f"hub:agent:{a.id}")
        states.append(
            AgentState(a.id, frozenset(a.languages), a.skills, a.capacity, a.active,
                       Presence(a.presence), float(raw["rating_sum"]), int(raw["rating_count"]))
        )  # fmt: skip
    return states


def packet(cid: str, **kw: Any) -> dict[str, Any]:
    return {"conversation_id": cid, "reason": "damaged_goods", "language": "en", **kw}


async def test_the_redis_pools_rank_exactly_like_the_pure_scoring(make_engine: Any, redis: Redis) -> None:
    engine = await make_engine()
    rng = random.Random(7)
    for i in range(40):
        skills = {s: round(rng.random(), 3) for s in rng.sample(["returns", "orders", "general"], 2)}
        await add(engine, f"a{i:02d}", skills, tuple(rng.sample(["en", "zh"], rng.randint(1, 2))),
                  capacity=rng.randint(1, 4), online=rng.random() < 0.8)  # fmt: skip
        for _ in range(rng.randint(0, 4)):
            await engine.rate(f"a{i:02d}", rng.randint(1, 5))
    for n in range(25):  # offers change loads
        await engine.enqueue(f"c{n}", packet(f"c{n}", language=rng.choice(["en", "zh"])))

    async def compare(skill: str, language: str) -> None:
        states = await agent_states(engine, redis)
        expected = rank(states, None if skill == "*" else skill, language, engine.config)
        pool = await redis.zrange(f"hub:pool:{skill}:{language}", 0, -1, withscores=True)
        assert [agent_id for agent_id, _ in pool] == [c.agent_id for c in expected.candidates]
        for (_, value), candidate in zip(pool, expected.candidates, strict=True):
            assert -value == candidate.parts.total

    for skill in ("returns", "orders", "*"):
        for language in ("en", "zh"):
            await compare(skill, language)
    await engine.set_weights(Weights(1.0, 0.0, 0.5), "supervisor")
    await compare("returns", "en")


async def test_the_best_agent_gets_the_offer_and_capacity_is_never_exceeded(make_engine: Any) -> None:
    engine = await make_engine()
    await add(engine, "ann", {"returns": 0.9}, capacity=1)
    await add(engine, "bob", {"returns": 0.3}, capacity=1)
    first = await engine.enqueue("c1", packet("c1"))
    assert (first.owner, first.agent_id) == ("offered", "ann")
    second = await engine.enqueue("c2", packet("c2"))
    assert (second.owner, second.agent_id) == ("offered", "bob")
    third = await engine.enqueue("c3", packet("c3"))
    assert (third.owner, third.position) == ("queued", 1)
    assert third.estimated_wait_seconds is not None and third.estimated_wait_seconds > 0
    assert [a.active for a in await engine.agents()] == [1, 1]
    # the moment capacity frees up, the waiting conversation is offered
    await engine.accept("c1", "ann")
    await engine.release("c1", "ann", "closed")
    assert (await engine.status("c3")).agent_id == "ann"


async def test_enqueue_is_idempotent_while_in_routing(make_engine: Any) -> None:
    engine = await make_engine()
    await add(engine, "ann", capacity=3)
    await engine.enqueue("c1", packet("c1"))
    again = await engine.enqueue("c1", packet("c1"))
    assert again.owner == "offered"
    assert (await engine.get_agent("ann")).active == 1


async def test_a_declined_offer_goes_to_the_next_candidate_and_never_back(make_engine: Any) -> None:
    engine = await make_engine()
    await add(engine, "ann", {"returns": 0.9})
    await add(engine, "bob", {"returns": 0.5})
    await engine.enqueue("c1", packet("c1"))
    offers = await engine.decline("c1", "ann")
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c1", "bob")]
    assert (await engine.get_agent("ann")).active == 0
    await engine.decline("c1", "bob")
    status = await engine.status("c1")
    assert (status.owner, status.position) == ("queued", 1)  # nobody left who has not declined
    with pytest.raises(RoutingError):
        await engine.accept("c1", "ann")
    decision = (await engine.decisions("c1"))[0]
    assert decision["outcome"] == "offered" and decision["chosen"] == "bob"


async def test_offer_timeout_moves_on_and_repeated_misses_set_the_agent_away(
    make_engine: Any, clock: Clock
) -> None:
    engine = await make_engine(offer_timeout=5.0, max_missed_offers=2)
    await add(engine, "ann", {"returns": 0.9}, capacity=5)
    await add(engine, "bob", {"returns": 0.1}, capacity=5)
    await engine.enqueue("c1", packet("c1"))
    clock.now += 4.9
    assert await engine.expire_offers() == []
    clock.now += 0.2
    offers = await engine.expire_offers()
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c1", "bob")]
    assert (await engine.get_agent("ann")).missed_offers == 1
    await engine.enqueue("c2", packet("c2"))  # ann again, and she misses it again
    clock.now += 6
    await engine.expire_offers()
    ann = await engine.get_agent("ann")
    assert (ann.presence, ann.active) == ("away", 0)
    with pytest.raises(RoutingError, match=r"expired|not offered"):
        await engine.accept("c2", "ann")


async def test_the_sweeper_loop_re_offers_in_real_time(make_engine: Any) -> None:
    from handoff.lifecycle import sweep_forever

    real = await make_engine(offer_timeout=0.3)
    real._clock = __import__("time").time  # this one runs on wall-clock time
    await add(real, "ann", {"returns": 0.9})
    await add(real, "bob", {"returns": 0.2})
    await real.enqueue("c1", packet("c1"))
    task = asyncio.create_task(sweep_forever(real.sweep, 0.05))
    try:
        for _ in range(100):
            if (await real.status("c1")).agent_id == "bob":
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
    assert (await real.status("c1")).agent_id == "bob"


async def test_priority_ages_with_waiting_time_and_rises_with_tier_and_order_value(
    make_engine: Any, clock: Clock
) -> None:
    engine = await make_engine()
    await add(engine, "ann", online=False)
    await engine.enqueue("early", packet("early"))
    clock.now += 10
    await engine.enqueue("gold", packet("gold", customer_tier="gold"))  # 60 s bonus beats 10 s of waiting
    clock.now += 10
    await engine.enqueue("big-order", packet("big-order", order={"total": 100.0}))  # 10 s < 20 s later
    clock.now += 110
    await engine.enqueue("late-vip", packet("late-vip", customer_tier="vip"))  # 120 s < 130 s later
    positions = {c: (await engine.status(c)).position for c in ("early", "gold", "big-order", "late-vip")}
    assert positions == {"gold": 1, "early": 2, "big-order": 3, "late-vip": 4}


async def test_risk_and_frustration_move_a_conversation_up_the_queue(make_engine: Any, clock: Clock) -> None:
    engine = await make_engine()
    await add(engine, "ann", online=False)
    await engine.enqueue("calm", packet("calm", reason="complaint"))
    clock.now += 20
    angry = {"risk": [], "frustration": "annoyed", "peak_frustration": "angry"}
    await engine.enqueue("angry", packet("angry", reason="complaint", affect=angry))  # 60 + 45 s: t0 - 85
    clock.now += 10
    await engine.enqueue("hurt", packet("hurt", reason="injury", affect={"risk": ["injury"]}))  # t0 - 90
    positions = {c: (await engine.status(c)).position for c in ("calm", "angry", "hurt")}
    assert positions == {"hurt": 1, "angry": 2, "calm": 3}


async def test_presence_online_routes_at_once_and_offline_withdraws_pending_offers(make_engine: Any) -> None:
    engine = await make_engine()
    await add(engine, "ann", online=False)
    await add(engine, "bob", {"returns": 0.1}, online=False)
    await engine.enqueue("c1", packet("c1"))
    offers = await engine.set_presence("ann", Presence.ONLINE)
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c1", "ann")]
    await engine.set_presence("bob", Presence.ONLINE)
    offers = await engine.set_presence("ann", Presence.OFFLINE)
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c1", "bob")]
    assert (await engine.get_agent("ann")).active == 0


async def test_overflow_widens_then_offers_a_ticket(make_engine: Any, clock: Clock) -> None:
    engine = await make_engine(widen_after=60.0, ticket_after=120.0)
    await add(engine, "ann", {"orders": 0.9})  # no returns skill
    await engine.enqueue("c1", packet("c1"))
    await add(engine, "zoe", {"returns": 1.0}, languages=("zh",))
    assert (await engine.status("c1")).owner == "queued"
    clock.now += 61
    await engine.sweep()
    status = await engine.status("c1")
    assert (status.owner, status.agent_id, status.widened) == ("offered", "ann", True)
    await engine.decline("c1", "ann")
    clock.now += 60
    await engine.sweep()
    assert (await engine.status("c1")).ticket_offered
    decision = (await engine.decisions("c1"))[-1]
    assert decision["queue"] == "returns:en" and decision["outcome"] == "queued"


async def test_a_returning_customer_goes_to_their_previous_agent(make_engine: Any) -> None:
    engine = await make_engine()
    await add(engine, "ann", {"returns": 0.9}, capacity=3)
    await add(engine, "bob", {"returns": 0.2}, capacity=3)
    await engine.enqueue("c1", packet("c1", customer_id="cust-7"))
    await engine.decline("c1", "ann")
    await engine.accept("c1", "bob")
    await engine.release("c1", "bob", "closed")
    status = await engine.enqueue("c2", packet("c2", customer_id="cust-7"))
    assert status.agent_id == "bob"
    assert (await engine.decisions("c2"))[0]["how"] == "sticky"
    await engine.decline("c2", "bob")
    await engine.set_presence("bob", Presence.OFFLINE)
    status = await engine.enqueue("c3", packet("c3", customer_id="cust-7"))
    assert status.agent_id == "ann"


async def test_a_decision_explains_the_choice(make_engine: Any) -> None:
    engine = await make_engine()
    await add(engine, "ann", {"returns": 0.9})
    await add(engine, "bob", {"returns": 0.6})
    await add(engine, "cy", {"returns": 0.6}, online=False)
    await add(engine, "dee", {"returns": 0.6}, languages=("zh",))
    await add(engine, "eve", {"orders": 0.6})
    await add(engine, "fay", {"returns": 0.6, "orders": 1.0}, capacity=1)
    busy = await engine.enqueue("o1", packet("o1", reason="customer_request", intent="order_status"))
    assert busy.agent_id == "fay"  # now full
    await engine.enqueue("c1", packet("c1"))
    decision = (await engine.decisions("c1"))[0]
    assert decision["chosen"] == "ann"
    assert decision["weights"] == {"skill": 0.4, "load": 0.3, "rating": 0.3}
    assert [c["agent_id"] for c in decision["candidates"]] == ["ann", "bob"]
    for c in decision["candidates"]:
        assert c["parts"]["skill"] + c["parts"]["load"] + c["parts"]["rating"] == pytest.approx(c["total"])
    removed = decision["removed"]
    assert removed["not_online"] == {"count": 1, "sample": ["cy"]}
    assert removed["no_language"]["count"] == 1
    assert removed["no_skill"]["count"] == 1
    assert removed["full"] == {"count": 1, "sample": ["fay"]}
    assert (await engine.decision(decision["id"]))["id"] == decision["id"]
    with pytest.raises(NotFound):
        await engine.decision("424242")


async def test_transfers_to_an_agent_and_to_a_skill(make_engine: Any) -> None:
    engine = await make_engine()
    await add(engine, "ann", {"returns": 0.9})
    await add(engine, "olga", {"orders": 0.9})
    await add(engine, "zed", {"returns": 0.1}, languages=("zh",))
    await engine.enqueue("c1", packet("c1"))
    await engine.accept("c1", "ann")
    with pytest.raises(RoutingError, match="language"):
        await engine.transfer_to_agent("c1", "ann", "zed")
    with pytest.raises(RoutingError, match="not assigned"):
        await engine.transfer_to_agent("c1", "olga", "ann")
    offer = await engine.transfer_to_agent("c1", "ann", "olga")
    assert offer.agent_id == "olga" and (await engine.get_agent("ann")).active == 0
    await engine.accept("c1", "olga")
    status = await engine.transfer_to_skill("c1", None, "returns")  # a supervisor moves it back
    assert (status.owner, status.agent_id) == ("offered", "ann")
    assert (await engine.decisions("c1"))[1]["how"] == "transfer"


async def test_wait_estimates_use_recent_handle_times(make_engine: Any, clock: Clock) -> None:
    engine = await make_engine()
    await add(engine, "ann", capacity=1)
    for n in range(3):
        await engine.enqueue(f"h{n}", packet(f"h{n}"))
        await engine.accept(f"h{n}", "ann")
        clock.now += 120
        await engine.release(f"h{n}", "ann", "closed")
    await engine.enqueue("busy", packet("busy"))
    waiting = [await engine.enqueue(f"w{n}", packet(f"w{n}")) for n in range(3)]
    assert [s.position for s in waiting] == [1, 2, 3]
    assert [s.estimated_wait_seconds for s in waiting] == [120, 240, 360]
    queues = await engine.queues()
    assert queues[0]["queue"] == "returns:en" and queues[0]["length"] == 3


async def test_weights_changes_are_audited_and_rescore_every_agent(make_engine: Any) -> None:
    engine = await make_engine()
    await add(engine, "ann", {"returns": 0.9})
    await add(engine, "bob", {"returns": 0.5}, capacity=10)
    entry = await engine.set_weights(Weights(0.0, 1.0, 0.0), "sue")
    assert entry["old"] == {"skill": 0.4, "load": 0.3, "rating": 0.3} and entry["by"] == "sue"
    await engine.enqueue("c1", packet("c1"))  # load only, equal: "ann" wins the tie
    await engine.enqueue("c2", packet("c2"))  # ann at 1/2 load, bob at 0/10: bob
    decisions = await engine.decisions()
    assert [d["chosen"] for d in decisions] == ["bob", "ann"]
    assert decisions[0]["weights"] == {"skill": 0.0, "load": 1.0, "rating": 0.0}
    assert decisions[0]["candidates"][0]["total"] == 1.0
    assert [a["by"] for a in await engine.weight_audit()] == ["sue"]
    # a fresh engine (another worker, or a restart) keeps the supervisor's weights over the file
    other = RoutingEngine(engine._redis, RoutingConfig.load())
    await other.start()
    assert other.config.weights == Weights(0.0, 1.0, 0.0)


async def test_unknown_ids(make_engine: Any) -> None:
    engine = await make_engine()
    with pytest.raises(NotFound):
        await engine.status("nope")
    with pytest.raises(NotFound):
        await engine.set_presence("nobody", Presence.ONLINE)
    with pytest.raises(NotFound):
        await engine.get_agent("nobody")
    with pytest.raises(RoutingError, match="not with the routing"):
        await engine.release("nope", None, "closed")


async def test_leaving_the_queue_never_ends_a_chat_an_agent_has_accepted(make_engine: Any) -> None:
    engine = await make_engine()
    await add(engine, "ann", {"returns": 0.9}, capacity=1)
    await engine.enqueue("c1", packet("c1"))
    await engine.accept("c1", "ann")
    with pytest.raises(RoutingError) as refused:
        await engine.release("c1", None, "closed", waiting_only=True)
    assert refused.value.code == "answered"
    status = await engine.status("c1")
    assert (status.owner, status.agent_id) == ("agent", "ann")
    await engine.enqueue("c2", packet("c2"))  # waiting: leaving works
    assert (await engine.release("c2", None, "closed", waiting_only=True))[0] == "queued"

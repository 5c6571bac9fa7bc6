"""Several routing worker processes against one real Redis: never a double assignment, never past
capacity, every conversation in exactly one place."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from redis.asyncio import Redis

from handoff.routing.config import RoutingConfig
from handoff.routing.engine import AgentSpec, RoutingEngine
from handoff.routing.scoring import Presence

pytestmark = pytest.mark.integration

WORKERS = 4
OPERATIONS = 400  # per worker; about 35% are new handoffs
AGENTS = 30
ROOT = Path(__file__).resolve().parents[2]


async def seed(redis: Redis) -> RoutingEngine:
    engine = RoutingEngine(redis, RoutingConfig.load())
    await engine.start()
    rng = random.Random(1)
    skills = sorted(engine.config.skills())
    for n in range(AGENTS):
        spec = AgentSpec(
            f"Agent {n}",
            tuple(rng.sample(["en", "zh"], rng.randint(1, 2))),
            {s: round(rng.uniform(0.2, 1.0), 2) for s in rng.sample(skills, 3)},
            rng.randint(1, 3),
        )
        await engine.put_agent(f"agent-{n}", spec, create=True)
        if n % 2 == 0:
            await engine.set_presence(f"agent-{n}", Presence.ONLINE)
    return engine


async def check_invariants(redis: Redis) -> dict[str, int]:
    owners: dict[str, int] = {}
    holders: dict[str, str] = {}
    slots: dict[str, int] = {}
    for agent_id in await redis.smembers("hub:agents"):
        agent = await redis.hgetall(f"hub:agent:{agent_id}")
        chats = await redis.smembers(f"hub:agent:{agent_id}:chats")
        assert int(agent["active"]) == len(chats), f"{agent_id}: active {agent['active']} vs {chats}"
        assert len(chats) <= int(agent["capacity"]), f"{agent_id} is over capacity"
        for cid in chats:
            assert cid not in holders, f"{cid} held by {holders[cid]} and {agent_id}"
            holders[cid] = agent_id
        available = agent["presence"] == "online" and len(chats) < int(agent["capacity"])
        online = agent["presence"] == "online"
        for language in agent["languages"].split(","):
            for skill in [*json.loads(agent["skills"]), "*"]:
                name = f"{skill}:{language}"
                in_pool = await redis.zscore(f"hub:pool:{name}", agent_id) is not None
                assert in_pool == available, f"{agent_id} pool {name} membership is stale"
                assert await redis.sismember(f"hub:online:{name}", agent_id) == online
                if online:
                    slots[name] = slots.get(name, 0) + int(agent["capacity"])
    stored = {k: int(v) for k, v in (await redis.hgetall("hub:slots")).items() if int(v)}
    assert stored == slots, "summed online capacity per queue drifted"
    queued_in: dict[str, str] = {}
    for key in await redis.keys("hub:queue:*"):
        for cid in await redis.zrange(key, 0, -1):
            assert cid not in queued_in, f"{cid} waits in {queued_in[cid]} and {key}"
            queued_in[cid] = key
    offers = set(await redis.zrange("hub:offers", 0, -1))
    for key in await redis.keys("hub:conv:*"):
        if key.count(":") != 2:
            continue
        cid = key.split(":", 2)[2]
        conv = await redis.hgetall(key)
        owner = conv["owner"]
        owners[owner] = owners.get(owner, 0) + 1
        if owner == "queued":
            assert queued_in.get(cid) == f"hub:queue:{conv['queue']}" and cid not in holders
        elif owner == "offered":
            assert holders.get(cid) == conv["offer_agent"] and cid in offers and cid not in queued_in
        elif owner == "agent":
            assert holders.get(cid) == conv["agent"] and cid not in offers and cid not in queued_in
        else:
            assert cid not in holders and cid not in queued_in and cid not in offers
    for cid in holders:  # a chat an agent holds is a live offer or assignment, never a stale one
        assert await redis.hget(f"hub:conv:{cid}", "owner") in ("offered", "agent")
    return owners


def test_many_workers_never_double_assign_or_exceed_capacity(redis_url: str) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/2"

    async def prepare() -> None:
        redis = Redis.from_url(url, decode_responses=True)
        await redis.flushdb()
        await seed(redis)
        await redis.aclose()

    asyncio.run(prepare())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.routing_worker",
                url,
                str(n),
                str(OPERATIONS),
                str(AGENTS),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WORKERS)
    ]
    results = []
    for proc in workers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(r["enqueued"] for r in results) >= 400

    async def verify() -> dict[str, int]:
        redis = Redis.from_url(url, decode_responses=True)
        owners = await check_invariants(redis)
        # liveness: with everyone online, nothing routable is left waiting
        engine = RoutingEngine(redis, RoutingConfig.load())
        await engine.start()
        for agent_id in await redis.smembers("hub:agents"):
            await engine.set_presence(agent_id, Presence.ONLINE)
        for name in await redis.smembers("hub:queues"):
            for cid in await redis.zrange(f"hub:queue:{name}", 0, -1):
                declined = await redis.smembers(f"hub:conv:{cid}:declined")
                free = set(await redis.zrange(f"hub:pool:{name}", 0, -1)) - declined
                assert not free, f"{cid} waits in {name} while {sorted(free)} are free"
        await check_invariants(redis)
        await redis.aclose()
        return owners

    owners = asyncio.run(verify())
    assert owners.get("agent", 0) > 0 and owners.get("closed", 0) + owners.get("bot", 0) > 0

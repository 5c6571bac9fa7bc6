"""One routing worker process for the concurrency test: random handoffs, presence changes, accepts,
declines, releases and sweeps against a shared Redis. Races surface as RoutingError, which is expected;
anything else fails the process.

    python -m tests.integration.routing_worker REDIS_URL WORKER_ID OPERATIONS AGENTS
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from dataclasses import replace

from redis.asyncio import Redis

from handoff.errors import Conflict, NotFoundError
from handoff.routing.config import RoutingConfig
from handoff.routing.engine import RoutingEngine
from handoff.routing.scoring import Presence

REASONS = ("customer_request", "damaged_goods", "payment_issue", "complaint", "kb_miss")
INTENTS = ("order_status", "request_return", "payment_problem", "ask_shipping", "ask_policy")


async def run(url: str, worker: int, operations: int, agents: int) -> dict[str, int]:
    redis = Redis.from_url(url, decode_responses=True)
    config = replace(RoutingConfig.load(), offer_timeout=0.2, widen_after=0.5, ticket_after=1.0)
    engine = RoutingEngine(redis, config)
    await engine.start()
    rng = random.Random(worker)
    counts = {"enqueued": 0, "conflicts": 0, "ops": 0}
    for i in range(operations):
        roll = rng.random()
        try:
            if roll < 0.35:
                cid = f"w{worker}-{i}"
                await engine.enqueue(
                    cid,
                    {
                        "conversation_id": cid,
                        "reason": rng.choice(REASONS),
                        "intent": rng.choice(INTENTS),
                        "language": rng.choice(("en", "zh")),
                        "customer_id": f"cust-{rng.randrange(40)}",
                        "customer_tier": rng.choice(("standard", "gold")),
                    },
                )
                counts["enqueued"] += 1
            elif roll < 0.5:
                presence = rng.choices(list(Presence), weights=(6, 2, 2))[0]
                await engine.set_presence(f"agent-{rng.randrange(agents)}", presence)
            elif roll < 0.8:
                cid = await redis.zrandmember("hub:offers")
                if cid:
                    agent = await redis.hget(f"hub:conv:{cid}", "offer_agent")
                    if agent and roll < 0.7:
                        await engine.accept(cid, agent)
                    elif agent:
                        await engine.decline(cid, agent)
            elif roll < 0.93:
                agent = f"agent-{rng.randrange(agents)}"
                cid = await redis.srandmember(f"hub:agent:{agent}:chats")
                if cid and await redis.hget(f"hub:conv:{cid}", "owner") == "agent":
                    await engine.release(cid, agent, rng.choice(("closed", "bot")))
            else:
                await engine.sweep()
        except (Conflict, NotFoundError):
            counts["conflicts"] += 1  # another worker got there first
        counts["ops"] += 1
        if i % 25 == 0:
            await asyncio.sleep(0.01)  # let offers age so that timeouts happen too
    await redis.aclose()
    return counts


if __name__ == "__main__":
    url, worker, operations, agents = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(asyncio.run(run(url, worker, operations, agents))))

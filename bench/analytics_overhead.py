"""The hub's cost per customer message with analytics on and off, in the same run.

The real Hub over a real redis-server (its transcript and conversation stores), with an in-process
stand-in for Rasa that answers at once (two replies and what it understood), so the measured time is the
hub's own: store the message, ask the assistant, store the replies, the studio's check. With analytics on,
the turn's facts ride along with those writes, and the writer process (`python -m handoff.analytics.writer`,
as `make run` starts it) moves them into a real SQLite store on the same two cores while the messages are
sent.
Rounds alternate off/on/on/off (ABBA) so drifting load hits both arms alike; each round sends the same
messages from `--concurrency` conversations at once. Reports the median and p90 per-message latency and the
hub's CPU time per message per arm, their ratios, and the writer's CPU time per message (its own process).

    PYTHONPATH=. nice -n 5 .venv/bin/python -m bench.analytics_overhead [--rounds 8] [--messages 400]
        [--concurrency 8] [--json var/bench/analytics_overhead.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.machine import cpu_model
from handoff import keys
from handoff.analytics.feed import AnalyticsFeed
from handoff.analytics.store import AnalyticsStore, Filters
from handoff.bot_client import BotReplies, BotReply
from handoff.conversations import RedisConversationStore
from handoff.hub import Hub
from handoff.studio.inbox import StudioInbox
from handoff.transcript import RedisTranscriptStore
from tests.redis_server import running_redis

TEXTS = [
    "where is my order A1001",
    "I want to return the shoes",
    "退货要多久",
    "how much is shipping",
    "thanks",
]
UNDERSTOOD = {
    "intent": "order_status",
    "confidence": 0.93,
    "ranking": [{"name": "order_status", "confidence": 0.93}, {"name": "ask_shipping", "confidence": 0.04}],
    "entities": [{"entity": "order_id", "value": "A1001"}],
    "affect": {"frustration": "calm", "risk": []},
    "kb_article": "shipping-times",
}


class InstantBot:
    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> BotReplies:
        replies = BotReplies(
            [BotReply(text="Your order A1001 ships tomorrow."), BotReply(text="Anything else?")]
        )
        replies.understood = UNDERSTOOD
        return replies

    async def resume(self, sender: str, intent: str | None) -> list[BotReply]:
        return []


class NoRouter:
    async def enqueue(self, conversation_id: str, packet: Any) -> Any:
        raise AssertionError("the benchmark never hands off")

    async def release(self, conversation_id: str, actor: str | None, new_owner: str) -> tuple[str, str]:
        return "bot", ""

    async def rate(self, agent_id: str, stars: int) -> None:
        return None


@dataclass
class Arm:
    latencies: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    messages: int = 0


def make_hub(redis: Redis, analytics: bool) -> Hub:
    hub = Hub(RedisTranscriptStore(redis), RedisConversationStore(redis), InstantBot(), NoRouter())
    hub.use_studio_inbox(StudioInbox(redis))
    if analytics:
        hub.use_analytics(AnalyticsFeed(redis))
    return hub


async def one_round(hub: Hub, tag: str, messages: int, concurrency: int, arm: Arm) -> None:
    per_conversation = max(1, messages // concurrency)

    async def conversation(n: int) -> None:
        cid = f"bench-{tag}-{n}"
        for i in range(per_conversation):
            start = time.perf_counter()
            await hub.customer_message(cid, TEXTS[i % len(TEXTS)], "rest")
            arm.latencies.append(time.perf_counter() - start)

    cpu = time.process_time()
    await asyncio.gather(*(conversation(n) for n in range(concurrency)))
    arm.cpu_seconds += time.process_time() - cpu
    arm.messages += per_conversation * concurrency


async def run(
    rounds: int, messages: int, concurrency: int, url: str, db: Path, writer_during: bool
) -> dict[str, Any]:
    redis = Redis.from_url(url, decode_responses=True)
    env = {**os.environ, "REDIS_URL": url, "ANALYTICS_DB": str(db), "ANALYTICS_GROUP": "bench"}
    command = [sys.executable, "-m", "handoff.analytics.writer"]
    writer = subprocess.Popen(command, env=env) if writer_during else None  # noqa: ASYNC220
    hubs = {False: make_hub(redis, False), True: make_hub(redis, True)}
    arms = {False: Arm(), True: Arm()}
    await one_round(hubs[False], "warm-off", messages // 4, concurrency, Arm())
    await one_round(hubs[True], "warm-on", messages // 4, concurrency, Arm())
    order = [False, True, True, False]
    blocks: list[dict[bool, Arm]] = []
    for r in range(rounds):
        on = order[r % 4]
        if r % 4 == 0:
            blocks.append({False: Arm(), True: Arm()})
        block = blocks[-1][on]
        await one_round(hubs[on], f"r{r}", messages, concurrency, block)
        arms[on].latencies += block.latencies
        arms[on].cpu_seconds += block.cpu_seconds
        arms[on].messages += block.messages
    if writer is None:  # the hub's cost alone; then the writer catches up
        writer = subprocess.Popen(command, env=env)  # noqa: ASYNC220
    last = _last_id(await redis.xrevrange(keys.analytics_events(), count=1))
    store = AnalyticsStore(db)
    deadline = time.monotonic() + 120
    while store.last_stream_id() != last:
        assert time.monotonic() < deadline, "the writer did not catch up"
        await asyncio.sleep(0.2)
    writer_cpu = _cpu_seconds(writer.pid)
    writer.send_signal(signal.SIGTERM)
    writer.wait(30)
    summary = store.summary(Filters(None, None, None, None, None))
    await redis.aclose()
    store.close()
    result: dict[str, Any] = {
        "writer": "during" if writer_during else "after",
        "arms": {},
        "contacts_in_store": summary.get("contacts"),
        "writer_cpu_ms_per_message": round(writer_cpu / (arms[True].messages + messages // 4) * 1000, 4),
    }
    for on, arm in arms.items():
        result["arms"]["on" if on else "off"] = {
            "messages": arm.messages,
            "p50_ms": round(statistics.median(arm.latencies) * 1000, 3),
            "p90_ms": round(statistics.quantiles(arm.latencies, n=10)[-1] * 1000, 3),
            "cpu_ms_per_message": round(arm.cpu_seconds / arm.messages * 1000, 4),
        }
    on, off = result["arms"]["on"], result["arms"]["off"]
    result["ratios"] = {k: round(on[k] / off[k], 3) for k in ("p50_ms", "p90_ms", "cpu_ms_per_message")}
    # Each off/on/on/off block compared within itself, so load that drifts between blocks cancels out:
    # the median of the blocks' ratios and their range.
    paired: dict[str, list[float]] = {"p50_ms": [], "cpu_ms_per_message": []}
    for block in blocks:
        if block[False].messages and block[True].messages:
            paired["p50_ms"].append(
                statistics.median(block[True].latencies) / statistics.median(block[False].latencies)
            )
            paired["cpu_ms_per_message"].append(
                (block[True].cpu_seconds / block[True].messages)
                / (block[False].cpu_seconds / block[False].messages)
            )
    result["block_ratios"] = {
        k: {
            "median": round(statistics.median(v), 3),
            "min": round(min(v), 3),
            "max": round(max(v), 3),
            "blocks": len(v),
        }
        for k, v in paired.items()
        if v
    }
    return result


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _last_id(entries: list[Any]) -> str | None:
    return str(entries[0][0]) if entries else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--writer",
        choices=("during", "after"),
        default="during",
        help="run the writer process while the messages are sent (the deployment), or only after them",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="analytics-overhead-") as tmp, running_redis(Path(tmp)) as url:
        db = Path(tmp) / "a.sqlite"
        result = asyncio.run(
            run(args.rounds, args.messages, args.concurrency, url, db, args.writer == "during")
        )
    result["machine"] = cpu_model()
    result["command"] = "PYTHONPATH=. nice -n 5 .venv/bin/python -m bench.analytics_overhead " + " ".join(
        f"--{k} {v}"
        for k, v in (
            ("rounds", args.rounds),
            ("messages", args.messages),
            ("concurrency", args.concurrency),
            ("writer", args.writer),
        )
    )
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()

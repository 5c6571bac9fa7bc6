"""Cost per turn over a long conversation: does a turn cost more the longer the chat has gone on?

Starts the whole stack (scripts/run.sh, real model, real action server, embedded Redis) once per Rasa
tracker store, in the same run: `windowed` (bot/tracker_store.py, the default) and `rasa` (Rasa's own
RedisTrackerStore, the baseline). Each stack gets one conversation through the hub's REST channel, as a
customer types it: `--turns` messages (150), one after another, cycling through questions the assistant
answers itself in both languages (knowledge-base answers, whose bot events are the largest, greetings,
thanks). Every reply is checked (HTTP 200, a reply, the conversation still with the assistant).

Per turn it records the reply's latency, the Rasa server process's CPU time, and the bytes the tracker
store wrote to Redis for the conversation (the windowed store: the new list entries; Rasa's: the whole
document, which it rewrites on every save). Reported for turns 1-10 and the last ten turns: p50 and p99
latency, CPU per turn, bytes per turn, and the ratio last/first.

    .venv/bin/python -m bench.turn_cost [--turns 150] [--stores windowed,rasa] [--markdown F] [--json F]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx
import psutil
import redis

from bench.machine import cpu_model
from bench.stack import Stack, git_state, running_stack
from handoff import keys

MESSAGES = [
    "hi there",
    "how long do I have to return something?",
    "do you ship to Canada?",
    "what payment methods do you take?",
    "thanks!",
    "退货要多久才能退款？",
    "你们支持哪些付款方式？",
    "谢谢",
    "how much is shipping?",
    "is there a warranty on electronics?",
]
SETTINGS = {"HUB_MESSAGES_PER_MINUTE": "1000000", "HUB_MESSAGES_PER_MINUTE_PER_ADDRESS": "1000000"}
WINDOW = 10


@dataclass
class Turn:
    n: int
    latency_ms: float
    rasa_cpu_ms: float
    bytes_written: int


@dataclass
class StoreRun:
    store: str
    turns: list[Turn] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def rasa_process(stack: Stack) -> psutil.Process:
    """The Python process serving Rasa (not the shell honcho starts it with)."""
    root = psutil.Process(stack.proc.pid)
    for proc in root.children(recursive=True):
        cmdline = proc.cmdline()
        if cmdline and "python" in Path(cmdline[0]).name and "bot.serve" in cmdline:
            return proc
    raise RuntimeError("the Rasa server process of the stack was not found")


def cpu_ms(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return (times.user + times.system) * 1000


class StoredBytes:
    """What the tracker store has written for one conversation so far."""

    def __init__(self, client: redis.Redis, store: str, sender: str) -> None:
        self.client, self.store, self.sender = client, store, sender
        self.length = 0

    def written_since_last(self) -> int:
        if self.store == "rasa":
            return int(self.client.strlen(f"tracker:{self.sender}"))  # rewritten whole on every save
        key = f"rasa_events:{self.sender}"
        new = self.client.lrange(key, self.length, -1)
        self.length += len(new)
        return sum(len(entry) for entry in new)


def run_store(store: str, turns: int, project: Path) -> StoreRun:
    result = StoreRun(store)
    settings = {**SETTINGS, "RASA_TRACKER_STORE": store}
    with running_stack(project, settings=settings, prefix=f"bench-turn-cost-{store}-") as stack:
        token = stack.rest_token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = redis.Redis.from_url(stack.redis_url)
        rasa = rasa_process(stack)
        with httpx.Client(base_url=stack.hub_url, headers=headers, timeout=120) as http:
            for i, text in enumerate(MESSAGES * 2):  # warm-up on other conversations
                http.post("/webhooks/rest/webhook", json={"sender": f"warm-{i % 3}", "message": text})
            sender = f"long-{int(time.time())}"
            stored = StoredBytes(client, store, f"rest-{sender}")
            for n in range(1, turns + 1):
                text = MESSAGES[(n - 1) % len(MESSAGES)]
                cpu_before = cpu_ms(rasa)
                began = time.perf_counter()
                response = http.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
                latency = (time.perf_counter() - began) * 1000
                cpu = cpu_ms(rasa) - cpu_before
                if response.status_code != 200 or not response.json():
                    result.failures.append(f"turn {n}: HTTP {response.status_code} {response.text[:120]}")
                result.turns.append(Turn(n, latency, cpu, stored.written_since_last()))
            owner = client.hget(keys.conversation(f"rest-{sender}"), "owner")
            if owner not in (None, b"bot"):
                result.failures.append(f"the conversation left the assistant (owner {owner!r})")
    return result


def summary(turns: list[Turn]) -> dict[str, float]:
    latencies = sorted(t.latency_ms for t in turns)
    return {
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))],
        "rasa_cpu_ms": statistics.mean(t.rasa_cpu_ms for t in turns),
        "bytes_per_turn": statistics.mean(t.bytes_written for t in turns),
    }


def report(runs: list[StoreRun], command: str, began: str, project: Path) -> str:
    lines = [
        "# Cost per turn over one long conversation",
        "",
        f"`{command}`, {began}, {platform.machine()} {cpu_model()}, {psutil.cpu_count()} cores, "
        f"checkout {git_state(project)}.",
        "",
        "| tracker store | turns | p50 ms | p99 ms | Rasa CPU ms / turn | bytes written / turn |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        first, last = summary(run.turns[:WINDOW]), summary(run.turns[-WINDOW:])
        n = len(run.turns)
        for label, part in ((f"1-{WINDOW}", first), (f"{n - WINDOW + 1}-{n}", last)):
            lines.append(
                f"| {run.store} | {label} | {part['p50_ms']:.0f} | {part['p99_ms']:.0f} | "
                f"{part['rasa_cpu_ms']:.0f} | {part['bytes_per_turn']:,.0f} |"
            )
        ratio = {k: last[k] / first[k] if first[k] else float("nan") for k in first}
        lines.append(
            f"| {run.store} | last / first | ×{ratio['p50_ms']:.2f} | ×{ratio['p99_ms']:.2f} | "
            f"×{ratio['rasa_cpu_ms']:.2f} | ×{ratio['bytes_per_turn']:.2f} |"
        )
    for run in runs:
        for failure in run.failures:
            lines.append(f"\n- {run.store}: {failure}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--turns", type=int, default=150)
    parser.add_argument("--stores", default="windowed,rasa")
    parser.add_argument("--project-dir", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.turns < 2 * WINDOW:
        parser.error(f"--turns must be at least {2 * WINDOW}")
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if not stores or any(s not in ("windowed", "rasa") for s in stores):
        parser.error("--stores takes windowed and/or rasa")
    began = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python -m bench.turn_cost " + " ".join(sys.argv[1:] if argv is None else argv)
    runs = []
    for store in stores:
        print(f"== {store}: {args.turns} turns", flush=True)
        runs.append(run_store(store, args.turns, args.project_dir.resolve()))
    text = report(runs, command.strip(), began, args.project_dir.resolve())
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(json.dumps([asdict(run) for run in runs], indent=1))
    return 1 if any(run.failures for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())

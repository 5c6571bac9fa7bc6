"""Throughput with 1, 2 and 4 Rasa processes behind the hub (RASA_PROCESSES), in one run.

For each process count, in the order given (default 1 2 4 4 2 1, so drifting machine load hits every
count alike), starts the whole stack (scripts/run.sh, real model, real action server, embedded Redis) on
free ports, waits until /health shows every Rasa process up, then keeps `--conversations` customers busy
for `--seconds` through the hub's REST channel, each sending the next message as soon as the reply
arrives (a closed loop: throughput is what the stack sustains at that concurrency). The conversations are
the hub overhead benchmark's (greetings, order status with real order numbers, knowledge-base answers, in
English and Chinese), fresh senders per cycle. Every reply is checked (HTTP 200, at least one message).
Writes bench/results/rasa_scaling.md.

    PYTHONPATH=. nice -n 5 .venv/bin/python bench/rasa_scaling.py [--counts 1 2 4 4 2 1]
        [--conversations 16] [--seconds 60] [--warmup 10]          # about 3 minutes per count
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx
import redis

from bench.hub_latency import cpu_seconds, machine, pct, plans, stack_processes, stack_settings
from bench.soak_stack import health
from bench.stack import Stack, consecutive_free_ports, git_state, running_stack

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "rasa_scaling.md"


@dataclass
class Run:
    processes: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    started_in: float = 0.0
    load: float = 0.0
    redis_commands: int = 0  # Redis commands processed during the load phase (every client)
    redis_cpu: float = 0.0  # CPU seconds of redis-server during the load phase

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def wait_for_every_process(stack: Stack, count: int, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if health(stack.hub_url, count)[0]:
            return
        time.sleep(2)
    raise RuntimeError(f"not every one of {count} Rasa processes came up:\n{stack.log_tail()}")


async def customer(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    name: str,
    plan: list[str],
    until: float,
    run: Run | None,
) -> None:
    cycle = 0
    while time.monotonic() < until:
        sender = f"{name}-{cycle}"
        for text in plan:
            if time.monotonic() >= until:
                return
            began = time.perf_counter()
            try:
                response = await client.post(url, json={"sender": sender, "message": text}, headers=headers)
                ok = response.status_code == 200 and isinstance(response.json(), list) and response.json()
                problem = "" if ok else f"HTTP {response.status_code} {response.text[:100]}"
            except (httpx.HTTPError, ValueError) as exc:
                problem = type(exc).__name__
            if run is None:
                continue
            if problem:
                run.failures.append(f"{sender}: {text!r}: {problem}")
            else:
                run.latencies.append((time.perf_counter() - began) * 1000)
        cycle += 1


def commands_processed(client: redis.Redis) -> int:
    return int(client.info("stats")["total_commands_processed"])


async def drive(stack: Stack, args: argparse.Namespace, run: Run, store: redis.Redis) -> None:
    token = stack.rest_token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{stack.hub_url}/webhooks/rest/webhook"
    conversations = plans(args.conversations)
    limits = httpx.Limits(max_connections=args.conversations * 2)
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as client:
        for phase, seconds in (("warm", args.warmup), ("load", args.seconds)):
            until = time.monotonic() + seconds
            began = time.perf_counter()
            commands = commands_processed(store)
            redis_pids = stack_processes(stack.proc.pid)["redis"]
            redis_cpu = cpu_seconds(redis_pids)
            label = f"scale-{run.processes}-{phase}-{os.getpid()}-{time.time_ns() % 10**6}"
            await asyncio.gather(
                *(
                    customer(
                        client, url, headers, f"{label}-c{i}", plan, until, run if phase == "load" else None
                    )
                    for i, plan in enumerate(conversations)
                )
            )
            if phase == "load":
                run.seconds = time.perf_counter() - began
                run.redis_commands = commands_processed(store) - commands
                run.redis_cpu = cpu_seconds(redis_pids) - redis_cpu


def measure(count: int, args: argparse.Namespace) -> Run:
    run = Run(count)
    settings = {
        **stack_settings(30.0),
        "RASA_PROCESSES": str(count),
        "RASA_PORT": str(consecutive_free_ports(count)),
        "ACTION_PROCESSES": str(args.action_processes),
        "HUB_WORKERS": str(args.hub_workers),
    }
    began = time.monotonic()
    with running_stack(settings=settings, prefix=f"bench-scale-{count}-", timeout=900) as stack:
        wait_for_every_process(stack, count)
        run.started_in = time.monotonic() - began
        run.load = os.getloadavg()[0]
        store = redis.Redis.from_url(stack.redis_url)
        try:
            asyncio.run(drive(stack, args, run, store))
        finally:
            store.close()
    print(
        f"{count} process(es): {run.rate:.1f} msg/s, p50 {pct(run.latencies, 50):.0f} ms, "
        f"p95 {pct(run.latencies, 95):.0f} ms, {len(run.failures)} failures",
        flush=True,
    )
    return run


def report(runs: list[Run], args: argparse.Namespace, began: str) -> str:
    by_count: dict[int, list[Run]] = defaultdict(list)
    for run in runs:
        by_count[run.processes].append(run)
    base = statistics.mean(r.rate for r in by_count[min(by_count)])
    info = machine()
    counts = " ".join(map(str, args.counts))
    command = (
        f"PYTHONPATH=. nice -n 5 .venv/bin/python bench/rasa_scaling.py --counts {counts} "
        f"--conversations {args.conversations} --seconds {args.seconds:g}"
    )
    lines = [
        "# Throughput with several Rasa processes",
        "",
        f"Run {began}; {info['cpu']}; Python {info['python']}; code {git_state(ROOT)}.",
        f"`{command}`; ACTION_PROCESSES={args.action_processes}, HUB_WORKERS={args.hub_workers}; "
        f"{args.conversations} customers in a closed loop through the hub.",
        "",
        "| Rasa processes | runs | messages/s (each run) | × 1 process | p50 ms | p95 ms | failures "
        "| load avg |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for count in sorted(by_count):
        mine = by_count[count]
        rates = [r.rate for r in mine]
        latencies = [x for r in mine for x in r.latencies]
        each = ", ".join(f"{r:.1f}" for r in rates)
        lines.append(
            f"| {count} | {len(mine)} | {statistics.mean(rates):.1f} ({each}) "
            f"| ×{statistics.mean(rates) / base:.2f} | {pct(latencies, 50):.0f} | {pct(latencies, 95):.0f} "
            f"| {sum(len(r.failures) for r in mine)} | {statistics.mean(r.load for r in mine):.1f} |"
        )
    answered = sum(len(r.latencies) for r in runs)
    per_message = sum(r.redis_commands for r in runs) / answered if answered else 0.0
    redis_cpu = sum(r.redis_cpu for r in runs)
    ceiling = answered / redis_cpu if redis_cpu else float("inf")
    lines += [
        "",
        f"Redis commands per answered message (every client: hub, Rasa, actions): {per_message:.0f}; "
        f"redis-server CPU per message {1000 * redis_cpu / max(answered, 1):.2f} ms, so one Redis core "
        f"would serve about {ceiling:,.0f} messages/s of this mix.",
    ]
    failures = [f for r in runs for f in r.failures][:10]
    if failures:
        lines += ["", "First failures:", "", *(f"- {f}" for f in failures)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 4, 2, 1])
    parser.add_argument("--conversations", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--action-processes", type=int, default=1)
    parser.add_argument("--hub-workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    began = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runs = [measure(count, args) for count in args.counts]
    text = report(runs, args, began)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

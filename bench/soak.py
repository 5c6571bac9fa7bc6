"""Chaos soak: the whole stack under customers and agents while its processes are killed and restarted.

Starts every process of the stack on its own (bench/soak_stack.py: embedded Redis with AOF, the action
server, RASA_PROCESSES=2 Rasa servers under their supervisor, the hub with HUB_WORKERS=2), on free ports
with its state in a temporary directory. Customers in English and Chinese write on the widget and on
REST, routine questions and requests for a person; agents accept, answer and resolve
(bench/soak_people.py). After a warm-up a schedule kills with SIGKILL, in turn and one at a time: the
hub (every process, then started again), one Rasa server (its supervisor starts it again), the action
server, Redis (started again on the same config and data, so it reloads its AOF), waiting for the
stack to be whole again and then `--gap` seconds before the next kill. Customers keep writing throughout;
a message the hub did not acknowledge is sent once more after a pause and is not counted if that fails.

At the end, after a quiet settle period with everything up, it checks from Redis's keys
(bench/soak_checks.py): every acknowledged message is in its transcript; each conversation has exactly
one owner; no conversation is with two agents; no queue entry, offer or agent chat is orphaned; no
process kind's memory trends upward after warm-up. It reports totals, each kill and errors by kind as
markdown (stdout and bench/results/soak.md) and, with --json, as JSON. Exit status 1 when a check failed.

    PYTHONPATH=. nice -n 5 .venv/bin/python -m bench.soak [--minutes 15] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import redis

from bench.machine import cpu_model
from bench.soak_checks import (
    MemoryTrend,
    RoutingCheck,
    Sample,
    TranscriptCheck,
    check_routing,
    check_transcripts,
    memory_trend,
    read_transcripts,
    routing_snapshot,
)
from bench.soak_people import Ledger, Said, Traffic, agent_loop, create_agents, customer, pause, scripts
from bench.soak_stack import KINDS, SoakStack, StackError, health, start_stack, wait_healthy
from bench.stack import git_state

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "soak.md"
# A kind whose memory grows faster than this after warm-up is flagged. 1 MiB a minute is 1.4 GiB a day,
# about 40% of all the stack holds (3.6 GiB with two Rasa processes): a kind growing that fast would need
# a restart every day or two. Growth that slow is also well above what steady state shows once the first
# requests have filled caches and allocator arenas (warm-up, left out): below 0.3 MiB/min for every kind
# in the 5-minute soak (bench/results/soak.md).
LEAK_MIB_PER_MINUTE = 1.0
# A second half shorter than this gives a slope, not a verdict: with steady-state noise below
# 0.3 MiB/min, 1.5 minutes of samples tell 1 MiB/min from noise.
MIN_JUDGED_MINUTES = 1.5


@dataclass
class SoakConfig:
    minutes: float = 15.0  # traffic, chaos included (extended if needed to follow the last restart)
    customers: int = 6
    agents: int = 3
    warmup: float = 45.0  # traffic before the first kill
    gap: float = 45.0  # after a kind is back, before the next kill
    tail: float = 30.0  # traffic after the last kind is back
    settle: float = 30.0  # quiet, everything up, before the checks
    kinds: tuple[str, ...] = KINDS
    kills_per_kind: int | None = None  # None: kill in turn until the traffic ends
    retry_pause: float = 5.0
    restore_timeout: float = 300.0
    sample_seconds: float = 5.0
    memory_warmup: float = 60.0  # after the start and after every restart of a kind
    leak_mib_per_minute: float = LEAK_MIB_PER_MINUTE
    rasa_processes: int = 2
    hub_workers: int = 2


@dataclass
class Kill:
    number: int
    kind: str
    target: str
    pids: list[int]
    killed_at: float  # seconds since the traffic began
    back_after: float | None = None  # seconds until the stack was whole again; None: it was not
    acknowledged_after: int = 0  # customer messages acknowledged after it was back
    first_ack_after: float | None = None  # seconds from back to the first of those
    notes: list[str] = field(default_factory=list)


@dataclass
class SoakResult:
    command: str
    began: str
    machine: dict[str, str]
    code: str
    config: dict[str, Any]
    started_in: float
    traffic_seconds: float
    totals: dict[str, int]
    kills: list[Kill]
    routing: RoutingCheck
    transcripts: TranscriptCheck
    memory: list[MemoryTrend]
    errors: dict[str, int]  # the simulators', by kind
    server_errors: dict[str, dict[str, int]]  # ERROR lines and tracebacks in each kind's log
    failures: list[str]
    whole_at_checks: bool = True  # the hub's /health showed everything up before the settle period
    redis_aof: bool = False  # what a restarted Redis reloads from
    model: str = ""
    # Not failures, but what a customer would notice: a request for a person that led to no handoff, and
    # REST messages acknowledged with an empty answer.
    not_handed_off: list[str] = field(default_factory=list)
    unanswered: list[dict[str, Any]] = field(default_factory=list)
    # per kind: [seconds since the traffic began, RSS MiB, Redis used_memory MiB or None, processes]
    memory_samples: dict[str, list[list[float | int | None]]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures


# -- the run ------------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cpu": f"{cpu_model()}, {os.cpu_count()} cores, {mem_kb / 1024**2:.0f} GiB",
        "python": platform.python_version(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def wait_restored(stack: SoakStack, kill: Kill, port: int | None, timeout: float) -> float | None:
    """Seconds until the killed kind is back and the hub's /health shows everything up. A process that
    exits instead of coming back is started again (and noted)."""
    began = time.monotonic()
    deadline = began + timeout
    service = stack.services[kill.kind]
    starts = 0
    while time.monotonic() < deadline:
        code = service.exited()
        if code is not None:
            if starts == 3:
                kill.notes.append(f"{kill.kind} exited with {code} three times after the kill; given up")
                return None
            kill.notes.append(f"{kill.kind} exited with {code} after the kill; started again")
            service.start()
            starts += 1
        back = True
        if kill.kind == "rasa" and port is not None:
            back = stack.rasa_child_up(port, kill.pids[0])
        if back and health(stack.hub_url, len(stack.rasa_ports))[0]:
            return time.monotonic() - began
        time.sleep(0.25)
    kill.notes.append(f"not whole again within {timeout:.0f} s")
    return None


async def chaos(stack: SoakStack, config: SoakConfig, t0: float, planned_end: float) -> list[Kill]:
    """Kill each kind in turn, one at a time, until each had its kills or the traffic is about to end."""
    kills: list[Kill] = []
    await asyncio.sleep(config.warmup)
    counts: Counter[str] = Counter()
    turn = 0
    while True:
        if config.kills_per_kind is not None:
            due = [k for k in config.kinds if counts[k] < config.kills_per_kind]
            if not due:
                break
            kind = due[0]
        else:
            if time.monotonic() + config.tail > planned_end:
                break
            kind = config.kinds[turn % len(config.kinds)]
        turn += 1
        port = stack.rasa_ports[counts["rasa"] % len(stack.rasa_ports)] if kind == "rasa" else None
        target = f"the server on port {port}" if port is not None else "every process"
        killed_at = time.monotonic() - t0
        try:
            pids = await asyncio.to_thread(stack.kill, kind, port)
        except StackError as exc:
            kill = Kill(len(kills) + 1, kind, target, [], killed_at, notes=[f"not killed: {exc}"])
            kills.append(kill)
            counts[kind] += 1
            continue
        kill = Kill(len(kills) + 1, kind, target, pids, killed_at)
        kills.append(kill)
        counts[kind] += 1
        print(f"soak: {killed_at:6.0f} s  killed {kind} ({target})", file=sys.stderr, flush=True)
        kill.back_after = await asyncio.to_thread(wait_restored, stack, kill, port, config.restore_timeout)
        back = "not back" if kill.back_after is None else f"back after {kill.back_after:.1f} s"
        print(f"soak: {time.monotonic() - t0:6.0f} s  {kind} {back}", file=sys.stderr, flush=True)
        await asyncio.sleep(config.gap)
    return kills


async def sample_memory(
    stack: SoakStack, t0: float, samples: list[Sample], stop: asyncio.Event, every: float
) -> None:
    client = redis.Redis.from_url(stack.redis_url, socket_timeout=2, socket_connect_timeout=2)

    def used_memory() -> int | None:
        try:
            return int(client.info("memory")["used_memory"])
        except (redis.RedisError, KeyError, ValueError):
            return None

    try:
        while not stop.is_set():
            now = time.monotonic() - t0
            data = await asyncio.to_thread(used_memory)
            for kind in KINDS:
                extra = data if kind == "redis" else None
                samples.append(Sample(now, kind, stack.rss(kind), stack.pids(kind), extra))
            if await pause(stop, every):
                break
    finally:
        client.close()


@dataclass
class Drive:
    ledger: Ledger
    kills: list[Kill]
    samples: list[Sample]
    traffic_seconds: float
    whole_at_checks: bool


async def drive(stack: SoakStack, config: SoakConfig) -> Drive:
    """Traffic with chaos, then the settle period; returns what the simulators saw and the samples."""
    ledger = Ledger()
    traffic = Traffic(
        stack.hub_url,
        stack.secret("HUB_REST_TOKEN"),
        ledger,
        asyncio.Event(),
        asyncio.Event(),
        retry_pause=config.retry_pause,
    )
    agents = await create_agents(
        stack.hub_url, stack.secret("HUB_ADMIN_TOKEN"), config.agents, traffic.run_id
    )
    t0, t0_wall = time.monotonic(), time.time()
    planned_end = t0 + config.minutes * 60
    samples: list[Sample] = []
    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(sample_memory(stack, t0, samples, stop_sampling, config.sample_seconds))
    agent_tasks = [asyncio.create_task(agent_loop(traffic, agent)) for agent in agents]
    customer_tasks = [
        asyncio.create_task(customer(traffic, i, config.customers)) for i in range(config.customers)
    ]
    kills = await chaos(stack, config, t0, planned_end)
    backs = [t0 + k.killed_at + k.back_after for k in kills if k.back_after is not None]
    end = max([planned_end, *(b + config.tail for b in backs)])
    await asyncio.sleep(max(0.0, end - time.monotonic()))
    traffic.stop_customers.set()
    await asyncio.gather(*customer_tasks)  # each finishes the message in hand (ack or retry)
    traffic_seconds = time.monotonic() - t0
    print(f"soak: {traffic_seconds:6.0f} s  customers stopped; settling", file=sys.stderr, flush=True)
    whole = True
    try:
        await asyncio.to_thread(wait_healthy, stack, config.restore_timeout)
    except StackError as exc:
        whole = False
        print(f"soak: the stack is not whole before the checks: {exc}", file=sys.stderr, flush=True)
    await asyncio.sleep(config.settle)
    traffic.stop_agents.set()
    await asyncio.gather(*agent_tasks)
    stop_sampling.set()
    await sampler
    for kill in kills:
        if kill.back_after is None:
            continue
        back = t0_wall + kill.killed_at + kill.back_after
        after = sorted(s.acked_at for s in ledger.said if s.acked_at is not None and s.acked_at > back)
        kill.acknowledged_after = len(after)
        kill.first_ack_after = after[0] - back if after else None
    return Drive(ledger, kills, samples, traffic_seconds, whole)


def aof_enabled(stack: SoakStack) -> bool:
    client = stack.redis_client()
    try:
        return str(client.info("persistence").get("aof_enabled")) == "1"
    finally:
        client.close()


def requests_not_handed_off(ledger: Ledger, snapshot: dict[str, Any]) -> list[str]:
    """Conversations whose customer asked for a person (the script's first message, acknowledged: the
    hub acknowledges after the assistant's turn, handoff included) that have no handoff packet."""
    wants_person = {script.name for script in scripts() if script.wants_person}
    first: dict[str, Said] = {}
    for message in ledger.said:
        first.setdefault(message.conversation_id, message)
    conversations = snapshot.get("conversations") or {}
    return sorted(
        cid
        for cid, name in ledger.conversations.items()
        if name in wants_person
        and cid in first
        and first[cid].acked_at is not None
        and (conversations.get(cid) or {}).get("packet") != 1
    )


LOG_ERROR = re.compile(r"\b(ERROR|CRITICAL)\b\s+-?\s*([\w.]+)")


def server_errors(stack: SoakStack) -> dict[str, dict[str, int]]:
    """ERROR and CRITICAL lines (by logger) and tracebacks in each kind's log."""
    out: dict[str, dict[str, int]] = {}
    for kind, service in stack.services.items():
        found: Counter[str] = Counter()
        text = service.log.read_text(errors="replace") if service.log.exists() else ""
        for line in text.splitlines():
            match = LOG_ERROR.search(line)
            if match:
                found[f"{match.group(1)} {match.group(2)}"] += 1
            elif line.startswith("Traceback"):
                found["traceback"] += 1
        out[kind] = dict(found.most_common())
    return out


def judge(result: SoakResult) -> list[str]:
    failures = [] if result.whole_at_checks else ["the stack was not whole again before the checks"]
    lost, agent_lost = len(result.transcripts.lost), len(result.transcripts.agent_lost)
    if lost:
        failures.append(f"{lost} acknowledged customer messages are missing from their transcripts")
    if agent_lost:
        failures.append(f"{agent_lost} acknowledged agent messages are missing from their transcripts")
    routing = result.routing
    for name, found in (
        ("double assignments", routing.double_assignments),
        ("orphaned routing entries", routing.orphans),
        ("conversations without exactly one owner", routing.ownership_errors),
        ("agents whose load disagrees with their chats", routing.load_errors),
    ):
        if found:
            failures.append(f"{len(found)} {name}")
    for kill in result.kills:
        if kill.back_after is None:
            failures.append(f"kill {kill.number} ({kill.kind}): the stack was not whole again")
        elif kill.acknowledged_after == 0:
            failures.append(f"kill {kill.number} ({kill.kind}): no message acknowledged after it was back")
    for trend in result.memory:
        if trend.leak:
            failures.append(
                f"{trend.kind}: memory grows {trend.slope_mib_per_minute:.2f} MiB/min after warm-up "
                f"(threshold {trend.threshold_mib_per_minute:g})"
            )
    return failures


def run_soak(config: SoakConfig, command: str, logs: Path | None = None) -> SoakResult:
    began = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    info = machine()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        stack = start_stack(Path(tmp), rasa_processes=config.rasa_processes, hub_workers=config.hub_workers)
        print(f"soak: stack up in {stack.started_in:.0f} s", file=sys.stderr, flush=True)
        try:
            aof = aof_enabled(stack)
            run = asyncio.run(drive(stack, config))
            ledger, kills, samples, traffic_seconds = run.ledger, run.kills, run.samples, run.traffic_seconds
            client = stack.redis_client()
            try:
                snapshot = routing_snapshot(client)
                routing = check_routing(snapshot)
                transcripts = check_transcripts(
                    ledger.said, ledger.agent_said, read_transcripts(client, ledger.conversations)
                )
            finally:
                client.close()
            errors = server_errors(stack)
        finally:
            stack.stop()
            if logs is not None:
                logs.mkdir(parents=True, exist_ok=True)
                for service in stack.services.values():
                    if service.log.exists():
                        shutil.copy2(service.log, logs / service.log.name)
    memory = [
        memory_trend(samples, kind, config.memory_warmup, config.leak_mib_per_minute, MIN_JUDGED_MINUTES)
        for kind in KINDS
    ]
    said = ledger.said
    acked = [s for s in said if s.acked_at is not None]
    not_handed_off = requests_not_handed_off(ledger, snapshot)
    # Over REST even a message that waits for a person is answered (with a notice): [] is the assistant
    # saying nothing.
    unanswered = [{"conversation_id": s.conversation_id, "text": s.text} for s in acked if s.replies == 0]
    totals = {
        "conversations": len(ledger.conversations),
        "widget conversations": sum(cid.startswith("web-") for cid in ledger.conversations),
        "REST conversations": sum(cid.startswith("rest-") for cid in ledger.conversations),
        "messages sent": len(said),
        "acknowledged": len(acked),
        "acknowledged on the retry": sum(s.attempts == 2 for s in acked),
        "not acknowledged (unsent)": len(said) - len(acked),
        "lost (acknowledged, not stored)": len(transcripts.lost),
        "stored but never acknowledged": transcripts.stored_unacknowledged,
        "agent messages acknowledged": transcripts.agent_acknowledged,
        "agent messages lost": len(transcripts.agent_lost),
        "handoffs (conversations with a packet)": routing.handoffs,
        "asked for a person, not handed off": len(not_handed_off),
        "REST messages answered with nothing": len(unanswered),
        "offers accepted": ledger.accepted,
        "chats resolved": ledger.resolved,
        "agents set online again": ledger.online_again,
        **{f"kills: {kind}": sum(k.kind == kind for k in kills) for kind in config.kinds},
        "double assignments": len(routing.double_assignments),
        "orphaned routing entries": len(routing.orphans),
        "ownership errors": len(routing.ownership_errors),
        "agent load errors": len(routing.load_errors),
    }
    result = SoakResult(
        command=command,
        began=began,
        machine=info,
        code=git_state(ROOT),
        config={k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        started_in=stack.started_in,
        traffic_seconds=traffic_seconds,
        totals=totals,
        kills=kills,
        routing=routing,
        transcripts=transcripts,
        memory=memory,
        errors=dict(ledger.errors.most_common()),
        server_errors=errors,
        failures=[],
        whole_at_checks=run.whole_at_checks,
        redis_aof=aof,
        model=stack.model,
        not_handed_off=not_handed_off,
        unanswered=unanswered,
    )
    for sample in samples:
        data = None if sample.data is None else round(sample.data / 2**20, 2)
        row: list[float | int | None] = [
            round(sample.t, 1),
            round(sample.rss / 2**20, 2),
            data,
            len(sample.pids),
        ]
        result.memory_samples.setdefault(sample.kind, []).append(row)
    result.failures = judge(result)
    return result


# -- the report ------------------------------------------------------------------------------------------


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def markdown(result: SoakResult) -> str:
    config = result.config
    lines = [
        "# Chaos soak",
        "",
        f"Run {result.began}; {result.machine['cpu']}; Python {result.machine['python']}; load at start "
        f"{result.machine['load']}; code {result.code}; model {result.model}.",
        f"`{result.command}`: {config['customers']} customers (widget and REST, English and Chinese), "
        f"{config['agents']} agents; RASA_PROCESSES={config['rasa_processes']}, "
        f"HUB_WORKERS={config['hub_workers']}; stack up in {result.started_in:.0f} s, traffic "
        f"{result.traffic_seconds / 60:.1f} min, first kill after {config['warmup']:g} s, "
        f"{config['gap']:g} s between a kind coming back and the next kill, {config['settle']:g} s settle; "
        f"Redis AOF {'on' if result.redis_aof else '**off**'}.",
        "",
        f"**{'Passed' if result.passed else 'Failed'}**"
        + ("." if result.passed else ": " + "; ".join(result.failures) + "."),
        "",
        "## Totals",
        "",
        "| | |",
        "| --- | ---: |",
        *(f"| {name} | {value} |" for name, value in result.totals.items()),
        "",
        "## Kills",
        "",
        "| # | kind | what | killed at (s) | whole again after (s) | acknowledged after | first after (s) "
        "| notes |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for kill in result.kills:
        back = "never" if kill.back_after is None else f"{kill.back_after:.1f}"
        first = "—" if kill.first_ack_after is None else f"{kill.first_ack_after:.1f}"
        lines.append(
            f"| {kill.number} | {kill.kind} | {kill.target} | {kill.killed_at:.0f} | {back} "
            f"| {kill.acknowledged_after} | {first} | {'; '.join(kill.notes)} |"
        )
    routing, transcripts = result.routing, result.transcripts
    stored = transcripts.acknowledged - len(transcripts.lost)
    agent_stored = transcripts.agent_acknowledged - len(transcripts.agent_lost)
    lines += [
        "",
        "## Invariants (read from Redis)",
        "",
        f"- Acknowledged customer messages in their transcripts: {stored} of {transcripts.acknowledged}; "
        f"agent messages: {agent_stored} of {transcripts.agent_acknowledged}.",
        f"- Conversations: {routing.conversations}, by owner "
        + ", ".join(f"{owner} {count}" for owner, count in routing.owners.items())
        + ".",
        f"- Not exactly one owner: {len(routing.ownership_errors)}; with two agents: "
        f"{len(routing.double_assignments)}; orphaned queue, waiting, offer or chat entries: "
        f"{len(routing.orphans)}; agents whose active count disagrees with their chats: "
        f"{len(routing.load_errors)}.",
    ]
    problems = (
        [f"lost: {m['conversation_id']} ({m['channel']}) {m['text']!r}" for m in transcripts.lost]
        + [f"agent message lost: {m['conversation_id']} {m['text']!r}" for m in transcripts.agent_lost]
        + routing.ownership_errors
        + routing.double_assignments
        + routing.orphans
        + routing.load_errors
    )
    if problems:
        lines += ["", "First findings:", "", *(f"- {p}" for p in problems[:20])]
    if result.not_handed_off or result.unanswered:
        lines += [
            "",
            "Not counted as failures, but a customer would notice (most come from a process that was "
            "down during the turn: see the kills above):",
            "",
            *(f"- asked for a person, not handed off: {cid}" for cid in result.not_handed_off[:10]),
            *(
                f"- answered with nothing: {m['conversation_id']} {m['text']!r}"
                for m in result.unanswered[:10]
            ),
        ]
    lines += [
        "",
        "## Memory",
        "",
        f"Sampled every {config['sample_seconds']:g} s (RSS from /proc/<pid>/status, summed over a kind's "
        f"processes). The slope is fitted over the second half of the run within each incarnation of a kind "
        f"(a restart starts a new one), leaving out {config['memory_warmup']:g} s after the start and after "
        f"each restart; a leak is flagged above {config['leak_mib_per_minute']:g} MiB/min (bench/soak.py "
        f"says why) when that half spans at least {MIN_JUDGED_MINUTES:g} min.",
        "",
        "| kind | first MiB | last MiB | slope MiB/min | of | second half (min) | incarnations | leak |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for trend in result.memory:
        slope = "—" if trend.slope_mib_per_minute is None else f"{trend.slope_mib_per_minute:+.2f}"
        verdict = "**yes**" if trend.leak else "no" if trend.judged else "not judged"
        lines.append(
            f"| {trend.kind} | {_mib(trend.first_mib)} | {_mib(trend.last_mib)} | {slope} | {trend.measure} "
            f"| {trend.span_minutes:.1f} | {trend.incarnations} | {verdict} |"
        )
    lines += ["", "## Errors by kind", "", "What the simulated customers and agents met:", ""]
    lines += [f"- {name}: {count}" for name, count in result.errors.items()] or ["- none"]
    lines += ["", "ERROR lines and tracebacks in each process kind's log:", ""]
    for kind, found in result.server_errors.items():
        described = ", ".join(f"{name} {count}" for name, count in found.items()) or "none"
        lines.append(f"- {kind}: {described}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = SoakConfig()
    parser.add_argument("--minutes", type=float, default=defaults.minutes, help="traffic, chaos included")
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--agents", type=int, default=defaults.agents)
    parser.add_argument("--warmup", type=float, default=defaults.warmup, help="seconds before the first kill")
    parser.add_argument("--gap", type=float, default=defaults.gap, help="seconds after a kind is back")
    parser.add_argument("--settle", type=float, default=defaults.settle)
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(defaults.kinds))
    parser.add_argument("--kills-per-kind", type=int, default=None, help="default: until the traffic ends")
    parser.add_argument("--sample-seconds", type=float, default=defaults.sample_seconds)
    parser.add_argument("--leak-mib-per-minute", type=float, default=defaults.leak_mib_per_minute)
    parser.add_argument("--out", type=Path, default=RESULTS, help="the markdown report")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    parser.add_argument("--logs", type=Path, default=None, help="keep each process kind's log here")
    args = parser.parse_args(argv)
    config = SoakConfig(
        minutes=args.minutes,
        customers=args.customers,
        agents=args.agents,
        warmup=args.warmup,
        gap=args.gap,
        settle=args.settle,
        kinds=tuple(args.kinds),
        kills_per_kind=args.kills_per_kind,
        sample_seconds=args.sample_seconds,
        leak_mib_per_minute=args.leak_mib_per_minute,
    )
    given = shlex.join(sys.argv[1:] if argv is None else argv)
    command = f"PYTHONPATH=. nice -n 5 .venv/bin/python -m bench.soak {given}".rstrip()
    result = run_soak(config, command, args.logs)
    text = markdown(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2, ensure_ascii=False) + "\n")
    print(text)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())

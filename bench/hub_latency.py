"""Hub overhead: the same conversations through the handoff service (hub) and straight to Rasa.

Starts the whole stack (scripts/run.sh under honcho, real model, real action server, embedded Redis) on free
ports in a temporary directory, the way tests/e2e/conftest.py does, waits for GET /health, and then runs
rounds of 20 concurrent conversations (one asyncio task each, its messages sent one after another):

- hub:    POST {hub}/webhooks/rest/webhook {"sender", "message"}: the hub stores the message in Redis,
          forwards it to Rasa's token-protected `hub` channel and stores the replies;
- direct: POST {rasa}/webhooks/hub/webhook with the channel token and {"metadata": {"channel": "rest"}},
          i.e. the request the hub itself makes: the same Rasa processing without the hub.

Both arms send the same messages (greetings, thanks, order status with real order numbers, shipping and
warranty questions answered from the knowledge base, in English and Chinese), each round with fresh sender
ids. Rounds are interleaved hub/direct/direct/hub/... (ABBA) after one warm-up round per arm, so drifting
machine load hits both arms alike. Every reply is checked (HTTP 200, at least one message, no hand-off);
afterwards Redis is checked for hand-offs of the benchmark's conversations. Writes
bench/results/hub_latency.md.

    PYTHONPATH=. nice -n 5 .venv/bin/python bench/hub_latency.py [--rounds 4] [--messages 6] [--single 12]
        [--conversations 20] [--rasa-timeout 60]                   # about 3-4 minutes
    PYTHONPATH=. nice -n 5 .venv/bin/python bench/hub_latency.py --probe   # print two conversations' replies
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis
import yaml

from bench.machine import cpu_model
from bench.stack import Stack, git_state, start_stack, stop_stack
from handoff import keys

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "hub_latency.md"
REQUEST_TIMEOUT = 60.0
# The hub accepts at most 10,000 messages per sender per minute (handoff/settings.py); the benchmark's
# senders send a few dozen, so the limiter never rejects one but still runs on every message. All of them
# come from one address, so the per-address limit is raised the same way.
MESSAGES_PER_MINUTE = "10000"
MESSAGES_PER_MINUTE_PER_ADDRESS = "1000000"


def stack_settings(rasa_timeout: float) -> dict[str, str]:
    """The stack's rate limits opened for the load, and the hub's timeout for Rasa."""
    return {
        "HUB_MESSAGES_PER_MINUTE": MESSAGES_PER_MINUTE,
        "HUB_MESSAGES_PER_MINUTE_PER_ADDRESS": MESSAGES_PER_MINUTE_PER_ADDRESS,
        "RASA_TIMEOUT": str(rasa_timeout),
    }


TARGET_RATIO, TARGET_RATE = 1.2, 50.0
HUB, DIRECT = "hub", "direct"


# -- the conversations ----------------------------------------------------------------------------------


def orders() -> dict[str, list[str]]:
    """Order numbers from the demo order store whose status the assistant reports without a hand-off."""
    seed = yaml.safe_load((ROOT / "data" / "orders" / "orders.yml").read_text("utf-8"))
    chosen: dict[str, list[str]] = {"USD": [], "CNY": []}
    for order in seed["orders"]:
        if order["status"] in ("shipped", "delivered", "paid") and order.get("currency") in chosen:
            chosen[order["currency"]].append(order["id"])
    return chosen


def plans(conversations: int) -> list[list[str]]:
    """One message cycle per conversation: even conversations in English, odd ones in Chinese."""
    ids = orders()
    out = []
    for i in range(conversations):
        if i % 2 == 0:
            order = ids["USD"][i // 2 % len(ids["USD"])]
            out.append([
                "hi",
                f"where is my order {order}?",
                "thanks!",
                "how much does shipping cost?",
                "what warranty do electronics come with",
                f"can you check order {order} again",
                "do you ship to Canada?",
                "thank you, bye",
            ])  # fmt: skip
        else:
            order = ids["CNY"][i // 2 % len(ids["CNY"])]
            out.append([
                "你好",
                f"我的订单{order.removeprefix('SO-')}到哪了",
                "谢谢",
                "运费怎么收的，多少钱包邮",
                "电子产品保修多久",
                f"订单{order}现在什么状态",
                "多久能发货",
                "好的谢谢，再见",
            ])  # fmt: skip
    return out


# -- CPU per process ------------------------------------------------------------------------------------

ROLES = {
    "hub": "-m handoff",
    "rasa": "-m bot.serve",  # Rasa runs inside its launcher process (bot/serve.py)
    "actions": "actions.server",
    "redis": "redis-server",
}


def _proc_table() -> Iterator[tuple[int, int, str]]:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        yield int(entry.name), ppid, cmdline


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, ppid, _ in _proc_table():
        children.setdefault(ppid, []).append(pid)
    mine, todo = [], [root]
    while todo:
        pid = todo.pop()
        mine.append(pid)
        todo.extend(children.get(pid, []))
    return mine


def stack_processes(root: int) -> dict[str, list[int]]:
    """The stack's processes by role: descendants of run.sh (honcho and its children)."""
    mine = set(_descendants(root))
    roles: dict[str, list[int]] = {role: [] for role in ROLES}
    for pid, _, cmdline in _proc_table():
        if pid in mine:
            for role, marker in ROLES.items():
                if marker in cmdline:
                    roles[role].append(pid)
    return roles


def other_stacks(root: int) -> int:
    """Stacks (honcho) running outside this benchmark's (e.g. end-to-end tests)."""
    mine = set(_descendants(root))
    honcho = {pid: ppid for pid, ppid, cmd in _proc_table() if "honcho" in cmd and "Procfile" in cmd}
    # honcho forks a helper per process it runs; count only the top one of each stack.
    return sum(1 for pid, ppid in honcho.items() if ppid not in honcho and pid not in mine)


def cpu_seconds(pids: Sequence[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def cpu_snapshot(roles: dict[str, list[int]]) -> dict[str, float]:
    return {role: cpu_seconds(pids) for role, pids in roles.items()}


# -- the load -------------------------------------------------------------------------------------------


@dataclass
class Round:
    arm: str
    index: int | str
    latencies: list[float] = field(default_factory=list)  # ms
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    empty: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # seconds per role during the round
    load: float = 0.0
    others: int = 0  # stacks running on the machine besides this one
    senders: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


class Target:
    def __init__(self, stack: Stack, tokens: dict[str, str]) -> None:
        self.root = stack.proc.pid
        self.urls = {
            HUB: f"{stack.hub_url}/webhooks/rest/webhook",
            DIRECT: f"{stack.rasa_url}/webhooks/hub/webhook",
        }
        self.headers = {
            HUB: {"Authorization": f"Bearer {tokens['HUB_REST_TOKEN']}"},
            DIRECT: {"Authorization": f"Bearer {tokens['RASA_CHANNEL_TOKEN']}"},
        }

    def body(self, arm: str, sender: str, text: str) -> dict[str, Any]:
        if arm == HUB:
            return {"sender": sender, "message": text}
        return {"sender": sender, "message": text, "metadata": {"channel": "rest"}}


async def conversation(
    client: httpx.AsyncClient, target: Target, arm: str, sender: str, messages: Sequence[str], out: Round
) -> None:
    for text in messages:
        began = time.perf_counter()
        try:
            response = await client.post(
                target.urls[arm], json=target.body(arm, sender, text), headers=target.headers[arm]
            )
        except httpx.HTTPError as exc:
            out.failures.append(f"{sender}: {text!r}: {type(exc).__name__}")
            continue
        elapsed = (time.perf_counter() - began) * 1000
        if response.status_code != 200:
            out.failures.append(f"{sender}: {text!r}: HTTP {response.status_code} {response.text[:120]}")
            continue
        body = response.json()
        if not isinstance(body, list):
            out.failures.append(f"{sender}: {text!r}: unexpected body {str(body)[:120]}")
            continue
        if not body:
            out.empty += 1  # the hub answers [] when a person owns the conversation: not a bot answer
            continue
        out.latencies.append(elapsed)


async def run_round(
    client: httpx.AsyncClient,
    target: Target,
    arm: str,
    index: int | str,
    label: str,
    conversations: Sequence[Sequence[str]],
    roles: dict[str, list[int]],
) -> Round:
    result = Round(arm, index, load=os.getloadavg()[0], others=other_stacks(target.root))
    result.senders = [f"bench-{label}-{arm}-{index}-c{i}" for i in range(len(conversations))]
    before = cpu_snapshot(roles)
    began = time.perf_counter()
    await asyncio.gather(
        *(
            conversation(client, target, arm, sender, messages, result)
            for sender, messages in zip(result.senders, conversations, strict=True)
        )
    )
    result.seconds = time.perf_counter() - began
    after = cpu_snapshot(roles)
    result.cpu = {role: after[role] - before[role] for role in roles}
    return result


def schedule(rounds: int) -> list[str]:
    """ABBA: hub, direct, direct, hub, hub, direct, ... (rounds per arm)."""
    order = []
    for i in range(rounds):
        order += [HUB, DIRECT] if i % 2 == 0 else [DIRECT, HUB]
    return order


def cycle(plan: Sequence[str], start: int, count: int) -> list[str]:
    return [plan[(start + k) % len(plan)] for k in range(count)]


async def benchmark(stack: Stack, args: argparse.Namespace, label: str) -> dict[str, Any]:
    target = Target(stack, stack.secrets())
    roles = stack_processes(stack.proc.pid)
    base = plans(args.conversations)
    limits = httpx.Limits(
        max_connections=args.conversations * 2, max_keepalive_connections=args.conversations
    )
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT, limits=limits) as client:
        warmup = []
        for arm in (HUB, DIRECT):
            convs = [cycle(p, 0, args.warmup) for p in base]
            warmup.append(await run_round(client, target, arm, 0, label, convs, roles))
        measured = []
        for n, arm in enumerate(schedule(args.rounds), start=1):
            # Both arms of a pair get the same messages; the starting point moves with each pair.
            convs = [cycle(p, (n - 1) // 2 * 3 + i, args.messages) for i, p in enumerate(base)]
            measured.append(await run_round(client, target, arm, n, label, convs, roles))
            progress(measured[-1])
        # One conversation at a time: the hub's own cost per message, without 20-deep queueing in Rasa.
        single = []
        for n, arm in enumerate(schedule(2), start=1):
            convs = [cycle(base[(n - 1) // 2 % len(base)], 0, args.single)]
            single.append(await run_round(client, target, arm, f"s{n}", label, convs, roles))
            progress(single[-1])
    everyone = [s for r in warmup + measured + single for s in r.senders]
    handoffs = count_handoffs(stack, everyone)
    return {"warmup": warmup, "rounds": measured, "single": single, "handoffs": handoffs, "roles": roles}


def progress(done: Round) -> None:
    p50 = pct(done.latencies, 50) if done.latencies else float("nan")
    print(
        f"round {done.index!s:>3} {done.arm:6s} {len(done.latencies)} msgs in {done.seconds:5.1f} s "
        f"({done.rate:5.1f}/s), p50 {p50:7.1f} ms, load {done.load:.2f}, "
        f"failures {len(done.failures)}, no reply {done.empty}",
        flush=True,
    )


def conversation_id(sender: str) -> str:
    """The hub keeps REST senders in a namespace of their own (`rest-<sender>`, also Rasa's sender id);
    the direct arm talks to Rasa with the sender itself."""
    return f"rest-{sender}" if f"-{HUB}-" in sender else sender


def count_handoffs(stack: Stack, senders: Sequence[str]) -> dict[str, int]:
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    conversations = [conversation_id(s) for s in senders]
    try:
        pipe = client.pipeline(transaction=False)
        for conversation in conversations:
            pipe.exists(keys.handoff_packet(conversation))
        found = pipe.execute()
        hub_conversations = sum(1 for s in senders if f"-{HUB}-" in s)
        stored = sum(client.xlen(keys.transcript(conversation_id(s))) for s in senders if f"-{HUB}-" in s)
        # Rasa's trackers (default key prefix): proves this stack's Rasa used this stack's Redis.
        trackers = sum(client.exists(f"tracker:{c}") for c in conversations)
    finally:
        client.close()
    return {
        "handoffs": sum(1 for f in found if f),
        "hub_conversations": hub_conversations,
        "transcript_entries": stored,
        "trackers": trackers,
        "conversations": len(senders),
    }


async def probe(stack: Stack, args: argparse.Namespace) -> None:
    target = Target(stack, stack.secrets())
    senders = [f"probe-{int(time.time())}-{i}" for i in range(2)]
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as client:
        for sender, plan in zip(senders, plans(2), strict=True):
            for text in plan:
                response = await client.post(
                    target.urls[DIRECT],
                    json=target.body(DIRECT, sender, text),
                    headers=target.headers[DIRECT],
                )
                texts = [str(m.get("text", ""))[:90].replace("\n", " ") for m in response.json()]
                print(f"{text!r} -> {response.status_code} {texts}")
    print(count_handoffs(stack, senders))


# -- report ---------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = cpu_model()
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores, {platform.machine()}, {mem_kb / 1024**2:.0f} GiB",
        "python": platform.python_version(),
        "libraries": f"httpx {httpx.__version__}, redis-py {redis.__version__}",
    }


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q))


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def summary(rounds: Sequence[Round], arm: str) -> dict[str, Any]:
    mine = [r for r in rounds if r.arm == arm]
    latencies = [x for r in mine for x in r.latencies]
    seconds = sum(r.seconds for r in mine)
    cpu = {role: sum(r.cpu.get(role, 0.0) for r in mine) for role in ROLES}
    return {
        "n": len(latencies),
        "p50": pct(latencies, 50),
        "p95": pct(latencies, 95),
        "p99": pct(latencies, 99),
        "mean": float(np.mean(latencies)),
        "max": max(latencies),
        "rate": len(latencies) / seconds,
        "seconds": seconds,
        "failures": sum(len(r.failures) for r in mine),
        "empty": sum(r.empty for r in mine),
        "cpu_ms": {role: 1000 * value / len(latencies) for role, value in cpu.items()},
        "rounds": mine,
    }


def _arm_rows(pairs: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    rows = [
        "| arm | messages | p50 | p95 | p99 | mean | max | messages/s | failed | no reply |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in pairs:
        rows.append(
            f"| {name} | {s['n']} | {s['p50']:.0f} | {s['p95']:.0f} | {s['p99']:.0f} | {s['mean']:.0f} | "
            f"{s['max']:.0f} | {s['rate']:.1f} | {s['failures']} | {s['empty']} |"
        )
    (_, hub), (_, direct) = pairs
    rows.append(
        f"| **hub ÷ direct** | | **{hub['p50'] / direct['p50']:.2f}** | "
        f"**{hub['p95'] / direct['p95']:.2f}** | "
        f"{hub['p99'] / direct['p99']:.2f} | {hub['mean'] / direct['mean']:.2f} | | "
        f"{hub['rate'] / direct['rate']:.2f} | | |"
    )
    rows.append(
        f"| hub − direct, ms | | {hub['p50'] - direct['p50']:+.0f} | {hub['p95'] - direct['p95']:+.0f} | "
        f"{hub['p99'] - direct['p99']:+.0f} | {hub['mean'] - direct['mean']:+.0f} | | | | |"
    )
    return rows


def _cpu_rows(pairs: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    rows = ["| arm | hub | rasa | actions | redis | sum |", "| --- | --- | --- | --- | --- | --- |"]
    for name, s in pairs:
        c = s["cpu_ms"]
        rows.append(
            f"| {name} | {c['hub']:.1f} | {c['rasa']:.1f} | {c['actions']:.1f} | {c['redis']:.1f} | "
            f"{sum(c.values()):.1f} |"
        )
    return rows


def report(ctx: dict[str, Any]) -> str:
    hub, direct = ctx["hub"], ctx["direct"]
    r50, r95 = hub["p50"] / direct["p50"], hub["p95"] / direct["p95"]
    rate = hub["rate"]
    m = ctx["machine"]
    lines = [
        "# Hub overhead: through the handoff service vs straight to Rasa",
        "",
        f"Run: {ctx['date']}, {ctx['duration']:.0f} s in all (stack start {ctx['startup']:.0f} s). Command:",
        "",
        "```",
        ctx["command"],
        "```",
        "",
        f"Machine: {m['cpu']}; Python {m['python']}; {m['libraries']}. Git: {ctx['git']}.",
        f"1-minute load average: {ctx['load_before']:.2f} at the start, "
        f"{ctx['load_min']:.2f}–{ctx['load_max']:.2f} at the rounds' starts, {ctx['load_after']:.2f} at "
        "the end. Other stacks (honcho, e.g. end-to-end tests) running on the machine at the "
        f"rounds' starts: {ctx['others_min']}–{ctx['others_max']}. The benchmark client, Redis, the hub, "
        "Rasa and the action server all share the two cores; the benchmark ran at nice 5.",
        "",
        f"Stack: scripts/run.sh on free ports, model `{ctx['model']}`, real action server, embedded Redis, "
        f"one hub worker, RASA_TIMEOUT={ctx['rasa_timeout']:g} s (the default is 10 s, see the notes), "
        f"HUB_MESSAGES_PER_MINUTE={MESSAGES_PER_MINUTE}. Load: {ctx['conversations']} concurrent "
        "conversations (one asyncio task each, messages sent one after another, new sender ids every round), "
        f"{ctx['messages']} messages per conversation per round, {ctx['rounds']} rounds per arm interleaved "
        f"ABBA after a warm-up round per arm ({ctx['warmup']} messages per conversation, not counted). Same "
        "messages in both arms: greetings, thanks, order status with real order numbers, shipping and "
        "warranty questions answered from the knowledge base; half the conversations in English, half in "
        "Chinese.",
        "",
        "- **hub**: `POST {hub}/webhooks/rest/webhook` (rate limit, store in Redis, forward to Rasa's hub "
        "channel, store the replies);",
        "- **direct**: `POST {rasa}/webhooks/hub/webhook` with the channel token: the same Rasa work without "
        "the hub.",
        "",
        "Latency per message in ms, from sending the request to having the whole reply; messages/s = "
        "answered messages ÷ summed wall time of the arm's rounds (end to end, all conversations at once); "
        '"failed" = timeouts and non-200 answers, "no reply" = an empty list (the hub answers so once '
        "a conversation has been handed off); neither is counted in the latencies.",
        "",
        f"### {ctx['conversations']} concurrent conversations",
        "",
        *_arm_rows([("hub", hub), ("direct", direct)]),
        "",
        "Targets:",
        "",
        f"- p50 ratio hub ÷ direct ≤ {TARGET_RATIO}: {r50:.2f}, {verdict(r50 <= TARGET_RATIO)};",
        f"- p95 ratio hub ÷ direct ≤ {TARGET_RATIO}: {r95:.2f}, {verdict(r95 <= TARGET_RATIO)};",
        f"- ≥ {TARGET_RATE:.0f} messages/s end to end (through the hub): {rate:.1f}/s, "
        f"{verdict(rate >= TARGET_RATE)} (direct to Rasa: {direct['rate']:.1f}/s);",
        "- p50/p95/p99 reported: done (above).",
        "",
        "CPU time per answered message of each process of the stack (ms, user + system, all rounds of the "
        "arm):",
        "",
        *_cpu_rows([("hub", hub), ("direct", direct)]),
        "",
        f"### One conversation at a time ({ctx['single']} messages per round, rounds ABBA)",
        "",
        "No queueing in Rasa, so the difference is the hub's own cost per message:",
        "",
        *_arm_rows([("hub", ctx["single_hub"]), ("direct", ctx["single_direct"])]),
        "",
        *_cpu_rows([("hub", ctx["single_hub"]), ("direct", ctx["single_direct"])]),
        "",
        "### Per round (in the order run)",
        "",
        "| round | arm | messages | seconds | messages/s | p50 | p95 | p99 | load | other stacks | failed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in ctx["all_rounds"]:
        lines.append(
            f"| {r.index or 'warm-up'} | {r.arm} | {len(r.latencies)} | {r.seconds:.1f} | {r.rate:.1f} | "
            f"{pct(r.latencies, 50):.0f} | {pct(r.latencies, 95):.0f} | {pct(r.latencies, 99):.0f} | "
            f"{r.load:.2f} | {r.others} | {len(r.failures) + r.empty} |"
        )
    checks = ctx["handoffs"]
    lines += [
        "",
        f"Checks: hand-offs among the benchmark's conversations: {checks['handoffs']}; transcript entries "
        f"the hub stored for its {checks['hub_conversations']} conversations: "
        f"{checks['transcript_entries']}; Rasa trackers in this stack's Redis: {checks['trackers']} of "
        f"{checks['conversations']} conversations.",
    ]
    failures = [f for r in ctx["all_rounds"] for f in r.failures][:10]
    if failures:
        lines += ["", "First failures:", "", *[f"- `{f}`" for f in failures]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--messages", type=int, default=6, help="per conversation per round")
    parser.add_argument("--rounds", type=int, default=4, help="per arm")
    parser.add_argument("--warmup", type=int, default=3, help="messages per conversation in the warm-up")
    parser.add_argument(
        "--probe", action="store_true", help="print the replies to two conversations and stop"
    )
    parser.add_argument("--single", type=int, default=12, help="messages per round, one conversation")
    parser.add_argument("--rasa-timeout", type=float, default=60.0, help="the hub's RASA_TIMEOUT, s")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    began = time.monotonic()
    load_before = os.getloadavg()[0]
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    label = datetime.now(timezone.utc).strftime("%H%M%S")
    with tempfile.TemporaryDirectory(prefix="hub-latency-") as tmp:
        work = Path(tmp)
        print("starting the stack ...", flush=True)
        stack = start_stack(work, settings=stack_settings(args.rasa_timeout))
        try:
            print(f"stack healthy in {stack.started_in:.0f} s", flush=True)
            if args.probe:
                asyncio.run(probe(stack, args))
                return
            result = asyncio.run(benchmark(stack, args, label))
        except BaseException:
            print((work / "stack.log").read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            stop_stack(stack)
    rounds = result["rounds"]
    ctx = {
        "date": date,
        "duration": time.monotonic() - began,
        "startup": stack.started_in,
        "command": "PYTHONPATH=. "
        + shlex.join(["nice", "-n", "5", ".venv/bin/python", "bench/hub_latency.py", *sys.argv[1:]]),
        "machine": machine(),
        "git": git_state(ROOT),
        "model": stack.model,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "load_min": min(r.load for r in rounds),
        "load_max": max(r.load for r in rounds),
        "others_min": min(r.others for r in rounds),
        "others_max": max(r.others for r in rounds),
        "rasa_timeout": args.rasa_timeout,
        "single": args.single,
        "single_hub": summary(result["single"], HUB),
        "single_direct": summary(result["single"], DIRECT),
        "conversations": args.conversations,
        "messages": args.messages,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "hub": summary(rounds, HUB),
        "direct": summary(rounds, DIRECT),
        "all_rounds": result["warmup"] + rounds + result["single"],
        "handoffs": result["handoffs"],
    }
    text = report(ctx)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

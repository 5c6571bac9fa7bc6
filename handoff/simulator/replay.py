"""What-if replay: recorded handoffs re-run under other routing weights.

The rows come from the analytics store's `handoff_records` (ts, queue, language, wait, handle, agent_id,
recontacted). Each handoff arrives again at its recorded time in its recorded queue, and keeps what the
record says about the customer:

- its handle time: the recorded one divided by the recording agent's proficiency slowdown, so another
  agent takes it at their own speed (handle times in records already include whatever concurrency there
  was, so the replay adds none);
- its patience: a customer who left after waiting w seconds waits w again; one who was answered after w
  seconds would have waited w plus an exponential remainder (patience is memoryless, so this is the exact
  conditional draw);
- its outcome: the resolution draw is conditioned on the record, so the same agent resolves it exactly as
  recorded and another agent resolves it with their own chance, coupled to the record.

Agents are online when the records show them working: from their first answer to the end of their last
chat, split where they were idle for more than `presence_gap` seconds. Each agent's own effect on
resolution is estimated from the records (their resolved share against what the model expects for their
chats, shrunk toward 0). Several seeds are pooled into one report.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import random
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from handoff.routing.config import RoutingConfig, Weights
from handoff.simulator.engine import simulate
from handoff.simulator.model import LANGUAGES, AgentTotals, Arrival, ResolutionModel, RunResult, SimAgent
from handoff.simulator.policies import WeightedPolicy
from handoff.simulator.report import METRICS, SERVICE_LEVEL_SECONDS, Report, build_report, percentile

PRESENCE_GAP = 2 * 3600.0
EFFECT_PRIOR_CHATS = 30.0  # an agent's estimated effect counts fully only after many more chats than this


class ReplayError(ValueError):
    """A record or agent that cannot be replayed; the message names the row and field."""


@dataclass(frozen=True)
class HandoffRecord:
    ts: float
    queue: str
    language: str
    wait: float | None
    handle: float | None
    agent_id: str | None
    recontacted: bool | None

    @property
    def answered(self) -> bool:
        return self.agent_id is not None and self.wait is not None


def parse_records(rows: Iterable[Mapping[str, Any] | HandoffRecord]) -> list[HandoffRecord]:
    """Rows as `handoff_records` returns them (HandoffRecord values pass through); a malformed row raises
    ReplayError naming it."""
    out = []
    for i, row in enumerate(rows):
        if isinstance(row, HandoffRecord):
            out.append(row)
            continue
        where = f"records[{i}]"
        if not isinstance(row, Mapping):
            raise ReplayError(f"{where} must be a mapping")
        ts = _seconds(row.get("ts"), f"{where}.ts")
        queue = row.get("queue")
        if not isinstance(queue, str) or not queue:
            raise ReplayError(f"{where}.queue must be a skill name")
        language = row.get("language")
        if language not in LANGUAGES:
            raise ReplayError(f"{where}.language must be one of {', '.join(LANGUAGES)}")
        agent_id = row.get("agent_id")
        if agent_id is not None and (not isinstance(agent_id, str) or not agent_id):
            raise ReplayError(f"{where}.agent_id must be an agent id or null")
        recontacted = row.get("recontacted")
        if recontacted is not None and not isinstance(recontacted, bool | int):
            raise ReplayError(f"{where}.recontacted must be true, false or null")
        out.append(
            HandoffRecord(
                ts=ts,
                queue=queue,
                language=str(language),
                wait=_optional_seconds(row.get("wait"), f"{where}.wait"),
                handle=_optional_seconds(row.get("handle"), f"{where}.handle"),
                agent_id=agent_id,
                recontacted=None if recontacted is None else bool(recontacted),
            )
        )
    return out


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ReplayError(f"{where} must be a non-negative number")
    return float(value)


def _optional_seconds(value: Any, where: str) -> float | None:
    if value is None:
        return None
    try:
        return _seconds(value, where)
    except ReplayError:
        raise ReplayError(f"{where} must be a non-negative number or null") from None


def agents_from_rows(rows: Iterable[Mapping[str, Any] | SimAgent]) -> list[SimAgent]:
    """Agents as the routing engine lists them (id, languages, skills, capacity, rating_average,
    rating_count); SimAgent values pass through."""
    out = []
    for i, row in enumerate(rows):
        if isinstance(row, SimAgent):
            out.append(row)
            continue
        where = f"agents[{i}]"
        if not isinstance(row, Mapping):
            raise ReplayError(f"{where} must be a mapping")
        agent_id = row.get("id")
        if not isinstance(agent_id, str) or not agent_id:
            raise ReplayError(f"{where}.id must be an agent id")
        languages = row.get("languages")
        if not isinstance(languages, list | tuple | frozenset | set) or not languages:
            raise ReplayError(f"{where}.languages must be a non-empty list")
        skills = row.get("skills")
        if not isinstance(skills, Mapping) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1 for v in skills.values()
        ):
            raise ReplayError(f"{where}.skills must map skills to a proficiency in [0, 1]")
        capacity = row.get("capacity")
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ReplayError(f"{where}.capacity must be a positive integer")
        count = row.get("rating_count") or 0
        average = row.get("rating_average")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ReplayError(f"{where}.rating_count must be a non-negative integer")
        if count and (isinstance(average, bool) or not isinstance(average, int | float)):
            raise ReplayError(f"{where}.rating_average must be a number when rating_count is above 0")
        out.append(
            SimAgent(
                id=agent_id,
                languages=frozenset(str(x) for x in languages),
                skills={str(k): float(v) for k, v in skills.items()},
                capacity=capacity,
                rating_sum=float(average or 0.0) * count,
                rating_count=count,
            )
        )
    return out


def presence(
    records: Sequence[HandoffRecord], t0: float, gap: float = PRESENCE_GAP
) -> dict[str, tuple[tuple[float, float], ...]]:
    """Each recorded agent's online spans (simulation seconds): their chats joined where the idle time
    between them is at most `gap`."""
    chats: dict[str, list[tuple[float, float]]] = {}
    for r in records:
        if r.answered and r.agent_id is not None and r.wait is not None:
            start = r.ts + r.wait - t0
            chats.setdefault(r.agent_id, []).append((start, start + (r.handle or 0.0)))
    out = {}
    for agent_id, spans in chats.items():
        spans.sort()
        merged = [list(spans[0])]
        for start, end in spans[1:]:
            if start - merged[-1][1] <= gap:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        out[agent_id] = tuple((s, max(e, s + 1.0)) for s, e in merged)
    return out


def _effects(
    records: Sequence[HandoffRecord], agents: Mapping[str, SimAgent], resolution: ResolutionModel
) -> dict[str, float]:
    """Each agent's resolution effect: (resolved − expected) / (chats + prior), from answered records with
    a known outcome."""
    seen: dict[str, list[float]] = {}
    for r in records:
        agent = agents.get(r.agent_id or "")
        if agent is None or not r.answered or r.recontacted is None:
            continue
        expected = resolution.probability(agent.skills.get(r.queue, 0.0), 0.0)
        totals = seen.setdefault(agent.id, [0.0, 0.0, 0.0])
        totals[0] += 0.0 if r.recontacted else 1.0
        totals[1] += expected
        totals[2] += 1.0
    return {
        aid: (resolved - expected) / (n + EFFECT_PRIOR_CHATS) for aid, (resolved, expected, n) in seen.items()
    }


@dataclass(frozen=True)
class Prepared:
    records: list[HandoffRecord]
    agents: list[SimAgent]
    t0: float
    horizon: float
    resolution: ResolutionModel


def prepare(
    rows: Iterable[Mapping[str, Any] | HandoffRecord],
    agents: Iterable[Mapping[str, Any] | SimAgent],
    resolution: ResolutionModel | None = None,
    presence_gap: float = PRESENCE_GAP,
) -> Prepared:
    records = parse_records(rows)
    if not records:
        raise ReplayError("records: nothing to replay")
    team = agents_from_rows(agents)
    if not team:
        raise ReplayError("agents: the team has no agents")
    model = dataclasses.replace(resolution or ResolutionModel(), concurrency_slowdown=0.0)
    t0 = min(r.ts for r in records)
    horizon = max(r.ts for r in records) - t0
    by_id = {a.id: a for a in team}
    effects = _effects(records, by_id, model)
    online = presence(records, t0, presence_gap)
    team = [
        dataclasses.replace(
            a, resolution_effect=effects.get(a.id, a.resolution_effect), online=online.get(a.id, ())
        )
        for a in team
    ]
    return Prepared(records, team, t0, max(horizon, 1.0), model)


def replay_arrivals(prepared: Prepared, patience_mean: float, seed: int) -> list[Arrival]:
    rng = random.Random(f"replay:{seed}")  # noqa: S311 - simulation, not security
    model = prepared.resolution
    by_id = {a.id: a for a in prepared.agents}
    bases: dict[str, list[float]] = {}
    for r in prepared.records:
        if r.answered and r.handle is not None:
            agent = by_id.get(r.agent_id or "")
            factor = model.handle_factor(agent.skills.get(r.queue, 0.0), 0) if agent else 1.0
            bases.setdefault(r.queue, []).append(r.handle / factor)
    for values in bases.values():
        values.sort()
    everything = sorted(v for values in bases.values() for v in values)
    out = []
    for r in prepared.records:
        agent = by_id.get(r.agent_id or "")
        if r.answered and r.wait is not None:
            patience = r.wait + rng.expovariate(1.0 / patience_mean)
        else:
            patience = r.wait if r.wait is not None else rng.expovariate(1.0 / patience_mean)
        if r.answered and r.handle is not None:
            handle = r.handle / (model.handle_factor(agent.skills.get(r.queue, 0.0), 0) if agent else 1.0)
        else:
            pool = bases.get(r.queue) or everything
            handle = pool[min(len(pool) - 1, int(rng.random() * len(pool)))] if pool else 300.0
        u = rng.random()
        if agent is not None and r.answered and r.recontacted is not None:
            p = model.probability(agent.skills.get(r.queue, 0.0), agent.resolution_effect)
            u = u * p if not r.recontacted else p + u * (1.0 - p)
        out.append(Arrival(r.ts - prepared.t0, r.queue, r.language, max(handle, 1.0), patience, u))
    return out


def replay(
    records: Iterable[Mapping[str, Any] | HandoffRecord],
    agents: Iterable[Mapping[str, Any] | SimAgent],
    weights: Weights,
    *,
    config: RoutingConfig | None = None,
    resolution: ResolutionModel | None = None,
    patience_mean: float = 300.0,
    seeds: Sequence[int] = (1, 2, 3),
    service_level_seconds: float = SERVICE_LEVEL_SECONDS,
    presence_gap: float = PRESENCE_GAP,
) -> Report:
    """Re-run recorded handoffs under `weights`; the runs of all seeds pooled into one report."""
    prepared = prepare(records, agents, resolution, presence_gap)
    return _replay(prepared, weights, config or RoutingConfig(), patience_mean, seeds, service_level_seconds)


def _replay(
    prepared: Prepared,
    weights: Weights,
    config: RoutingConfig,
    patience_mean: float,
    seeds: Sequence[int],
    service_level_seconds: float,
) -> Report:
    if not seeds:
        raise ReplayError("seeds must not be empty")
    if not (math.isfinite(patience_mean) and patience_mean > 0):
        raise ReplayError("patience_mean must be a positive number of seconds")
    policy = WeightedPolicy(weights)
    runs = [
        simulate(
            replay_arrivals(prepared, patience_mean, seed),
            prepared.agents,
            policy,
            config=config,
            resolution=prepared.resolution,
            widen_after=config.widen_after,
            seed=seed,
            window=(0.0, prepared.horizon),
        )
        for seed in seeds
    ]
    return build_report(_pool(runs), policy.label, service_level_seconds)


def _pool(runs: Sequence[RunResult]) -> RunResult:
    agents = []
    for i, first in enumerate(runs[0].agents):
        same = [run.agents[i] for run in runs]
        agents.append(
            AgentTotals(
                id=first.id,
                capacity=first.capacity,
                handled=sum(a.handled for a in same),
                resolved=sum(a.resolved for a in same),
                busy_seconds=sum(a.busy_seconds for a in same),
                online_seconds=sum(a.online_seconds for a in same),
            )
        )
    return RunResult([o for run in runs for o in run.outcomes], agents, runs[0].window)


def recorded_summary(
    records: Sequence[HandoffRecord], service_level_seconds: float = SERVICE_LEVEL_SECONDS
) -> dict[str, float | int | None]:
    """The same measures computed from the records themselves, to set beside the replay of the current
    weights (how far the simulation is from what happened)."""
    waits = sorted(r.wait for r in records if r.answered and r.wait is not None)
    abandoned = sum(1 for r in records if not r.answered)
    known = [r for r in records if r.answered and r.recontacted is not None]
    within = bisect.bisect_right(waits, service_level_seconds)
    return {
        "arrivals": len(records),
        "answered": len(waits),
        "abandoned": abandoned,
        "wait_mean": statistics.fmean(waits) if waits else None,
        "wait_p90": percentile(waits, 0.9) if waits else None,
        "service_level": within / (len(waits) + abandoned) if waits or abandoned else None,
        "abandonment_rate": abandoned / len(records) if records else None,
        "fcr": sum(1 for r in known if not r.recontacted) / len(known) if known else None,
    }


@dataclass(frozen=True)
class Comparison:
    current_weights: Weights
    proposed_weights: Weights
    current: Report
    proposed: Report
    recorded: dict[str, float | int | None]

    @property
    def delta(self) -> dict[str, float | None]:
        """proposed − current for every metric (None where either is undefined)."""
        out: dict[str, float | None] = {}
        for name in METRICS:
            a, b = self.current.metric(name), self.proposed.metric(name)
            out[name] = None if a is None or b is None else b - a
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "current_weights": self.current_weights.as_dict(),
            "proposed_weights": self.proposed_weights.as_dict(),
            "current": self.current.as_dict(),
            "proposed": self.proposed.as_dict(),
            "delta": self.delta,
            "recorded": self.recorded,
        }


def compare(
    records: Iterable[Mapping[str, Any] | HandoffRecord],
    agents: Iterable[Mapping[str, Any] | SimAgent],
    current: Weights,
    proposed: Weights,
    *,
    config: RoutingConfig | None = None,
    resolution: ResolutionModel | None = None,
    patience_mean: float = 300.0,
    seeds: Sequence[int] = (1, 2, 3),
    service_level_seconds: float = SERVICE_LEVEL_SECONDS,
    presence_gap: float = PRESENCE_GAP,
) -> Comparison:
    """Replay the same records under the current and the proposed weights (same seeds, so the same
    customers): the predicted effect of a weight change before it is saved."""
    prepared = prepare(records, agents, resolution, presence_gap)
    routing = config or RoutingConfig()
    run = [
        _replay(prepared, w, routing, patience_mean, seeds, service_level_seconds)
        for w in (current, proposed)
    ]
    return Comparison(
        current, proposed, run[0], run[1], recorded_summary(prepared.records, service_level_seconds)
    )

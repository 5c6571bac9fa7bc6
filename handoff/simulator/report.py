"""What a run measured, in the terms the analytics summary uses.

- Waits (mean, 90th percentile) are over answered chats: the time from queueing to an agent taking it.
- Service level is the share answered within `service_level_seconds` among chats that were answered or
  abandoned; an abandoned chat counts as a miss however soon the customer left (as in the analytics
  store's summary).
- First-contact resolution (fcr) is the share of answered chats resolved without a repeat contact;
  `resolved_share` is the same count over every arrival, so a policy cannot look better by letting
  customers leave.
- Utilisation is chat-seconds held over chat-seconds available (capacity × time online) in the measured
  window; fairness is Jain's index (1 = perfectly even, 1/n = one agent does everything) over the agents'
  utilisation and over their chats per online hour.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from handoff.simulator.model import RunResult

SERVICE_LEVEL_SECONDS = 20.0
#: Report fields that summarise and compare across runs (each a number or None).
METRICS = (
    "arrivals",
    "answered",
    "abandoned",
    "wait_mean",
    "wait_p90",
    "service_level",
    "abandonment_rate",
    "fcr",
    "resolved_share",
    "unskilled_share",
    "utilisation",
    "fairness_utilisation",
    "fairness_chats",
)


@dataclass(frozen=True)
class AgentReport:
    id: str
    handled: int
    fcr: float | None
    utilisation: float | None
    online_hours: float
    chats_per_hour: float | None


@dataclass(frozen=True)
class Report:
    policy: str
    arrivals: int
    answered: int
    abandoned: int
    wait_mean: float | None
    wait_p90: float | None
    service_level: float | None
    service_level_seconds: float
    abandonment_rate: float | None
    fcr: float | None
    resolved_share: float | None
    unskilled_share: float | None  # answered by an agent without the chat's skill (widened routing)
    utilisation: float | None
    fairness_utilisation: float | None
    fairness_chats: float | None
    agents: tuple[AgentReport, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def metric(self, name: str) -> float | None:
        value = getattr(self, name)
        return None if value is None else float(value)


def build_report(
    result: RunResult, policy: str, service_level_seconds: float = SERVICE_LEVEL_SECONDS
) -> Report:
    answered = [o for o in result.outcomes if o.answered_at is not None]
    abandoned = sum(1 for o in result.outcomes if o.abandoned_at is not None)
    arrivals = len(result.outcomes)
    waits = sorted(o.wait for o in answered)
    resolved = sum(1 for o in answered if o.resolved)
    within = sum(1 for w in waits if w <= service_level_seconds)
    agents = []
    for totals in result.agents:
        hours = totals.online_seconds / 3600.0
        available = totals.capacity * totals.online_seconds
        agents.append(
            AgentReport(
                id=totals.id,
                handled=totals.handled,
                fcr=_share(totals.resolved, totals.handled),
                utilisation=totals.busy_seconds / available if available > 0 else None,
                online_hours=round(hours, 3),
                chats_per_hour=totals.handled / hours if hours > 0 else None,
            )
        )
    busy = sum(t.busy_seconds for t in result.agents)
    available = sum(t.capacity * t.online_seconds for t in result.agents)
    return Report(
        policy=policy,
        arrivals=arrivals,
        answered=len(answered),
        abandoned=abandoned,
        wait_mean=statistics.fmean(waits) if waits else None,
        wait_p90=percentile(waits, 0.9) if waits else None,
        service_level=_share(within, len(answered) + abandoned),
        service_level_seconds=service_level_seconds,
        abandonment_rate=_share(abandoned, arrivals),
        fcr=_share(resolved, len(answered)),
        resolved_share=_share(resolved, arrivals),
        unskilled_share=_share(sum(1 for o in answered if not o.skilled), len(answered)),
        utilisation=busy / available if available > 0 else None,
        fairness_utilisation=jain([a.utilisation for a in agents if a.utilisation is not None]),
        fairness_chats=jain([a.chats_per_hour for a in agents if a.chats_per_hour is not None]),
        agents=tuple(agents),
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values, interpolating linearly between ranks (numpy's default)."""
    if not ordered:
        raise ValueError("percentile of no values")
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def jain(values: Iterable[float]) -> float | None:
    """Jain's fairness index (Σx)² / (n·Σx²): 1 when all are equal."""
    xs = list(values)
    squares = sum(x * x for x in xs)
    return sum(xs) ** 2 / (len(xs) * squares) if xs and squares > 0 else None


@dataclass(frozen=True)
class Spread:
    mean: float | None
    sd: float | None
    low: float | None
    high: float | None


def summarise(reports: Sequence[Report]) -> dict[str, Spread]:
    """Each metric's mean, standard deviation, minimum and maximum over runs (e.g. seeds)."""
    out = {}
    for name in METRICS:
        values = [v for v in (r.metric(name) for r in reports) if v is not None]
        out[name] = Spread(
            mean=statistics.fmean(values) if values else None,
            sd=statistics.stdev(values) if len(values) > 1 else None,
            low=min(values) if values else None,
            high=max(values) if values else None,
        )
    return out


def spread_dict(spread: Mapping[str, Spread]) -> dict[str, dict[str, float | None]]:
    return {name: {f.name: getattr(s, f.name) for f in fields(s)} for name, s in spread.items()}

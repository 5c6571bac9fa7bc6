"""Erlang C, and the check that the simulator reproduces it for M/M/c.

Erlang C gives, for c agents each holding one chat, Poisson arrivals at rate λ and exponential handle
times with mean 1/μ (offered load a = λ/μ, occupancy ρ = a/c < 1), the probability that a chat waits
and the mean wait. It is computed through the Erlang B recursion B(k) = a·B(k−1) / (k + a·B(k−1)), which
stays within [0, 1] at every step, so thousands of agents neither overflow nor lose precision.

The check (`check_mmc`) runs the real engine and policy on an M/M/c team. Near ρ = 0.95 a queue forgets
its past only over thousands of chats, so one long run from an empty queue would need tens of millions
of chats for a 2% answer. Instead each of many short replications starts in the stationary state, drawn
from the M/M/c distribution of the number of chats present (those chats are not measured), and measures
the chats arriving in a fixed time; by the Poisson arrivals' time averages (PASTA) their waits are an
unbiased sample of the stationary wait, with no warm-up bias. Linear control variates on the inputs with
known means (chats present at the start, arrivals, handle times) remove most of the replication noise.
The controls are inputs, never outputs of the engine, so they cannot hide an engine error; the tests also
show that a 3% error in handle times is caught.
"""

from __future__ import annotations

import bisect
import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from handoff.routing.config import RoutingConfig
from handoff.simulator.engine import simulate
from handoff.simulator.model import Arrival, ResolutionModel, SimAgent
from handoff.simulator.policies import LeastBusyPolicy, Policy


class ErlangError(ValueError):
    """Parameters outside what the formula covers; the message names the parameter."""


def _check(agents: int, offered: float) -> None:
    if isinstance(agents, bool) or not isinstance(agents, int) or agents < 1:
        raise ErlangError("agents must be a positive integer")
    if not math.isfinite(offered) or offered < 0:
        raise ErlangError("offered load must be a finite number ≥ 0")


def erlang_b(agents: int, offered: float) -> float:
    """Blocking probability of an M/M/c/c system (no queue)."""
    _check(agents, offered)
    b = 1.0
    for k in range(1, agents + 1):
        b = offered * b / (k + offered * b)
    return b


def erlang_c(agents: int, offered: float) -> float:
    """Probability that an arriving chat waits; 1 when the load is at or above the number of agents."""
    _check(agents, offered)
    if offered >= agents:
        return 1.0
    b = erlang_b(agents, offered)
    return agents * b / (agents - offered * (1.0 - b))


def mean_wait(agents: int, arrival_rate: float, service_rate: float) -> float:
    """Mean wait in the queue over all chats (those answered at once count 0); inf when unstable."""
    _rates(arrival_rate, service_rate)
    offered = arrival_rate / service_rate
    if offered >= agents:
        return math.inf
    return erlang_c(agents, offered) / (agents * service_rate - arrival_rate)


def service_level(agents: int, arrival_rate: float, service_rate: float, seconds: float) -> float:
    """Share of chats answered within `seconds`: 1 − C · e^(−(cμ − λ)t)."""
    _rates(arrival_rate, service_rate)
    offered = arrival_rate / service_rate
    if offered >= agents:
        return 0.0
    return 1.0 - erlang_c(agents, offered) * math.exp(-(agents * service_rate - arrival_rate) * seconds)


def agents_for(arrival_rate: float, service_rate: float, seconds: float, share: float) -> int:
    """The fewest agents (one chat each) that answer `share` of chats within `seconds`."""
    _rates(arrival_rate, service_rate)
    if not 0 < share < 1:
        raise ErlangError("share must be between 0 and 1")
    agents = max(1, math.floor(arrival_rate / service_rate) + 1)
    while service_level(agents, arrival_rate, service_rate, seconds) < share:
        agents += 1
    return agents


def _rates(arrival_rate: float, service_rate: float) -> None:
    if not (math.isfinite(arrival_rate) and arrival_rate >= 0):
        raise ErlangError("arrival rate must be a finite number ≥ 0")
    if not (math.isfinite(service_rate) and service_rate > 0):
        raise ErlangError("service rate must be a positive number")


@dataclass(frozen=True)
class Stationary:
    """The M/M/c stationary distribution of the number of chats present (answered plus waiting):
    P(n) ∝ aⁿ/n! below c and a^c/c! · ρ^(n−c) from c on."""

    agents: int
    offered: float
    _cumulative: list[float] = field(init=False, repr=False)  # n = 0 .. c−1, then the whole tail

    def __post_init__(self) -> None:
        _check(self.agents, self.offered)
        if not 0 < self.offered < self.agents:
            raise ErlangError("offered load must be above 0 and below the number of agents")
        c, a = self.agents, self.offered
        # Logarithms relative to n = c, so large teams neither overflow nor underflow to nothing.
        logs = [(n - c) * math.log(a) - math.lgamma(n + 1) + math.lgamma(c + 1) for n in range(c)]
        logs.append(-math.log(1.0 - self.occupancy))  # Σ ρ^k over the tail
        top = max(logs)
        cumulative = []
        total = 0.0
        for value in logs:
            total += math.exp(value - top)
            cumulative.append(total)
        object.__setattr__(self, "_cumulative", cumulative)

    @property
    def occupancy(self) -> float:
        return self.offered / self.agents

    def mean_queued(self) -> float:
        rho = self.occupancy
        return erlang_c(self.agents, self.offered) * rho / (1.0 - rho)

    def mean_present(self) -> float:
        return self.offered + self.mean_queued()

    def sample(self, rng: random.Random) -> int:
        n = bisect.bisect_right(self._cumulative, rng.random() * self._cumulative[-1])
        if n < self.agents:
            return n
        # Geometric tail: P(n ≥ c + k | n ≥ c) = ρ^k.
        return self.agents + int(math.log(1.0 - rng.random()) / math.log(self.occupancy))


@dataclass(frozen=True)
class MmcCheck:
    agents: int
    occupancy: float
    replications: int
    chats: int  # measured chats over all replications
    formula_p_wait: float
    simulated_p_wait: float
    se_p_wait: float  # standard error of the simulated value
    formula_mean_wait: float
    simulated_mean_wait: float
    se_mean_wait: float

    @property
    def p_wait_error(self) -> float:
        """Relative error of the simulated probability of waiting."""
        return self.simulated_p_wait / self.formula_p_wait - 1.0

    @property
    def mean_wait_error(self) -> float:
        return self.simulated_mean_wait / self.formula_mean_wait - 1.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "agents": self.agents,
            "occupancy": self.occupancy,
            "replications": self.replications,
            "chats": self.chats,
            "formula_p_wait": self.formula_p_wait,
            "simulated_p_wait": self.simulated_p_wait,
            "se_p_wait": self.se_p_wait,
            "p_wait_error": self.p_wait_error,
            "formula_mean_wait": self.formula_mean_wait,
            "simulated_mean_wait": self.simulated_mean_wait,
            "se_mean_wait": self.se_mean_wait,
            "mean_wait_error": self.mean_wait_error,
        }


def check_mmc(
    agents: int,
    occupancy: float,
    *,
    replications: int = 2000,
    chats_per_replication: int = 60,
    handle_mean: float = 300.0,
    seed: int = 1,
    policy: Policy | None = None,
    proficiency: float = 1.0,
    resolution: ResolutionModel | None = None,
) -> MmcCheck:
    """Simulate M/M/c at `occupancy` with the engine and compare with Erlang C.

    `proficiency` below 1 makes the engine lengthen every handle time through the resolution model's
    slowdown: a deliberately wrong system that the comparison must reject.
    """
    if not 0 < occupancy < 1:
        raise ErlangError("occupancy must be between 0 and 1")
    if replications < 10 or chats_per_replication < 1:
        raise ErlangError("need at least 10 replications of at least one chat")
    service_rate = 1.0 / handle_mean
    arrival_rate = occupancy * agents * service_rate
    offered = arrival_rate / service_rate
    stationary = Stationary(agents, offered)
    horizon = chats_per_replication / arrival_rate
    team = [
        SimAgent(f"a{i:03d}", frozenset({"en"}), {"general": proficiency}, capacity=1) for i in range(agents)
    ]
    chosen = policy or LeastBusyPolicy()
    config = RoutingConfig()
    rng = random.Random(f"mmc:{agents}:{occupancy}:{seed}")  # noqa: S311 - simulation, not security
    waits: list[float] = []
    waited: list[float] = []
    controls: list[tuple[float, ...]] = []
    for replication in range(replications):
        present = stationary.sample(rng)
        arrivals = [_chat(0.0, rng.expovariate(service_rate), measured=False) for _ in range(present)]
        t = rng.expovariate(arrival_rate)
        while t <= horizon:
            arrivals.append(_chat(t, rng.expovariate(service_rate), measured=True))
            t += rng.expovariate(arrival_rate)
        result = simulate(
            arrivals,
            team,
            chosen,
            config=config,
            resolution=resolution,
            seed=seed + replication,
            window=(0.0, horizon),
        )
        chat_waits = [o.wait for o in result.outcomes]
        waits.append(sum(chat_waits))
        waited.append(sum(1.0 for w in chat_waits if w > 0))
        controls.append(
            (
                float(present),
                float(len(chat_waits)),
                sum(a.handle for a in arrivals) * service_rate - len(arrivals),
                float(max(present - agents, 0)),
                1.0 if present >= agents else 0.0,
            )
        )
    means = (
        stationary.mean_present(),
        arrival_rate * horizon,
        0.0,
        stationary.mean_queued(),
        erlang_c(agents, offered),
    )
    expected_chats = arrival_rate * horizon
    wait_total, wait_se = controlled_mean(waits, controls, means)
    waited_total, waited_se = controlled_mean(waited, controls, means)
    return MmcCheck(
        agents=agents,
        occupancy=occupancy,
        replications=replications,
        chats=int(sum(c[1] for c in controls)),
        formula_p_wait=erlang_c(agents, offered),
        simulated_p_wait=waited_total / expected_chats,
        se_p_wait=waited_se / expected_chats,
        formula_mean_wait=mean_wait(agents, arrival_rate, service_rate),
        simulated_mean_wait=wait_total / expected_chats,
        se_mean_wait=wait_se / expected_chats,
    )


def _chat(at: float, handle: float, measured: bool) -> Arrival:
    return Arrival(at, "general", "en", handle, math.inf, 0.0, measured=measured)


def controlled_mean(
    ys: Sequence[float], xs: Sequence[Sequence[float]], means: Sequence[float]
) -> tuple[float, float]:
    """Mean of `ys` corrected by linear control variates `xs` with known `means`, and its standard error.

    ȳ − β·(x̄ − μ) with β from least squares; a control without variation in the sample is left out.
    """
    n = len(ys)
    k = len(means)
    y_bar = statistics.fmean(ys)
    x_bar = [statistics.fmean(x[j] for x in xs) for j in range(k)]
    dx = [[x[j] - x_bar[j] for j in range(k)] for x in xs]
    dy = [y - y_bar for y in ys]
    sxx = [[sum(row[i] * row[j] for row in dx) for j in range(k)] for i in range(k)]
    sxy = [sum(row[i] * d for row, d in zip(dx, dy, strict=True)) for i in range(k)]
    beta = _solve(sxx, sxy)
    residuals = [
        d - sum(b * v for b, v in zip(beta, row, strict=True)) for row, d in zip(dx, dy, strict=True)
    ]
    used = sum(1 for b in beta if b != 0.0)
    variance = sum(r * r for r in residuals) / max(1, n - used - 1)
    estimate = y_bar - sum(b * (xb - m) for b, xb, m in zip(beta, x_bar, means, strict=True))
    return estimate, math.sqrt(variance / n)


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Least-squares normal equations by Gauss-Jordan with partial pivoting; a singular direction
    (a control with no variation, or one that repeats another) gets coefficient 0."""
    k = len(b)
    m = [[*row, rhs] for row, rhs in zip(a, b, strict=True)]
    scale = max((abs(m[i][i]) for i in range(k)), default=0.0) or 1.0
    pivots: list[int | None] = [None] * k
    row = 0
    for col in range(k):
        best = max(range(row, k), key=lambda r: abs(m[r][col]), default=None)
        if best is None or abs(m[best][col]) <= 1e-12 * scale:
            continue
        m[row], m[best] = m[best], m[row]
        pivot = m[row][col]
        m[row] = [v / pivot for v in m[row]]
        for r in range(k):
            if r != row and m[r][col] != 0.0:
                factor = m[r][col]
                m[r] = [v - factor * p for v, p in zip(m[r], m[row], strict=True)]
        pivots[col] = row
        row += 1
    return [m[p][k] if p is not None else 0.0 for p in pivots]

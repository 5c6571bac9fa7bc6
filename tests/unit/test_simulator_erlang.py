"""The simulator against Erlang C: the formula itself, and M/M/c simulated with the engine within 2% of it.

The M/M/c runs start each replication in the stationary state and use control variates on the inputs
(handoff/simulator/erlang.py explains why); the standard error of each estimate is checked too, so a 2%
agreement cannot come from an estimate too noisy to tell 2% apart.
"""

from __future__ import annotations

import functools
import math
import random

import pytest

from handoff.simulator.engine import simulate
from handoff.simulator.erlang import (
    ErlangError,
    MmcCheck,
    Stationary,
    agents_for,
    check_mmc,
    controlled_mean,
    erlang_b,
    erlang_c,
    mean_wait,
    service_level,
)
from handoff.simulator.model import Arrival, SimAgent
from handoff.simulator.policies import LeastBusyPolicy, RoundRobinPolicy, WeightedPolicy

TOLERANCE = 0.02
HANDLE = 300.0
# (agents, occupancy, replications, measured chats per replication): about 240k chats each; shorter
# replications where the queue forgets faster.
CASES = [(3, 0.8, 16_000, 15), (5, 0.9, 12_000, 20), (10, 0.95, 4_000, 60)]


def test_erlang_c_matches_closed_forms() -> None:
    assert erlang_c(1, 0.7) == pytest.approx(0.7)  # M/M/1: P(wait) = ρ
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_b(2, 1.0) == pytest.approx((1.0**2 / 2) / (1 + 1 + 0.5))
    mu, lam = 1 / 300, 0.8 / 300
    assert mean_wait(1, lam, mu) == pytest.approx(0.8 / (mu - lam))
    assert mean_wait(2, 2 * lam, mu) == pytest.approx(erlang_c(2, 1.6) / (2 * mu - 2 * lam))
    assert service_level(1, lam, mu, 0.0) == pytest.approx(1 - 0.8)
    assert erlang_c(3, 3.0) == 1.0 and mean_wait(3, 3 / 300, mu) == math.inf


def test_erlang_c_stays_finite_for_large_teams() -> None:
    big = erlang_c(5000, 4990.0)
    assert 0.0 < big < 1.0
    assert erlang_c(5000, 4000.0) < 1e-12
    # 80% of chats within 20 s at 0.1 chats/s of 5-minute chats: Erlang C staffing.
    needed = agents_for(0.1, 1 / 300, 20, 0.8)
    assert service_level(needed, 0.1, 1 / 300, 20) >= 0.8 > service_level(needed - 1, 0.1, 1 / 300, 20)
    with pytest.raises(ErlangError, match="agents"):
        erlang_c(0, 1.0)
    with pytest.raises(ErlangError, match="service rate"):
        mean_wait(2, 1.0, 0.0)


def test_the_stationary_start_has_the_mm_c_distribution() -> None:
    stationary = Stationary(4, 3.2)
    rng = random.Random(5)
    draws = [stationary.sample(rng) for _ in range(100_000)]
    assert sum(draws) / len(draws) == pytest.approx(stationary.mean_present(), rel=0.02)
    assert sum(1 for n in draws if n >= 4) / len(draws) == pytest.approx(erlang_c(4, 3.2), rel=0.02)
    with pytest.raises(ErlangError, match="below the number of agents"):
        Stationary(2, 2.0)


def test_control_variates_remove_what_a_known_input_explains() -> None:
    rng = random.Random(3)
    xs = [(rng.gauss(10.0, 2.0),) for _ in range(500)]
    ys = [5.0 + 3.0 * (x[0] - 10.0) + rng.gauss(0.0, 0.1) for x in xs]
    estimate, se = controlled_mean(ys, xs, (10.0,))
    assert estimate == pytest.approx(5.0, abs=0.02)
    assert se < 0.01
    constant = [(1.0, x[0]) for x in xs]  # a control that never varies is left out, not divided by zero
    assert controlled_mean(ys, constant, (1.0, 10.0))[0] == pytest.approx(estimate)


@functools.cache
def mmc(agents: int, occupancy: float, replications: int, chats: int) -> MmcCheck:
    return check_mmc(agents, occupancy, replications=replications, chats_per_replication=chats, seed=1)


@pytest.mark.parametrize(("agents", "occupancy", "replications", "chats"), CASES)
def test_the_engine_reproduces_erlang_c_within_two_percent(
    agents: int, occupancy: float, replications: int, chats: int
) -> None:
    check = mmc(agents, occupancy, replications, chats)
    assert check.chats > 200_000
    assert abs(check.p_wait_error) <= TOLERANCE, check.as_dict()
    assert abs(check.mean_wait_error) <= TOLERANCE, check.as_dict()
    # Precise enough that 2% means something: at least three standard errors inside the tolerance.
    assert check.se_p_wait / check.formula_p_wait < TOLERANCE / 3
    assert check.se_mean_wait / check.formula_mean_wait < TOLERANCE / 3


@pytest.mark.parametrize(("agents", "occupancy", "replications", "chats"), CASES)
def test_a_team_one_larger_or_smaller_is_far_outside_the_tolerance(
    agents: int, occupancy: float, replications: int, chats: int
) -> None:
    check = mmc(agents, occupancy, replications, chats)
    arrival_rate = occupancy * agents / HANDLE
    for other in (agents - 1, agents + 1):
        p_wait = erlang_c(other, arrival_rate * HANDLE)
        wait = mean_wait(other, arrival_rate, 1 / HANDLE)
        assert abs(check.simulated_p_wait / p_wait - 1) > 5 * TOLERANCE
        assert abs(check.simulated_mean_wait / wait - 1) > 5 * TOLERANCE


def test_handle_times_three_percent_too_long_are_caught() -> None:
    # Proficiency 0.94 with the default slowdown of 0.5: the engine stretches every chat by 3%.
    wrong = check_mmc(10, 0.95, replications=1000, chats_per_replication=60, seed=2, proficiency=0.94)
    assert wrong.mean_wait_error > TOLERANCE + 3 * wrong.se_mean_wait / wrong.formula_mean_wait


def test_with_identical_agents_every_policy_gives_the_same_waits() -> None:
    rng = random.Random(11)
    team = [SimAgent(f"a{i}", frozenset({"en"}), {"general": 1.0}, capacity=1) for i in range(4)]
    arrivals = []
    t = 0.0
    for _ in range(3000):
        t += rng.expovariate(3.4 / HANDLE)
        arrivals.append(Arrival(t, "general", "en", rng.expovariate(1 / HANDLE), math.inf, 0.0))
    waits = {
        policy.name: [o.wait for o in simulate(arrivals, team, policy).outcomes]
        for policy in (WeightedPolicy(), LeastBusyPolicy(), RoundRobinPolicy())
    }
    assert waits["weighted"] == waits["least_busy"] == waits["round_robin"]
    assert sum(1 for w in waits["weighted"] if w > 0) > 1000

"""Contact-centre routing simulator: escalated chats, a team with skills, shifts and ratings, and the
routing policies (the product's weighted scoring, round robin with a chat limit, least busy, random).

Pure Python (no Redis, no Sanic), deterministic for a seed, so the handoff service can run a what-if
replay in a thread. docs/simulator.md describes the model, the default scenario and the validation.
"""

from handoff.simulator.engine import SimulationError, simulate
from handoff.simulator.erlang import agents_for, check_mmc, erlang_c, mean_wait, service_level
from handoff.simulator.model import Arrival, ChatOutcome, ResolutionModel, RunResult, SimAgent
from handoff.simulator.policies import (
    LeastBusyPolicy,
    Policy,
    PolicyError,
    RandomPolicy,
    RoundRobinPolicy,
    WeightedPolicy,
    make_policy,
    parse_weights,
)
from handoff.simulator.replay import Comparison, ReplayError, compare, replay
from handoff.simulator.report import Report, build_report
from handoff.simulator.scenario import (
    DEFAULT_SCENARIO,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
)
from handoff.simulator.sweep import evaluate, run_scenario, sweep, target_check, weight_grid

__all__ = [
    "DEFAULT_SCENARIO",
    "Arrival",
    "ChatOutcome",
    "Comparison",
    "LeastBusyPolicy",
    "Policy",
    "PolicyError",
    "RandomPolicy",
    "ReplayError",
    "Report",
    "ResolutionModel",
    "RoundRobinPolicy",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "SimAgent",
    "SimulationError",
    "WeightedPolicy",
    "agents_for",
    "build_report",
    "check_mmc",
    "compare",
    "erlang_c",
    "evaluate",
    "load_scenario",
    "make_policy",
    "mean_wait",
    "parse_scenario",
    "parse_weights",
    "replay",
    "run_scenario",
    "service_level",
    "simulate",
    "sweep",
    "target_check",
    "weight_grid",
]

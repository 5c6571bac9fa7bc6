"""The routing simulator: policies, the event engine, reports, scenarios, the frontier plot and replay."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from handoff.routing.config import RoutingConfig, Weights
from handoff.routing.scoring import AgentState, Presence, rank
from handoff.simulator import __main__ as cli
from handoff.simulator.engine import SimulationError, simulate
from handoff.simulator.model import LANGUAGES, Arrival, ResolutionModel, SimAgent
from handoff.simulator.policies import (
    LeastBusyPolicy,
    PolicyError,
    RandomPolicy,
    RoundRobinPolicy,
    WeightedPolicy,
    make_policy,
    parse_weights,
)
from handoff.simulator.replay import ReplayError, compare, parse_records, presence, replay
from handoff.simulator.report import build_report, jain, percentile
from handoff.simulator.scenario import DEFAULT_SCENARIO, ScenarioError, load_scenario, parse_scenario
from handoff.simulator.svg import frontier_svg, nice_ticks
from handoff.simulator.sweep import SweepPoint, pareto, run_scenario, target_check, weight_grid

ROOT = Path(__file__).resolve().parents[2]
CONFIG = RoutingConfig()
NO_SLOWDOWN = ResolutionModel(handle_slowdown=0.0)


def agent(agent_id: str, **kw: Any) -> SimAgent:
    values: dict[str, Any] = {"languages": frozenset({"en"}), "skills": {"orders": 1.0}, "capacity": 1}
    values.update(kw)
    return SimAgent(id=agent_id, **values)


def chat(at: float, handle: float = 100.0, **kw: Any) -> Arrival:
    values: dict[str, Any] = {"skill": "orders", "language": "en", "patience": math.inf, "resolve_draw": 0.5}
    values.update(kw)
    return Arrival(at=at, handle=handle, **values)


def state(agent_id: str, **kw: Any) -> AgentState:
    values: dict[str, Any] = {
        "languages": frozenset({"en"}),
        "skills": {"orders": 0.5},
        "capacity": 3,
        "presence": Presence.ONLINE,
    }
    values.update(kw)
    return AgentState(id=agent_id, **values)


def run(arrivals: list[Arrival], agents: list[SimAgent], policy: Any = None, **kw: Any) -> Any:
    kw.setdefault("resolution", NO_SLOWDOWN)
    return simulate(arrivals, agents, policy or LeastBusyPolicy(), **kw)


def answered_by(result: Any) -> list[str | None]:
    return [o.agent_id for o in result.outcomes]


# -- policies ----------------------------------------------------------------------------------------


def test_round_robin_rotates_through_the_qualified_agents_only() -> None:
    team = [agent("a"), agent("zh-only", languages=frozenset({"zh"})), agent("b"), agent("c")]
    router = RoundRobinPolicy().router(team, CONFIG, seed=1)
    states = [state(a.id, languages=a.languages, capacity=5) for a in team]
    picks = []
    for _ in range(7):
        index = router.choose("orders", "en", states)
        assert index is not None
        router.assigned(index)
        picks.append(team[index].id)
    assert picks == ["a", "b", "c", "a", "b", "c", "a"]


def test_round_robin_never_exceeds_its_chat_limit() -> None:
    team = [agent("a", capacity=3), agent("b", capacity=3)]
    # Four chats at once, all long: with a limit of one chat each, two must wait for the first to end.
    arrivals = [chat(0.0, 100.0), chat(1.0, 100.0), chat(2.0, 100.0), chat(3.0, 100.0)]
    limited = run(arrivals, team, RoundRobinPolicy(limit=1))
    assert answered_by(limited) == ["a", "b", "a", "b"]
    assert [o.answered_at for o in limited.outcomes] == [0.0, 1.0, 100.0, 101.0]
    unlimited = run(arrivals, team, RoundRobinPolicy())
    assert [o.answered_at for o in unlimited.outcomes] == [0.0, 1.0, 2.0, 3.0]
    assert answered_by(unlimited) == ["a", "b", "a", "b"]
    with pytest.raises(PolicyError, match="limit"):
        RoundRobinPolicy(limit=0)


def test_least_busy_takes_the_lowest_load_then_the_fewest_chats() -> None:
    team = [agent(x) for x in ("a", "b", "c", "d")]
    router = LeastBusyPolicy().router(team, CONFIG, seed=1)
    states = [
        state("a", capacity=4, active=2),  # 0.5
        state("b", capacity=2, active=1),  # 0.5 with fewer chats
        state("c", capacity=3, active=3),  # full
        state("d", capacity=4, active=1, languages=frozenset({"zh"})),  # 0.25 but no English
    ]
    assert router.choose("orders", "en", states) == 1
    assert router.choose("returns", "en", states) is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1), st.integers(1, 4), st.integers(0, 4), st.floats(1, 5), st.integers(0, 50)),
        min_size=1,
        max_size=8,
    ),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0.01, 1),
)
def test_the_weighted_policy_chooses_what_the_products_rank_puts_first(
    rows: list[tuple[float, int, int, float, int]], w_skill: float, w_load: float, w_rating: float
) -> None:
    weights = Weights(w_skill, w_load, w_rating)
    team = [agent(f"a{i}") for i in range(len(rows))]
    states = [
        state(
            f"a{i}",
            skills={"orders": p},
            capacity=cap,
            active=min(active, cap),
            rating_sum=mean * n,
            rating_count=n,
        )
        for i, (p, cap, active, mean, n) in enumerate(rows)
    ]
    router = WeightedPolicy(weights).router(team, CONFIG, seed=1)
    best = rank(states, "orders", "en", CONFIG.with_weights(weights)).best
    choice = router.choose("orders", "en", states)
    assert (choice is None) == (best is None)
    if best is not None and choice is not None:
        assert states[choice].id == best.agent_id


def test_the_weighted_policy_sends_a_chat_to_the_expert_and_the_load_weight_spreads_them() -> None:
    team = [
        agent("expert", skills={"orders": 1.0}, capacity=3),
        agent("novice", skills={"orders": 0.2}, capacity=3),
    ]
    arrivals = [chat(float(t), 1000.0) for t in range(3)]
    by_skill = run(arrivals, team, WeightedPolicy(Weights(1.0, 0.0, 0.0)))
    assert answered_by(by_skill) == ["expert", "expert", "expert"]
    by_load = run(arrivals, team, WeightedPolicy(Weights(0.1, 0.9, 0.0)))
    assert answered_by(by_load) == ["expert", "novice", "expert"]


def test_random_is_seeded_and_only_picks_qualified_agents() -> None:
    team = [
        agent("a", capacity=50),
        agent("b", capacity=50),
        agent("zh", languages=frozenset({"zh"}), capacity=50),
    ]
    arrivals = [chat(float(t), 10_000.0) for t in range(40)]
    first = answered_by(run(arrivals, team, RandomPolicy(), seed=7))
    assert first == answered_by(run(arrivals, team, RandomPolicy(), seed=7))
    assert first != answered_by(run(arrivals, team, RandomPolicy(), seed=8))
    assert set(first) == {"a", "b"}


def test_policies_by_name_and_weights_from_text() -> None:
    assert make_policy("weighted", parse_weights("0.6, 0.2, 0.2")) == WeightedPolicy(Weights(0.6, 0.2, 0.2))
    assert make_policy("round_robin", limit=2) == RoundRobinPolicy(2)
    with pytest.raises(PolicyError, match="one of weighted"):
        make_policy("fastest")
    with pytest.raises(PolicyError, match="weighted policy only"):
        make_policy("least_busy", Weights())
    with pytest.raises(PolicyError, match="three numbers"):
        parse_weights("0.5,0.5")
    with pytest.raises(ValueError, match=r"weights\.load must not be negative"):
        parse_weights("0.5,-0.5,1")


# -- the engine --------------------------------------------------------------------------------------


def test_a_freed_agent_takes_the_longest_waiting_chat_it_can_serve() -> None:
    team = [agent("a", skills={"orders": 1.0, "returns": 1.0})]
    arrivals = [
        chat(0.0, 100.0),
        chat(10.0, 50.0, skill="returns"),
        chat(20.0, 50.0),
        chat(30.0, 50.0, skill="returns", priority=25.0),  # counts as queued at 5 s: ahead of both
    ]
    result = run(arrivals, team)
    assert [o.answered_at for o in result.outcomes] == [0.0, 150.0, 200.0, 100.0]


def test_a_customer_whose_patience_runs_out_leaves_and_counts_against_the_service_level() -> None:
    team = [agent("a")]
    arrivals = [chat(0.0, 100.0), chat(10.0, 50.0, patience=30.0), chat(20.0, 50.0, patience=500.0)]
    result = run(arrivals, team)
    left = result.outcomes[1]
    assert left.answered_at is None and left.abandoned_at == 40.0 and left.wait == 30.0
    assert result.outcomes[2].answered_at == 100.0  # the one who left is not served afterwards
    report = build_report(result, "test", service_level_seconds=20)
    assert (report.answered, report.abandoned) == (2, 1)
    assert report.abandonment_rate == pytest.approx(1 / 3)
    assert report.service_level == pytest.approx(1 / 3)  # only the first was answered within 20 s
    assert report.wait_mean == pytest.approx((0 + 80) / 2)


def test_a_chat_is_widened_to_anyone_with_the_language_and_resolves_at_the_base_rate() -> None:
    model = ResolutionModel(base=0.5, proficiency_gain=0.4, handle_slowdown=1.0)
    team = [agent("expert", skills={"returns": 1.0}), agent("other", skills={"orders": 0.9})]
    arrivals = [chat(0.0, 1000.0, skill="returns"), chat(5.0, 100.0, skill="returns", resolve_draw=0.6)]
    result = run(arrivals, team, WeightedPolicy(), resolution=model, widen_after=120.0)
    widened = result.outcomes[1]
    assert (widened.agent_id, widened.answered_at, widened.skilled) == ("other", 125.0, False)
    assert widened.handle == pytest.approx(200.0)  # no proficiency: twice as long with slowdown 1
    assert not widened.resolved  # 0.6 is above the base chance 0.5
    assert build_report(result, "t").unskilled_share == pytest.approx(0.5)
    never = run(arrivals, team, WeightedPolicy(), resolution=model, widen_after=None)
    assert never.outcomes[1].agent_id == "expert"


def test_an_agent_takes_chats_only_during_a_shift() -> None:
    team = [agent("late", online=((3600.0, 7200.0),))]
    arrivals = [chat(600.0, 100.0), chat(7300.0, 100.0, patience=600.0)]
    result = run(arrivals, team, window=(0.0, 7200.0))
    assert result.outcomes[0].answered_at == 3600.0
    assert result.outcomes[1].abandoned_at == 7900.0
    report = build_report(result, "t")
    assert report.agents[0].online_hours == 1.0
    assert report.agents[0].utilisation == pytest.approx(100 / 3600)


def test_handle_time_and_resolution_follow_proficiency_and_concurrency() -> None:
    model = ResolutionModel(base=0.5, proficiency_gain=0.4, handle_slowdown=0.5, concurrency_slowdown=0.2)
    assert model.handle_factor(1.0, 0) == 1.0
    assert model.handle_factor(0.5, 2) == pytest.approx(1.25 * 1.4)
    assert model.probability(0.5, 0.05) == pytest.approx(0.75)
    assert model.probability(1.0, 0.5) == 1.0
    team = [agent("a", skills={"orders": 0.5}, capacity=2, resolution_effect=0.05)]
    result = run(
        [chat(0.0, 100.0, resolve_draw=0.74), chat(1.0, 100.0, resolve_draw=0.76)], team, resolution=model
    )
    assert [o.handle for o in result.outcomes] == pytest.approx([125.0, 125.0 * 1.2])
    assert [o.resolved for o in result.outcomes] == [True, False]


def test_utilisation_counts_chat_seconds_over_capacity_within_the_window() -> None:
    team = [agent("a", capacity=2), agent("idle", languages=frozenset({"zh"}))]
    result = run([chat(0.0, 100.0), chat(50.0, 100.0), chat(400.0, 10.0)], team, window=(0.0, 200.0))
    report = build_report(result, "t")
    busy, idle = report.agents
    assert busy.utilisation == pytest.approx((100 + 100) / (2 * 200))
    assert idle.utilisation == 0.0 and idle.handled == 0
    assert report.utilisation == pytest.approx(200 / (2 * 200 + 200))
    assert report.fairness_utilisation == pytest.approx(0.5)  # all of it on one of two agents


def test_runs_reject_an_inconsistent_team() -> None:
    with pytest.raises(SimulationError, match="no agents"):
        simulate([chat(0.0)], [], LeastBusyPolicy())
    with pytest.raises(SimulationError, match="unique"):
        simulate([chat(0.0)], [agent("a"), agent("a")], LeastBusyPolicy())


def test_measures_percentile_and_fairness() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.9) == pytest.approx(4.6)
    assert percentile([7.0], 0.9) == 7.0
    assert jain([1.0, 1.0, 1.0]) == pytest.approx(1.0)
    assert jain([1.0, 0.0, 0.0, 0.0]) == pytest.approx(0.25)
    assert jain([]) is None


# -- scenarios ---------------------------------------------------------------------------------------


def test_the_default_scenario_loads_and_is_deterministic_per_seed() -> None:
    scenario = load_scenario()
    assert len(scenario.members) >= 8 and {s.skill for s in scenario.streams} >= {
        "orders",
        "returns",
        "presales",
    }
    assert {s.language for s in scenario.streams} == {"en", "zh"}
    assert scenario.widen_after == RoutingConfig.load().widen_after
    arrivals = scenario.arrivals(1)
    # Poisson with mean per_day: 1250 ± 4σ; nothing outside the team's hours.
    assert abs(len(arrivals) - scenario.per_day) < 4 * math.sqrt(scenario.per_day)
    hours = {int(a.at // 3600) for a in arrivals}
    assert hours <= {h for h, v in enumerate(scenario.profile) if v > 0}
    assert arrivals == scenario.arrivals(1) and arrivals != scenario.arrivals(2)
    one = run_scenario(scenario, WeightedPolicy(), 1)
    assert one == run_scenario(scenario, WeightedPolicy(), 1)
    assert one != run_scenario(scenario, WeightedPolicy(), 2)
    other = run_scenario(scenario, RoundRobinPolicy(), 1)
    assert other.arrivals == one.arrivals  # every policy meets the same customers
    assert one.answered + one.abandoned == one.arrivals


def _scenario() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(DEFAULT_SCENARIO.read_text(encoding="utf-8"))
    return raw


def _break(raw: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    node: Any = raw
    keys = dotted.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[keys[-1] if not isinstance(node, list) else int(keys[-1])] = value
    return raw


@pytest.mark.parametrize(
    ("dotted", "value", "field", "message"),
    [
        ("arrivals.per_day", -5, "arrivals.per_day", "must be in"),
        ("arrivals.profile", [1] * 23, "arrivals.profile", "24 relative volumes"),
        ("arrivals.mix.orders.zh", 0.5, "arrivals.mix", "add up to 1"),
        ("arrivals.mix.orders.fr", 0.1, "arrivals.mix.orders.fr", "unknown key"),
        (
            "skills.orders.handle_mean_seconds",
            "long",
            "skills.orders.handle_mean_seconds",
            "must be a number",
        ),
        ("agents.2.capacity", 0, "agents[2].capacity", "whole number in 1..50"),
        ("agents.0.skills.billing", 0.5, "agents[0].skills.billing", "not one of the skills"),
        ("agents.1.shift", "16:00-08:00", "agents[1].shift", "must end after it starts"),
        ("agents.1.languages", ["en", "de"], "agents[1].languages", "non-empty list of en, zh"),
        ("agents.3.id", "li.na", "agents[3].id", "listed twice"),
        ("agents.3.speed", 2, "agents[3].speed", "unknown key"),
        ("resolution.base", 0.9, "resolution.proficiency_gain", "must not exceed 1"),
        ("patience.mean_seconds", 0, "patience.mean_seconds", "must be in"),
    ],
)
def test_a_bad_scenario_names_the_file_and_the_field(
    tmp_path: Path, dotted: str, value: Any, field: str, message: str
) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(_break(_scenario(), dotted, value)), encoding="utf-8")
    with pytest.raises(ScenarioError, match=message) as caught:
        load_scenario(path)
    assert caught.value.field == field
    assert caught.value.path == str(path)
    assert str(caught.value).startswith(f"{path}: {field}: ")


def test_a_scenario_must_cover_its_languages_and_have_its_sections(tmp_path: Path) -> None:
    raw = _scenario()
    raw["agents"] = [a for a in raw["agents"] if "zh" not in a["languages"]]
    with pytest.raises(ScenarioError, match="no agent speaks this language") as caught:
        parse_scenario(raw)
    assert caught.value.field.startswith("arrivals.mix.") and caught.value.field.endswith(".zh")
    raw = _scenario()
    del raw["agents"]
    with pytest.raises(ScenarioError, match="agents: is required"):
        parse_scenario(raw)
    path = tmp_path / "broken.yml"
    path.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(ScenarioError, match="invalid YAML"):
        load_scenario(path)


def test_the_simulator_speaks_the_languages_the_routing_engine_accepts() -> None:
    from handoff.routing.engine import LANGUAGES as ENGINE_LANGUAGES

    assert LANGUAGES == ENGINE_LANGUAGES


def test_the_package_imports_neither_redis_nor_sanic() -> None:
    code = (
        "import sys, handoff.simulator, handoff.simulator.__main__\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('redis', 'sanic'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


# -- sweep, frontier, plot ---------------------------------------------------------------------------


def test_the_weight_grid_covers_every_mix_that_adds_up_to_one() -> None:
    grid = weight_grid(0.1)
    assert len(grid) == 66
    assert all(abs(w.skill + w.load + w.rating - 1.0) < 1e-9 for w in grid)
    assert Weights(0.4, 0.3, 0.3) in grid and Weights(1.0, 0.0, 0.0) in grid
    assert len(weight_grid(0.5)) == 6
    with pytest.raises(ValueError, match="divide 1"):
        weight_grid(0.3)


def point(label: str, wait: float, fcr: float, kind: str = "grid", frontier: bool = False) -> SweepPoint:
    return SweepPoint(label, kind, None, wait, fcr, 0.0, 0.0, frontier)


def test_the_frontier_keeps_the_points_nothing_beats_on_both() -> None:
    points = [
        point("a", 10, 0.70),
        point("b", 12, 0.80),
        point("c", 11, 0.69),
        point("d", 15, 0.79),
        point("e", 9, 0.6),
    ]
    assert [points[i].label for i in pareto(points)] == ["e", "a", "b"]


def test_the_frontier_plot_is_well_formed_svg_with_every_point() -> None:
    points = [
        point("weighted 0.5/0.5/0", 20.0, 0.78, frontier=True),
        point("weighted 0/1/0", 18.0, 0.75, frontier=True),
        point("weighted 0/0/1", 25.0, 0.74),
        point("weighted 0.4/0.3/0.3", 19.0, 0.77, kind="default"),
        point("round robin", 22.0, 0.73, kind="round_robin"),
        point("least busy", 21.0, 0.74, kind="least_busy"),
    ]
    svg = frontier_svg(points, "Routing weights <default>")
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    plotted = {el.get("data-label"): el for el in root.iter() if "point" in (el.get("class") or "").split()}
    assert set(plotted) == {p.label for p in points}
    assert float(plotted["round robin"].get("data-wait") or 0) == 22.0
    assert plotted["round robin"].tag == f"{ns}rect"
    assert "on-frontier" in (plotted["weighted 0/1/0"].get("class") or "")
    line = root.find(f"{ns}polyline[@class='frontier']")
    assert line is not None
    xs = [float(xy.split(",")[0]) for xy in (line.get("points") or "").split()]
    assert len(xs) == 2 and xs == sorted(xs)
    texts = "".join(el.text or "" for el in root.iter(f"{ns}text"))
    assert "mean wait (s)" in texts and "first-contact resolution (%)" in texts
    assert root.find(f"{ns}title") is not None and "<default>" in (root.find(f"{ns}title").text or "")  # type: ignore[union-attr]


def test_nice_ticks_cover_the_range_in_round_steps() -> None:
    assert nice_ticks(18.2, 20.1) == [18.0, 18.5, 19.0, 19.5, 20.0, 20.5]
    assert nice_ticks(0.0, 100.0) == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    assert nice_ticks(5.0, 5.0)[0] <= 5.0 <= nice_ticks(5.0, 5.0)[-1]


def test_the_target_check_compares_seed_by_seed_on_the_same_customers() -> None:
    scenario = load_scenario()
    check = target_check(scenario, [1, 2])
    for gain, w, rr in zip(
        check.fcr_gain_points, check.weighted.reports, check.round_robin.reports, strict=True
    ):
        assert gain == pytest.approx(100 * ((w.fcr or 0) - (rr.fcr or 0)))
        assert w.arrivals == rr.arrivals
    data = check.as_dict()
    assert data["met"] == (data["fcr_gain_points_mean"] >= 3.0 and data["wait_change_mean"] <= 0.10)


# -- replay ------------------------------------------------------------------------------------------

EPOCH = 1_790_000_000.0


def records_from(result: Any) -> list[dict[str, Any]]:
    """Rows shaped like the analytics store's handoff_records, from a simulated run."""
    rows = []
    for o in result.outcomes:
        answered = o.answered_at is not None
        rows.append(
            {
                "ts": EPOCH + o.arrival.at,
                "queue": o.arrival.skill,
                "language": o.arrival.language,
                "wait": o.wait,
                "handle": o.handle if answered else None,
                "agent_id": o.agent_id,
                "recontacted": (not o.resolved) if answered else None,
            }
        )
    return rows


def _recorded_day(policy: Any = None) -> tuple[list[dict[str, Any]], list[SimAgent]]:
    """A day of the default scenario as the store would record it, and the team as the routing engine
    lists it (no shifts: the replay reads presence from the records)."""
    scenario = load_scenario()
    result = simulate(
        scenario.arrivals(3),
        scenario.team(),
        policy or RoundRobinPolicy(),
        resolution=scenario.resolution,
        widen_after=scenario.widen_after,
    )
    team = [
        SimAgent(a.id, a.languages, a.skills, a.capacity, a.rating_sum, a.rating_count)
        for a in scenario.team()
    ]
    return records_from(result), team


def test_replaying_the_weights_that_were_in_use_comes_close_to_the_record() -> None:
    rows, team = _recorded_day(WeightedPolicy())
    result = compare(rows, team, Weights(), Weights(), seeds=(1, 2, 3))
    recorded, current = result.recorded, result.current
    assert current.fcr == pytest.approx(recorded["fcr"], abs=0.02)
    assert current.abandonment_rate == pytest.approx(recorded["abandonment_rate"], abs=0.02)
    assert current.wait_mean == pytest.approx(recorded["wait_mean"], rel=0.25)


def test_replaying_a_one_agent_team_reproduces_the_record() -> None:
    team = [agent("solo", skills={"orders": 0.7}, capacity=2)]
    arrivals = [
        chat(t * 37.0, 60.0 + (t % 5) * 20, resolve_draw=(t * 0.137) % 1, patience=90.0) for t in range(60)
    ]
    result = simulate(arrivals, team, WeightedPolicy(), resolution=ResolutionModel(), widen_after=None)
    rows = records_from(result)
    recorded = build_report(result, "recorded")
    for weights in (Weights(), Weights(0.0, 1.0, 0.0)):
        again = replay(rows, team, weights, config=RoutingConfig(widen_after=10_000.0), seeds=(1, 2))
        # One agent takes every chat again, at the same moments; the outcome of each is the recorded one.
        assert again.fcr == pytest.approx(recorded.fcr)
        assert again.answered == 2 * recorded.answered and again.abandoned == 2 * recorded.abandoned
        assert again.wait_mean == pytest.approx(recorded.wait_mean)


def test_compare_predicts_the_effect_of_a_weight_change_on_the_same_customers() -> None:
    rows, team = _recorded_day()
    same = compare(rows, team, Weights(), Weights(), seeds=(1,))
    assert all(v == 0 for v in same.delta.values() if v is not None)
    result = compare(rows, team, Weights(), Weights(0.0, 1.0, 0.0), seeds=(1, 2))
    assert result.current.arrivals == result.proposed.arrivals == 2 * len(rows)
    for name, delta in result.delta.items():
        a, b = result.current.metric(name), result.proposed.metric(name)
        assert delta == (None if a is None or b is None else pytest.approx(b - a))
    # Dropping the skill weight hands chats to whoever is least loaded: resolution falls.
    assert (result.delta["fcr"] or 0) < 0
    data = result.as_dict()
    assert data["proposed_weights"] == {"skill": 0.0, "load": 1.0, "rating": 0.0}
    assert data["recorded"]["arrivals"] == len(rows)
    json.dumps(data)  # the console gets it as JSON


def test_presence_is_read_from_the_records() -> None:
    records = parse_records(
        [
            {
                "ts": 100.0,
                "queue": "orders",
                "language": "en",
                "wait": 10.0,
                "handle": 50.0,
                "agent_id": "a",
                "recontacted": False,
            },
            {
                "ts": 200.0,
                "queue": "orders",
                "language": "en",
                "wait": 0.0,
                "handle": 100.0,
                "agent_id": "a",
                "recontacted": None,
            },
            {
                "ts": 9000.0,
                "queue": "orders",
                "language": "en",
                "wait": 5.0,
                "handle": 60.0,
                "agent_id": "a",
                "recontacted": True,
            },
            {
                "ts": 300.0,
                "queue": "orders",
                "language": "zh",
                "wait": 40.0,
                "handle": None,
                "agent_id": None,
                "recontacted": None,
            },
        ]
    )
    assert presence(records, t0=100.0, gap=3600.0) == {"a": ((10.0, 200.0), (8905.0, 8965.0))}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"queue": "orders", "language": "en"}, r"records\[0\]\.ts"),
        ({"ts": 1.0, "queue": "", "language": "en"}, r"records\[0\]\.queue"),
        ({"ts": 1.0, "queue": "orders", "language": "fr"}, r"records\[0\]\.language"),
        ({"ts": 1.0, "queue": "orders", "language": "en", "wait": -1}, r"records\[0\]\.wait"),
        (
            {"ts": 1.0, "queue": "orders", "language": "en", "recontacted": "yes"},
            r"records\[0\]\.recontacted",
        ),
    ],
)
def test_a_bad_record_is_named(row: dict[str, Any], message: str) -> None:
    with pytest.raises(ReplayError, match=message):
        parse_records([row])


def test_replay_rejects_bad_agents_and_empty_input() -> None:
    row = {"ts": 1.0, "queue": "orders", "language": "en", "wait": 1.0, "handle": 10.0, "agent_id": "a"}
    with pytest.raises(ReplayError, match="nothing to replay"):
        replay([], [agent("a")], Weights())
    with pytest.raises(ReplayError, match=r"agents\[0\]\.capacity"):
        replay([row], [{"id": "a", "languages": ["en"], "skills": {"orders": 1}, "capacity": 0}], Weights())
    engine_row = {
        "id": "a", "languages": ["en"], "skills": {"orders": 1.0}, "capacity": 2, "rating_average": 4.5,
        "rating_count": 10, "name": "A", "active": 0, "presence": "online",
    }  # fmt: skip
    report = replay([row], [engine_row], Weights(), seeds=(1,))
    assert report.answered == 1


# -- command line ------------------------------------------------------------------------------------


def test_the_command_line_runs_a_scenario_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.json"
    assert (
        cli.main(["run", "--policy", "round_robin", "--limit", "2", "--seed", "1", "--json", str(out)]) == 0
    )
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["scenario"] == "default" and data["seeds"] == [1]
    assert data["runs"][0]["policy"] == "round robin (limit 2)"
    assert "round robin (limit 2) seed 1" in capsys.readouterr().out


def test_the_command_line_names_a_bad_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(_break(_scenario(), "agents.0.capacity", "three")), encoding="utf-8")
    assert cli.main(["run", "--scenario", str(path)]) == 2
    assert f"error: {path}: agents[0].capacity:" in capsys.readouterr().err
    assert cli.main(["run", "--weights", "1,2"]) == 2
    assert cli.main(["target", "--seeds", "5-1"]) == 2
    assert cli.parse_seeds("1-3,7") == [1, 2, 3, 7]

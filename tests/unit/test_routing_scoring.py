"""The pure scoring: who qualifies and in what order, including properties checked over random agents."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handoff.routing.config import ConfigError, RoutingConfig, Weights
from handoff.routing.scoring import AgentState, Filter, Presence, rank, score, shrunk_rating

CONFIG = RoutingConfig()
SKILLS = ("returns", "orders", "payments", "general")


def agent(agent_id: str, **kw: object) -> AgentState:
    defaults: dict[str, object] = {
        "languages": frozenset({"en"}),
        "skills": {"returns": 0.8},
        "capacity": 3,
        "active": 0,
        "presence": Presence.ONLINE,
    }
    defaults.update(kw)
    return AgentState(id=agent_id, **defaults)  # type: ignore[arg-type]


def test_the_default_weights_are_the_products_formula() -> None:
    a = agent("a", skills={"returns": 0.5}, capacity=4, active=1, rating_sum=5.0, rating_count=1)
    candidate = score(a, "returns", CONFIG)
    rating = ((4.0 * 5 + 5.0) / 6 - 1) / 4
    assert candidate.parts.skill == pytest.approx(0.4 * 0.5)
    assert candidate.parts.load == pytest.approx(0.3 * (1 - 0.25))
    assert candidate.parts.rating == pytest.approx(0.3 * rating)
    assert candidate.parts.total == pytest.approx(0.2 + 0.225 + 0.3 * rating)


def test_one_early_five_star_review_does_not_dominate() -> None:
    newcomer = shrunk_rating(5.0, 1, prior_mean=4.0, prior_weight=5)
    veteran = shrunk_rating(4.8 * 200, 200, prior_mean=4.0, prior_weight=5)
    assert newcomer < veteran
    assert shrunk_rating(0, 0, 4.0, 5) == pytest.approx(0.75)
    assert 0.0 <= shrunk_rating(1.0 * 50, 50, 4.0, 5) < 0.1


def test_filters_remove_agents_for_the_first_reason_that_applies() -> None:
    agents = [
        agent("away", presence=Presence.AWAY),
        agent("no-skill", skills={"orders": 1.0}),
        agent("no-zh", languages=frozenset({"en"})),
        agent("full", languages=frozenset({"zh"}), capacity=2, active=2),
        agent("declined", languages=frozenset({"zh"})),
        agent("ok", languages=frozenset({"zh", "en"})),
    ]
    ranking = rank(agents, "returns", "zh", CONFIG, declined=frozenset({"declined"}))
    assert [c.agent_id for c in ranking.candidates] == ["ok"]
    assert ranking.removed == {
        Filter.NOT_ONLINE: ["away"],
        Filter.NO_SKILL: ["no-skill"],
        Filter.NO_LANGUAGE: ["no-zh"],
        Filter.FULL: ["full"],
        Filter.DECLINED: ["declined"],
    }


def test_widened_routing_ignores_skill() -> None:
    agents = [agent("expert", skills={"returns": 1.0}, active=2), agent("idle", skills={"orders": 0.1})]
    ranking = rank(agents, None, "en", CONFIG)
    assert [c.agent_id for c in ranking.candidates] == ["idle", "expert"]
    assert all(c.parts.skill == 0 for c in ranking.candidates)


def test_ties_go_to_the_lower_id_like_the_redis_pools() -> None:
    ranking = rank([agent("b"), agent("a"), agent("c")], "returns", "en", CONFIG)
    assert [c.agent_id for c in ranking.candidates] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"skill": -0.1}, "weights.skill must not be negative"),
        ({"skill": 0, "load": 0, "rating": 0}, "must not all be zero"),
        ({"skill": "high"}, "weights.skill must be a number"),
        ({"speed": 1}, "unknown key"),
        ({"skill": float("nan")}, "weights.skill must be a number"),
    ],
)
def test_bad_weights_are_rejected_with_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Weights.parse(raw)


def test_the_shipped_configuration_loads_and_maps_intents_to_skills() -> None:
    config = RoutingConfig.load()
    assert config.weights == Weights(0.4, 0.3, 0.3)
    assert config.skill_for("damaged_goods", "request_human") == "returns"
    assert config.skill_for("customer_request", "order_status") == "orders"
    assert config.skill_for("kb_miss", "ask_policy") == "general"
    assert config.priority_seconds("gold", 250.0, "complaint") == 60 + 25 + 60
    assert config.priority_seconds(None, 10_000.0, None) == config.order_value_seconds_max
    # Risk reasons and the customer's frustration move a conversation up the queue.
    assert config.priority_seconds(None, None, "injury") > config.priority_seconds(None, None, "complaint")
    assert config.skill_for("fraud", "order_status") == "complaints"
    calm = config.priority_seconds(None, None, "complaint", "calm")
    assert config.priority_seconds(None, None, "complaint", "angry") - calm == 45
    with pytest.raises(ConfigError, match=r"frustration_seconds\.furious"):
        RoutingConfig.parse({"queue": {"frustration_seconds": {"furious": 10}}})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"offers": {"timeout_seconds": 0}}, "offers.timeout_seconds"),
        ({"queue": {"tier_seconds": {"platinum": 5}}}, "queue.tier_seconds.platinum: unknown"),
        ({"skills": {"by_intent": {"x": "Bad Skill"}}}, "skills.by_intent.x"),
        ({"overflow": {"widen_after_seconds": 60, "ticket_after_seconds": 30}}, "ticket_after_seconds"),
        ({"rating": []}, "rating must be a mapping"),
    ],
)
def test_bad_configuration_names_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RoutingConfig.parse(raw)


# -- properties over random teams ------------------------------------------------------------------


@st.composite
def agent_states(draw: st.DrawFn) -> AgentState:
    count = draw(st.integers(0, 100))
    mean = draw(st.floats(1, 5))  # a rating history: count reviews of 1-5 stars
    capacity = draw(st.integers(1, 5))
    return AgentState(
        id=draw(st.text("abcdefghij", min_size=1, max_size=4)),
        languages=draw(st.frozensets(st.sampled_from(["en", "zh"]), min_size=1)),
        skills=draw(st.dictionaries(st.sampled_from(SKILLS), st.floats(0, 1), min_size=1)),
        capacity=capacity,
        active=draw(st.integers(0, capacity)),
        presence=draw(st.sampled_from(list(Presence))),
        rating_sum=mean * count,
        rating_count=count,
    )


agents_strategy = st.lists(agent_states(), max_size=25, unique_by=lambda a: a.id)
weights_strategy = st.builds(Weights, st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)).filter(
    lambda w: w.skill + w.load + w.rating > 0
)


@given(
    agents_strategy,
    st.sampled_from(SKILLS),
    st.sampled_from(["en", "zh"]),
    weights_strategy,
    st.frozensets(st.text("abcdefghij", min_size=1, max_size=4)),
)
def test_never_an_unqualified_or_full_agent_and_always_a_top_score(
    agents: list[AgentState], skill: str, language: str, weights: Weights, declined: frozenset[str]
) -> None:
    config = CONFIG.with_weights(weights)
    ranking = rank(agents, skill, language, config, declined)
    by_id = {a.id: a for a in agents}
    for candidate in ranking.candidates:
        a = by_id[candidate.agent_id]
        assert a.presence is Presence.ONLINE
        assert skill in a.skills and language in a.languages
        assert a.active < a.capacity
        assert a.id not in declined
    # everyone is either a candidate or removed by exactly one filter
    removed = [i for ids in ranking.removed.values() for i in ids]
    assert sorted(removed + [c.agent_id for c in ranking.candidates]) == sorted(by_id)
    if ranking.best is not None:
        assert ranking.best.parts.total == max(c.parts.total for c in ranking.candidates)
    totals = [c.parts.total for c in ranking.candidates]
    assert totals == sorted(totals, reverse=True)


@given(agents_strategy, st.sampled_from(SKILLS), weights_strategy)
def test_a_score_stays_within_the_sum_of_the_weights(
    agents: list[AgentState], skill: str, weights: Weights
) -> None:
    config = CONFIG.with_weights(weights)
    for a in agents:
        total = score(a, skill, config).parts.total
        assert -1e-12 <= total <= weights.skill + weights.load + weights.rating + 1e-12

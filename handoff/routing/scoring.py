"""Pure scoring: which agents qualify for a conversation and how they rank.

The Redis scripts keep each agent's score in per-(skill, language) pools with the same formula
(handoff/routing/scripts.py); tests check that both agree, so this module is the readable specification.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from handoff.routing.config import RoutingConfig, Weights


class Presence(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class Filter(StrEnum):
    """Why an agent was not a candidate, in the order the filters apply."""

    NOT_ONLINE = "not_online"
    NO_SKILL = "no_skill"
    NO_LANGUAGE = "no_language"
    FULL = "full"
    DECLINED = "declined"


@dataclass(frozen=True)
class AgentState:
    id: str
    languages: frozenset[str]
    skills: Mapping[str, float]
    capacity: int
    active: int = 0
    presence: Presence = Presence.OFFLINE
    rating_sum: float = 0.0
    rating_count: int = 0


@dataclass(frozen=True)
class ScoreParts:
    skill: float
    load: float
    rating: float

    @property
    def total(self) -> float:
        return self.skill + self.load + self.rating


@dataclass(frozen=True)
class Candidate:
    agent_id: str
    parts: ScoreParts
    proficiency: float
    load: float
    rating: float


@dataclass(frozen=True)
class Ranking:
    candidates: list[Candidate]
    removed: dict[Filter, list[str]] = field(default_factory=dict)

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


def shrunk_rating(rating_sum: float, rating_count: int, prior_mean: float, prior_weight: float) -> float:
    """Bayesian average of 1-5 stars mapped to [0, 1]: the prior counts as `prior_weight` reviews."""
    if prior_weight + rating_count <= 0:
        return (prior_mean - 1.0) / 4.0
    mean = (prior_mean * prior_weight + rating_sum) / (prior_weight + rating_count)
    return (mean - 1.0) / 4.0


def load_of(agent: AgentState) -> float:
    return agent.active / agent.capacity if agent.capacity > 0 else 1.0


def score(agent: AgentState, skill: str | None, config: RoutingConfig) -> Candidate:
    """Score parts for one agent. `skill=None` is widened routing, where proficiency does not count."""
    proficiency = agent.skills.get(skill, 0.0) if skill is not None else 0.0
    load = load_of(agent)
    rating = shrunk_rating(
        agent.rating_sum, agent.rating_count, config.rating_prior_mean, config.rating_prior_weight
    )
    parts = _parts(config.weights, proficiency, load, rating)
    return Candidate(agent.id, parts, proficiency, load, rating)


def _parts(weights: Weights, proficiency: float, load: float, rating: float) -> ScoreParts:
    return ScoreParts(weights.skill * proficiency, weights.load * (1.0 - load), weights.rating * rating)


def disqualification(
    agent: AgentState, skill: str | None, language: str, declined: frozenset[str] = frozenset()
) -> Filter | None:
    if agent.presence is not Presence.ONLINE:
        return Filter.NOT_ONLINE
    if skill is not None and skill not in agent.skills:
        return Filter.NO_SKILL
    if language not in agent.languages:
        return Filter.NO_LANGUAGE
    if agent.active >= agent.capacity:
        return Filter.FULL
    if agent.id in declined:
        return Filter.DECLINED
    return None


def rank(
    agents: Iterable[AgentState],
    skill: str | None,
    language: str,
    config: RoutingConfig,
    declined: frozenset[str] = frozenset(),
) -> Ranking:
    """All qualified agents, best first (ties: the lower agent id), and who each filter removed."""
    candidates: list[Candidate] = []
    removed: dict[Filter, list[str]] = {}
    for agent in agents:
        reason = disqualification(agent, skill, language, declined)
        if reason is None:
            candidates.append(score(agent, skill, config))
        else:
            removed.setdefault(reason, []).append(agent.id)
    candidates.sort(key=lambda c: (-c.parts.total, c.agent_id))
    return Ranking(candidates, removed)

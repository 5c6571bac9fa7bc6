"""Assignment policies: which free agent takes a chat that has just become routable.

A policy only chooses among the agents free at that moment. When an agent frees up and chats are waiting,
every policy lets that agent take the longest-waiting chat it qualifies for (the routing engine's
`route_for_agent`), so the policies differ in who answers, not in how long the queue is served.

Who qualifies is decided by the product's own `handoff.routing.scoring.disqualification` (online, skill,
language, room), and the weighted policy ranks with the product's `rank` and its `RoutingConfig`, so the
simulation exercises the code that routes real chats.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from handoff.routing.config import RoutingConfig, Weights
from handoff.routing.scoring import AgentState, disqualification, load_of, rank
from handoff.simulator.model import SimAgent

POLICY_NAMES = ("weighted", "round_robin", "least_busy", "random")


class PolicyError(ValueError):
    """A policy that cannot be built; the message names the option."""


class Router(Protocol):
    """The per-run state of a policy (a rotation, a random stream)."""

    def choose(self, skill: str | None, language: str, states: Sequence[AgentState]) -> int | None:
        """The index of the agent that takes the chat, or None when nobody qualifies. `skill` None is a
        widened chat: any agent with the language and room may take it."""
        ...

    def assigned(self, index: int) -> None:
        """Called on every assignment, also when a freed agent takes a waiting chat."""
        ...


class Policy(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def label(self) -> str: ...

    def capacity(self, agent: SimAgent) -> int:
        """Chats the agent may hold at once under this policy."""
        ...

    def router(self, agents: Sequence[SimAgent], config: RoutingConfig, seed: int) -> Router: ...


def _qualified(states: Sequence[AgentState], skill: str | None, language: str) -> list[int]:
    return [i for i, state in enumerate(states) if disqualification(state, skill, language) is None]


@dataclass(frozen=True)
class WeightedPolicy:
    """The product's scoring: skill · proficiency + load · (1 − active/capacity) + rating · shrunk rating."""

    weights: Weights = field(default_factory=Weights)
    name: str = field(default="weighted", init=False)

    @property
    def label(self) -> str:
        w = self.weights
        return f"weighted {w.skill:g}/{w.load:g}/{w.rating:g}"

    def capacity(self, agent: SimAgent) -> int:
        return agent.capacity

    def router(self, agents: Sequence[SimAgent], config: RoutingConfig, seed: int) -> Router:
        return _WeightedRouter(config.with_weights(self.weights), {a.id: i for i, a in enumerate(agents)})


class _WeightedRouter:
    def __init__(self, config: RoutingConfig, index: dict[str, int]) -> None:
        self._config = config
        self._index = index

    def choose(self, skill: str | None, language: str, states: Sequence[AgentState]) -> int | None:
        best = rank(states, skill, language, self._config).best
        return None if best is None else self._index[best.agent_id]

    def assigned(self, index: int) -> None:
        pass


@dataclass(frozen=True)
class RoundRobinPolicy:
    """Rotate through the qualified agents, the least recently assigned first, each up to a chat limit
    (Chatwoot's and Tiledesk's automatic assignment). `limit` None: each agent's own capacity."""

    limit: int | None = None
    name: str = field(default="round_robin", init=False)

    def __post_init__(self) -> None:
        if self.limit is not None and (isinstance(self.limit, bool) or self.limit < 1):
            raise PolicyError("round robin limit must be a positive number of chats")

    @property
    def label(self) -> str:
        return "round robin" if self.limit is None else f"round robin (limit {self.limit})"

    def capacity(self, agent: SimAgent) -> int:
        return agent.capacity if self.limit is None else min(agent.capacity, self.limit)

    def router(self, agents: Sequence[SimAgent], config: RoutingConfig, seed: int) -> Router:
        return _RotationRouter(len(agents))


class _RotationRouter:
    def __init__(self, count: int) -> None:
        self.order = list(range(count))  # the team's listed order to start with

    def choose(self, skill: str | None, language: str, states: Sequence[AgentState]) -> int | None:
        for index in self.order:
            if disqualification(states[index], skill, language) is None:
                return index
        return None

    def assigned(self, index: int) -> None:
        self.order.remove(index)
        self.order.append(index)


@dataclass(frozen=True)
class LeastBusyPolicy:
    """The qualified agent with the lowest load (active / capacity); ties go to the fewest chats, then
    the team's listed order."""

    name: str = field(default="least_busy", init=False)

    @property
    def label(self) -> str:
        return "least busy"

    def capacity(self, agent: SimAgent) -> int:
        return agent.capacity

    def router(self, agents: Sequence[SimAgent], config: RoutingConfig, seed: int) -> Router:
        return _LeastBusyRouter()


class _LeastBusyRouter:
    def choose(self, skill: str | None, language: str, states: Sequence[AgentState]) -> int | None:
        qualified = _qualified(states, skill, language)
        if not qualified:
            return None
        return min(qualified, key=lambda i: (load_of(states[i]), states[i].active, i))

    def assigned(self, index: int) -> None:
        pass


@dataclass(frozen=True)
class RandomPolicy:
    """A qualified agent drawn uniformly, from a stream seeded by the run's seed."""

    name: str = field(default="random", init=False)

    @property
    def label(self) -> str:
        return "random"

    def capacity(self, agent: SimAgent) -> int:
        return agent.capacity

    def router(self, agents: Sequence[SimAgent], config: RoutingConfig, seed: int) -> Router:
        # Its own stream: the customers' draws are made before the run and do not depend on it.
        return _RandomRouter(random.Random(f"random-policy:{seed}"))  # noqa: S311 - simulation, not security


class _RandomRouter:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def choose(self, skill: str | None, language: str, states: Sequence[AgentState]) -> int | None:
        qualified = _qualified(states, skill, language)
        return self._rng.choice(qualified) if qualified else None

    def assigned(self, index: int) -> None:
        pass


def make_policy(name: str, weights: Weights | None = None, limit: int | None = None) -> Policy:
    """A policy by name; `weights` only for weighted, `limit` only for round robin."""
    if name not in POLICY_NAMES:
        raise PolicyError(f"policy must be one of {', '.join(POLICY_NAMES)}, not {name!r}")
    if weights is not None and name != "weighted":
        raise PolicyError("weights apply to the weighted policy only")
    if limit is not None and name != "round_robin":
        raise PolicyError("a chat limit applies to round robin only")
    if name == "weighted":
        return WeightedPolicy(weights or Weights())
    if name == "round_robin":
        return RoundRobinPolicy(limit)
    if name == "least_busy":
        return LeastBusyPolicy()
    return RandomPolicy()


def parse_weights(text: str) -> Weights:
    """'0.4,0.3,0.3' (skill, load, rating) as the routing configuration's Weights."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3:
        raise PolicyError("weights are three numbers: skill,load,rating (e.g. 0.4,0.3,0.3)")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise PolicyError(f"weights must be numbers, not {text!r}") from None
    return Weights.parse(dict(zip(("skill", "load", "rating"), values, strict=True)))

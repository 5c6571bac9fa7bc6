"""What the simulator works with: agents, escalated chats, and the model of handle time and resolution."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

#: The customer languages the routing engine accepts (handoff.routing.engine.LANGUAGES; repeated here so
#: the simulator needs no Redis client, a unit test keeps both equal).
LANGUAGES = ("en", "zh")


@dataclass(frozen=True)
class SimAgent:
    """A person in the simulated team. `online` holds absolute spans in simulation seconds; None means
    online for the whole run."""

    id: str
    languages: frozenset[str]
    skills: Mapping[str, float]
    capacity: int
    rating_sum: float = 0.0
    rating_count: int = 0
    resolution_effect: float = 0.0  # added to the chance of first-contact resolution, whatever the skill
    online: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True)
class ResolutionModel:
    """How an agent's proficiency in a chat's skill shows in the outcome.

    The chance that a chat is resolved at first contact is `base + proficiency_gain · proficiency + the
    agent's effect`, clamped to [0, 1]; proficiency is 0 for an agent without the skill (a chat widened to
    anyone who speaks the language). Handle time is the chat's own time for an expert with no other chat,
    times `1 + handle_slowdown · (1 − proficiency)`, times `1 + concurrency_slowdown · k` when the agent
    already holds k chats as it is taken.
    """

    base: float = 0.55
    proficiency_gain: float = 0.35
    handle_slowdown: float = 0.5
    concurrency_slowdown: float = 0.0

    def probability(self, proficiency: float, effect: float) -> float:
        return min(1.0, max(0.0, self.base + self.proficiency_gain * proficiency + effect))

    def handle_factor(self, proficiency: float, active: int) -> float:
        return (1.0 + self.handle_slowdown * (1.0 - proficiency)) * (1.0 + self.concurrency_slowdown * active)


@dataclass(frozen=True, slots=True)
class Arrival:
    """One escalated chat with everything chance decides about it drawn in advance, so every policy
    meets the same customers (common random numbers): compared policies differ only by their choices."""

    at: float  # seconds since the start of the run
    skill: str
    language: str
    handle: float  # seconds an expert without other chats needs
    patience: float  # seconds the customer waits before leaving; math.inf: never leaves
    resolve_draw: float  # uniform in [0, 1): resolved at first contact when below the agent's chance
    priority: float = 0.0  # seconds earlier than `at` it counts as queued (the routing config's priority)
    measured: bool = True  # False for chats that only set up the starting state (kept out of the report)


@dataclass(frozen=True, slots=True)
class ChatOutcome:
    arrival: Arrival
    answered_at: float | None  # None: the customer left (abandoned_at) before anyone took the chat
    abandoned_at: float | None
    agent_id: str | None
    skilled: bool  # the agent has the chat's skill (False: a widened chat taken by someone without it)
    proficiency: float  # the agent's in the chat's skill, 0 without it
    handle: float  # seconds the agent spent on it (0 when abandoned)
    resolved: bool

    @property
    def wait(self) -> float:
        end = self.answered_at if self.answered_at is not None else self.abandoned_at
        return (end if end is not None else math.inf) - self.arrival.at


@dataclass(frozen=True, slots=True)
class AgentTotals:
    id: str
    capacity: int
    handled: int
    resolved: int
    busy_seconds: float  # chat-seconds within the measured window (two chats for a minute: 120)
    online_seconds: float  # within the measured window


@dataclass(frozen=True)
class RunResult:
    outcomes: list[ChatOutcome]  # measured chats, in arrival order
    agents: list[AgentTotals]
    window: tuple[float, float]  # what utilisation is measured over

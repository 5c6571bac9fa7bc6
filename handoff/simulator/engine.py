"""The discrete-event simulation: one heap of timed events, arrivals merged in from a sorted list.

A chat that arrives is offered at once through the policy; nobody free means it waits in its (skill,
language) queue, ordered by arrival minus priority. After `widen_after` seconds it also becomes available
to any agent with the language (the routing engine's widening, where proficiency no longer counts). A
customer whose patience runs out first leaves. An agent who frees a slot or comes online takes the
longest-waiting chat it qualifies for, as the routing engine's `route_for_agent` does. Offers are
accepted at once (no offer timeouts or declines) and there are no transfers.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

from handoff.routing.config import RoutingConfig
from handoff.routing.scoring import AgentState, Presence
from handoff.simulator.model import (
    AgentTotals,
    Arrival,
    ChatOutcome,
    ResolutionModel,
    RunResult,
    SimAgent,
)
from handoff.simulator.policies import Policy

_DEPART, _ABANDON, _WIDEN, _ON, _OFF = range(5)
_UNSEEN, _WAITING, _ANSWERED, _ABANDONED = range(4)


class SimulationError(ValueError):
    """The agents or arrivals given to a run are inconsistent."""


def simulate(
    arrivals: Sequence[Arrival],
    agents: Sequence[SimAgent],
    policy: Policy,
    *,
    config: RoutingConfig | None = None,
    resolution: ResolutionModel | None = None,
    widen_after: float | None = None,
    seed: int = 0,
    window: tuple[float, float] | None = None,
) -> RunResult:
    """Run the arrivals through the team under `policy` until every chat is answered or abandoned.

    `config` supplies the rating prior (the weights come from the policy); `widen_after` None never widens.
    Utilisation is measured over `window` (default: from the first to the last measured arrival).
    """
    return _Run(
        agents, policy, config or RoutingConfig(), resolution or ResolutionModel(), widen_after, seed
    )(arrivals, window)


class _Run:
    def __init__(
        self,
        agents: Sequence[SimAgent],
        policy: Policy,
        config: RoutingConfig,
        resolution: ResolutionModel,
        widen_after: float | None,
        seed: int,
    ) -> None:
        if not agents:
            raise SimulationError("the team has no agents")
        ids = [a.id for a in agents]
        if len(set(ids)) != len(ids):
            raise SimulationError("agent ids must be unique")
        if widen_after is not None and not widen_after >= 0:
            raise SimulationError("widen_after must be a non-negative number of seconds or None")
        self.agents = list(agents)
        self.router = policy.router(self.agents, config, seed)
        self.resolution = resolution
        self.widen_after = widen_after
        self.capacity = [policy.capacity(a) for a in self.agents]
        self.active = [0] * len(self.agents)
        self.online = [a.online is None for a in self.agents]
        self.states = [self._state(i) for i in range(len(self.agents))]
        self.stale: set[int] = set()  # agents whose AgentState is rebuilt before the next decision
        self.handled = [0] * len(self.agents)
        self.resolved_by = [0] * len(self.agents)
        self.busy = [0.0] * len(self.agents)
        self.changed = [0.0] * len(self.agents)
        self.events: list[tuple[float, int, int, int]] = []
        self.seq = 0
        self.queues: dict[tuple[str, str], list[tuple[float, int]]] = {}
        self.widened: dict[str, list[tuple[float, int]]] = {}
        # The heaps each agent may take from: its skills × languages, then the widened chats per language.
        self.sources: list[list[list[tuple[float, int]]]] = []
        for agent in self.agents:
            heaps = [self._queue(skill, lang) for lang in sorted(agent.languages) for skill in agent.skills]
            heaps += [self.widened.setdefault(lang, []) for lang in sorted(agent.languages)]
            self.sources.append(heaps)

    def _queue(self, skill: str, language: str) -> list[tuple[float, int]]:
        return self.queues.setdefault((skill, language), [])

    def _state(self, i: int) -> AgentState:
        agent = self.agents[i]
        return AgentState(
            id=agent.id,
            languages=agent.languages,
            skills=agent.skills,
            capacity=self.capacity[i],
            active=self.active[i],
            presence=Presence.ONLINE if self.online[i] else Presence.OFFLINE,
            rating_sum=agent.rating_sum,
            rating_count=agent.rating_count,
        )

    def _current(self) -> list[AgentState]:
        for a in self.stale:
            self.states[a] = self._state(a)
        self.stale.clear()
        return self.states

    def _push(self, at: float, kind: int, ref: int) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, ref))

    def __call__(self, arrivals: Sequence[Arrival], window: tuple[float, float] | None) -> RunResult:
        chats = sorted(arrivals, key=lambda a: a.at)  # stable: equal times keep their given order
        measured_times = [a.at for a in chats if a.measured]
        if window is None:
            window = (measured_times[0], measured_times[-1]) if measured_times else (0.0, 0.0)
        self.lo, self.hi = window
        self.chats = chats
        n = len(chats)
        self.status = [_UNSEEN] * n
        self.answered_at: list[float | None] = [None] * n
        self.abandoned_at: list[float | None] = [None] * n
        self.agent_of = [-1] * n
        self.proficiency = [0.0] * n
        self.handle = [0.0] * n
        self.resolved = [False] * n
        for i, agent in enumerate(self.agents):
            for start, end in agent.online or ():
                self._push(start, _ON, i)
                self._push(end, _OFF, i)

        events = self.events
        nxt = 0
        while True:
            arrival_at = chats[nxt].at if nxt < n else math.inf
            if events and events[0][0] <= arrival_at:
                now, _, kind, ref = heapq.heappop(events)
                if kind == _DEPART:
                    self._depart(ref, now)
                elif kind == _ABANDON:
                    if self.status[ref] == _WAITING:
                        self.status[ref] = _ABANDONED
                        self.abandoned_at[ref] = now
                elif kind == _WIDEN:
                    self._widen(ref, now)
                elif kind == _ON:
                    self._set_online(ref, True, now)
                else:
                    self._set_online(ref, False, now)
            elif nxt < n:
                self._arrive(nxt)
                nxt += 1
            else:
                break
        return self._result()

    # -- events --------------------------------------------------------------------------------------

    def _arrive(self, c: int) -> None:
        chat = self.chats[c]
        now = chat.at
        self.status[c] = _WAITING
        choice = self.router.choose(chat.skill, chat.language, self._current())
        if choice is not None:
            self._assign(c, choice, now)
            return
        heapq.heappush(self._queue(chat.skill, chat.language), (now - chat.priority, c))
        if chat.patience < math.inf:
            self._push(now + chat.patience, _ABANDON, c)
        if self.widen_after is not None and self.widen_after < chat.patience:
            self._push(now + self.widen_after, _WIDEN, c)

    def _widen(self, c: int, now: float) -> None:
        if self.status[c] != _WAITING:
            return
        chat = self.chats[c]
        heapq.heappush(self.widened.setdefault(chat.language, []), (chat.at - chat.priority, c))
        choice = self.router.choose(None, chat.language, self._current())
        if choice is not None:
            self._assign(c, choice, now)

    def _depart(self, c: int, now: float) -> None:
        a = self.agent_of[c]
        self._account(a, now)
        self.active[a] -= 1
        self.stale.add(a)
        self._pull(a, now)

    def _set_online(self, a: int, online: bool, now: float) -> None:
        self.online[a] = online
        self.stale.add(a)
        if online:
            self._pull(a, now)

    def _pull(self, a: int, now: float) -> None:
        """The agent has room: it takes the longest-waiting chats it qualifies for while room lasts."""
        status = self.status
        while self.online[a] and self.active[a] < self.capacity[a]:
            best: list[tuple[float, int]] | None = None
            for heap in self.sources[a]:
                while heap and status[heap[0][1]] != _WAITING:
                    heapq.heappop(heap)  # answered or abandoned meanwhile (or reached through another heap)
                if heap and (best is None or heap[0] < best[0]):
                    best = heap
            if best is None:
                return
            _, c = heapq.heappop(best)
            self._assign(c, a, now)

    def _assign(self, c: int, a: int, now: float) -> None:
        chat = self.chats[c]
        agent = self.agents[a]
        proficiency = agent.skills.get(chat.skill, 0.0)
        handle = chat.handle * self.resolution.handle_factor(proficiency, self.active[a])
        self._account(a, now)
        self.active[a] += 1
        self.stale.add(a)
        self.router.assigned(a)
        self.status[c] = _ANSWERED
        self.answered_at[c] = now
        self.agent_of[c] = a
        self.proficiency[c] = proficiency
        self.handle[c] = handle
        self.resolved[c] = chat.resolve_draw < self.resolution.probability(
            proficiency, agent.resolution_effect
        )
        if chat.measured:
            self.handled[a] += 1
            self.resolved_by[a] += self.resolved[c]
        self._push(now + handle, _DEPART, c)

    def _account(self, a: int, now: float) -> None:
        """Add the agent's chat-seconds since its last change, clipped to the measured window."""
        start = min(max(self.changed[a], self.lo), self.hi)
        end = min(max(now, self.lo), self.hi)
        self.busy[a] += self.active[a] * (end - start)
        self.changed[a] = now

    # -- result --------------------------------------------------------------------------------------

    def _result(self) -> RunResult:
        outcomes = []
        for c, chat in enumerate(self.chats):
            if not chat.measured:
                continue
            a = self.agent_of[c]
            outcomes.append(
                ChatOutcome(
                    arrival=chat,
                    answered_at=self.answered_at[c],
                    abandoned_at=self.abandoned_at[c],
                    agent_id=self.agents[a].id if a >= 0 else None,
                    skilled=a >= 0 and chat.skill in self.agents[a].skills,
                    proficiency=self.proficiency[c],
                    handle=self.handle[c],
                    resolved=self.resolved[c],
                )
            )
        totals = [
            AgentTotals(
                id=agent.id,
                capacity=self.capacity[i],
                handled=self.handled[i],
                resolved=self.resolved_by[i],
                busy_seconds=self.busy[i],
                online_seconds=_overlap(agent.online, self.lo, self.hi),
            )
            for i, agent in enumerate(self.agents)
        ]
        return RunResult(outcomes, totals, (self.lo, self.hi))


def _overlap(spans: tuple[tuple[float, float], ...] | None, lo: float, hi: float) -> float:
    if spans is None:
        return max(0.0, hi - lo)
    return sum(max(0.0, min(end, hi) - max(start, lo)) for start, end in spans)

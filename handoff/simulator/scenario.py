"""Scenarios: a team, its shifts, and the chats escalated to it over one or more days, read from YAML.

Every problem is reported as a ScenarioError naming the file and the field (e.g. `agents[2].capacity`),
so a scenario edited by hand fails with a message that points at the line to fix.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from handoff.routing.config import DEFAULT_PATH as ROUTING_PATH
from handoff.routing.config import SKILL, ConfigError, RoutingConfig
from handoff.simulator.model import LANGUAGES, Arrival, ResolutionModel, SimAgent

DEFAULT_SCENARIO = Path(__file__).resolve().parent / "scenarios" / "default.yml"
DAY = 86400.0
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)\Z")
_TOP = {
    "name",
    "description",
    "days",
    "arrivals",
    "skills",
    "patience",
    "resolution",
    "routing",
    "agents",
    "service_level_seconds",
}
_AGENT = {"id", "languages", "skills", "capacity", "rating", "resolution_effect", "shift"}


class ScenarioError(ValueError):
    """A scenario that cannot be simulated; `path` is the file (None for an in-memory mapping) and
    `field` the dotted name of the offending value."""

    def __init__(self, field: str, message: str, path: Path | str | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.field = field
        self.message = message
        super().__init__(f"{self.path}: {field}: {message}" if self.path else f"{field}: {message}")


@dataclass(frozen=True)
class SkillSpec:
    handle_mean: float  # seconds, for an expert holding no other chat
    handle_cv: float  # coefficient of variation of a lognormal handle time


@dataclass(frozen=True)
class Stream:
    skill: str
    language: str
    share: float


@dataclass(frozen=True)
class TeamMember:
    id: str
    languages: frozenset[str]
    skills: Mapping[str, float]
    capacity: int
    rating_average: float | None
    rating_count: int
    resolution_effect: float
    shifts: tuple[tuple[float, float], ...] | None  # seconds after midnight, every day; None: always on

    def agent(self, days: int) -> SimAgent:
        online = None
        if self.shifts is not None:
            online = tuple(
                (d * DAY + start, d * DAY + end) for d in range(days) for start, end in self.shifts
            )
        return SimAgent(
            id=self.id,
            languages=self.languages,
            skills=dict(self.skills),
            capacity=self.capacity,
            rating_sum=(self.rating_average or 0.0) * self.rating_count,
            rating_count=self.rating_count,
            resolution_effect=self.resolution_effect,
            online=online,
        )


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    days: int
    per_day: float
    profile: tuple[float, ...]  # relative volume for each hour of the day, 0-23
    streams: tuple[Stream, ...]
    skills: Mapping[str, SkillSpec]
    patience_mean: float | None  # exponential patience; None: nobody leaves
    resolution: ResolutionModel
    widen_after: float | None
    members: tuple[TeamMember, ...]
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    service_level_seconds: float = 20.0

    @property
    def horizon(self) -> float:
        return self.days * DAY

    def team(self) -> list[SimAgent]:
        return [m.agent(self.days) for m in self.members]

    def arrivals(self, seed: int) -> list[Arrival]:
        """Poisson arrivals whose rate is constant within each hour (so restarting the exponential gaps at
        each hour boundary is exact), each with its stream, handle time, patience and resolution draw."""
        rng = random.Random(f"scenario:{self.name}:{seed}")  # noqa: S311 - simulation, not security
        cumulative = []
        total_share = 0.0
        for stream in self.streams:
            total_share += stream.share
            cumulative.append(total_share)
        weight = sum(self.profile)
        lognormal = {name: _lognormal(spec) for name, spec in self.skills.items()}
        out: list[Arrival] = []
        for day in range(self.days):
            for hour, volume in enumerate(self.profile):
                rate = self.per_day * volume / weight / 3600.0
                if rate <= 0:
                    continue
                t = day * DAY + hour * 3600.0
                end = t + 3600.0
                while True:
                    t += rng.expovariate(rate)
                    if t >= end:
                        break
                    index = min(
                        bisect.bisect_right(cumulative, rng.random() * total_share), len(cumulative) - 1
                    )
                    stream = self.streams[index]
                    mu, sigma = lognormal[stream.skill]
                    handle = rng.lognormvariate(mu, sigma)
                    patience = rng.expovariate(1.0 / self.patience_mean) if self.patience_mean else math.inf
                    out.append(Arrival(t, stream.skill, stream.language, handle, patience, rng.random()))
        return out

    def offered_hours(self) -> float:
        """Expected agent-hours of work per day at full proficiency (a staffing sanity check)."""
        shares = sum(s.share for s in self.streams)
        return (
            sum(self.per_day * s.share / shares * self.skills[s.skill].handle_mean for s in self.streams)
            / 3600
        )


def _lognormal(spec: SkillSpec) -> tuple[float, float]:
    """(μ, σ) of the normal whose exponential has the skill's mean and coefficient of variation."""
    variance = math.log1p(spec.handle_cv**2)
    return math.log(spec.handle_mean) - variance / 2, math.sqrt(variance)


def load_scenario(path: Path | str = DEFAULT_SCENARIO, routing_path: Path = ROUTING_PATH) -> Scenario:
    """Read and check a scenario file; the routing configuration supplies the rating prior and, unless the
    scenario sets `routing.widen_after_seconds`, when a waiting chat is widened."""
    source = Path(path)
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError("(file)", f"cannot read ({exc.strerror})", source) from None
    except yaml.YAMLError as exc:
        raise ScenarioError("(file)", f"invalid YAML: {exc}", source) from None
    try:
        routing = RoutingConfig.load(routing_path)
    except ConfigError as exc:
        raise ScenarioError("routing", str(exc), source) from None
    return parse_scenario(raw, source, routing)


def parse_scenario(
    raw: Any, path: Path | str | None = None, routing: RoutingConfig | None = None
) -> Scenario:
    return _Parser(path).scenario(raw, routing or RoutingConfig())


class _Parser:
    def __init__(self, path: Path | str | None) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> ScenarioError:
        return ScenarioError(where, message, self.path)

    def mapping(self, value: Any, where: str, allowed: set[str] | None = None) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, "must be a mapping")
        if allowed is not None:
            unknown = sorted(str(k) for k in value if k not in allowed)
            if unknown:
                raise self.fail(
                    f"{where}.{unknown[0]}" if where else unknown[0],
                    f"unknown key; expected one of {', '.join(sorted(allowed))}",
                )
        return value

    def number(self, value: Any, where: str, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(where, "must be a number")
        if not low <= value <= high:
            raise self.fail(where, f"must be in {low:g}..{high:g}")
        return float(value)

    def integer(self, value: Any, where: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(where, f"must be a whole number in {low}..{high}")
        return value

    def skill(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not SKILL.match(value):
            raise self.fail(where, "must be a skill name (lowercase letters, digits, underscores)")
        return value

    def scenario(self, raw: Any, routing: RoutingConfig) -> Scenario:
        top = self.mapping(raw, "", _TOP)
        for key in ("name", "arrivals", "skills", "agents"):
            if key not in top:
                raise self.fail(key, "is required")
        name = top["name"]
        if not isinstance(name, str) or not name.strip():
            raise self.fail("name", "must be a non-empty string")
        description = top.get("description", "")
        if not isinstance(description, str):
            raise self.fail("description", "must be text")
        skills = self.skills(top["skills"])
        per_day, profile, streams = self.arrivals(top["arrivals"], skills)
        patience = self.mapping(top.get("patience", {}), "patience", {"mean_seconds"})
        patience_raw = patience.get("mean_seconds", 300)
        patience_mean = (
            None if patience_raw is None else self.number(patience_raw, "patience.mean_seconds", 1, DAY)
        )
        resolution = self.resolution(top.get("resolution", {}))
        overrides = self.mapping(top.get("routing", {}), "routing", {"widen_after_seconds"})
        widen_after: float | None = routing.widen_after
        if "widen_after_seconds" in overrides:
            value = overrides["widen_after_seconds"]
            widen_after = None if value is None else self.number(value, "routing.widen_after_seconds", 0, DAY)
        members = self.members(top["agents"], skills)
        languages = {lang for m in members for lang in m.languages}
        for stream in streams:
            if stream.language not in languages:
                raise self.fail(
                    f"arrivals.mix.{stream.skill}.{stream.language}", "no agent speaks this language"
                )
        return Scenario(
            name=name.strip(),
            description=description.strip(),
            days=self.integer(top.get("days", 1), "days", 1, 366),
            per_day=per_day,
            profile=profile,
            streams=streams,
            skills=skills,
            patience_mean=patience_mean,
            resolution=resolution,
            widen_after=widen_after,
            members=members,
            routing=routing,
            service_level_seconds=self.number(
                top.get("service_level_seconds", 20), "service_level_seconds", 1, 3600
            ),
        )

    def skills(self, raw: Any) -> dict[str, SkillSpec]:
        section = self.mapping(raw, "skills")
        if not section:
            raise self.fail("skills", "must list at least one skill")
        out = {}
        for name, spec in section.items():
            where = f"skills.{name}"
            self.skill(name, where)
            body = self.mapping(spec, where, {"handle_mean_seconds", "handle_cv"})
            if "handle_mean_seconds" not in body:
                raise self.fail(f"{where}.handle_mean_seconds", "is required")
            out[name] = SkillSpec(
                handle_mean=self.number(body["handle_mean_seconds"], f"{where}.handle_mean_seconds", 1, DAY),
                handle_cv=self.number(body.get("handle_cv", 0.8), f"{where}.handle_cv", 0, 5),
            )
        return out

    def arrivals(
        self, raw: Any, skills: Mapping[str, SkillSpec]
    ) -> tuple[float, tuple[float, ...], tuple[Stream, ...]]:
        section = self.mapping(raw, "arrivals", {"per_day", "profile", "mix"})
        for key in ("per_day", "profile", "mix"):
            if key not in section:
                raise self.fail(f"arrivals.{key}", "is required")
        per_day = self.number(section["per_day"], "arrivals.per_day", 0, 1_000_000)
        profile = section["profile"]
        if not isinstance(profile, list) or len(profile) != 24:
            raise self.fail("arrivals.profile", "must list 24 relative volumes, one for each hour from 00:00")
        hours = tuple(self.number(v, f"arrivals.profile[{i}]", 0, 1e6) for i, v in enumerate(profile))
        if not any(hours):
            raise self.fail("arrivals.profile", "must have some volume in at least one hour")
        streams = []
        for skill, by_language in self.mapping(section["mix"], "arrivals.mix").items():
            where = f"arrivals.mix.{skill}"
            if skill not in skills:
                raise self.fail(where, "is not one of the skills listed under skills")
            for language, share in self.mapping(by_language, where, set(LANGUAGES)).items():
                value = self.number(share, f"{where}.{language}", 0, 1)
                if value > 0:
                    streams.append(Stream(str(skill), str(language), value))
        total = sum(s.share for s in streams)
        if abs(total - 1.0) > 0.005:
            raise self.fail("arrivals.mix", f"shares must add up to 1 (they add up to {total:.4f})")
        return per_day, hours, tuple(streams)

    def resolution(self, raw: Any) -> ResolutionModel:
        where = "resolution"
        section = self.mapping(
            raw, where, {"base", "proficiency_gain", "handle_slowdown", "concurrency_slowdown"}
        )
        defaults = ResolutionModel()

        def value(name: str, high: float) -> float:
            return self.number(section.get(name, getattr(defaults, name)), f"{where}.{name}", 0, high)

        model = ResolutionModel(
            base=value("base", 1),
            proficiency_gain=value("proficiency_gain", 1),
            handle_slowdown=value("handle_slowdown", 10),
            concurrency_slowdown=value("concurrency_slowdown", 10),
        )
        if model.base + model.proficiency_gain > 1:
            raise self.fail(f"{where}.proficiency_gain", "base + proficiency_gain must not exceed 1")
        return model

    def members(self, raw: Any, skills: Mapping[str, SkillSpec]) -> tuple[TeamMember, ...]:
        if not isinstance(raw, list) or not raw:
            raise self.fail("agents", "must be a non-empty list")
        seen: set[str] = set()
        out = []
        for i, item in enumerate(raw):
            where = f"agents[{i}]"
            body = self.mapping(item, where, _AGENT)
            for key in ("id", "languages", "skills", "capacity"):
                if key not in body:
                    raise self.fail(f"{where}.{key}", "is required")
            agent_id = body["id"]
            if not isinstance(agent_id, str) or not agent_id.strip():
                raise self.fail(f"{where}.id", "must be a non-empty string")
            if agent_id in seen:
                raise self.fail(f"{where}.id", f"{agent_id!r} is listed twice")
            seen.add(agent_id)
            languages = body["languages"]
            if (
                not isinstance(languages, list)
                or not languages
                or any(lang not in LANGUAGES for lang in languages)
            ):
                raise self.fail(f"{where}.languages", f"must be a non-empty list of {', '.join(LANGUAGES)}")
            own_skills = self.mapping(body["skills"], f"{where}.skills")
            if not own_skills:
                raise self.fail(f"{where}.skills", "must map at least one skill to a proficiency")
            proficiencies = {}
            for skill, level in own_skills.items():
                if skill not in skills:
                    raise self.fail(f"{where}.skills.{skill}", "is not one of the skills listed under skills")
                proficiencies[str(skill)] = self.number(level, f"{where}.skills.{skill}", 0, 1)
            rating = self.mapping(body.get("rating", {}), f"{where}.rating", {"average", "count"})
            count = self.integer(rating.get("count", 0), f"{where}.rating.count", 0, 10_000_000)
            average = rating.get("average")
            if count and average is None:
                raise self.fail(f"{where}.rating.average", "is required when count is above 0")
            out.append(
                TeamMember(
                    id=agent_id,
                    languages=frozenset(languages),
                    skills=proficiencies,
                    capacity=self.integer(body["capacity"], f"{where}.capacity", 1, 50),
                    rating_average=None
                    if average is None
                    else self.number(average, f"{where}.rating.average", 1, 5),
                    rating_count=count,
                    resolution_effect=self.number(
                        body.get("resolution_effect", 0.0), f"{where}.resolution_effect", -0.5, 0.5
                    ),
                    shifts=self.shifts(body.get("shift"), f"{where}.shift"),
                )
            )
        return tuple(out)

    def shifts(self, raw: Any, where: str) -> tuple[tuple[float, float], ...] | None:
        if raw is None:
            return None
        listed = [raw] if isinstance(raw, str) else raw
        if not isinstance(listed, list) or not listed:
            raise self.fail(where, 'must be a span like "08:00-16:00" or a list of them')
        spans = []
        for value in listed:
            match = _SPAN.match(value) if isinstance(value, str) else None
            if not match:
                raise self.fail(where, f'{value!r}: spans look like "08:00-16:00"')
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            start, end = h1 * 3600.0 + m1 * 60.0, h2 * 3600.0 + m2 * 60.0
            if end <= start or end > DAY:
                raise self.fail(where, f"{value}: must end after it starts, by 24:00")
            spans.append((start, end))
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            if start < end:
                raise self.fail(where, "spans must not overlap")
        return tuple(spans)

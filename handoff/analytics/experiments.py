"""Experiments: a conversation's variant is a pure function of the experiment id and the conversation id.

Supervisors define and stop experiments in the console; the hub asks `variants_for` / `params_for` on every
turn it could apply one, so those read an in-process copy of the running experiments that is checked
against a Redis version counter at most once a second: a stop on one worker reaches the others within
about a second, and a turn costs no Redis round trip most of the time.

Redis (all under "hub:experiments:"):
- `hub:experiments:<id>` string, the experiment as JSON (kept after it stops: results need its shares);
- `hub:experiments:all` sorted set of ids by creation time;
- `hub:experiments:running` hash kind → id: at most one running experiment per kind, so two experiments
  never fight over the same setting;
- `hub:experiments:version` counter, bumped by every create and stop;
- `hub:experiments:audit` list of JSON {ts, actor, action, detail}, newest first, capped. Its own list
  rather than the studio's: experiments are a supervisor's console action, and the entry is written in
  the same transaction as the change, so the log cannot miss one.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from handoff.errors import BadRequest, Conflict, NotFoundError
from handoff.routing.config import ConfigError, Weights

PREFIX = "hub:experiments"
KINDS = ("routing_weights", "kb_threshold", "reply_variant")
RATE_METRICS = ("automation_rate", "fcr_rate", "service_level")
MEAN_METRICS = ("csat_average", "mean_wait")
METRICS = (*RATE_METRICS, *MEAN_METRICS)
DEFAULT_EFFECT = {"automation_rate": 0.05, "fcr_rate": 0.05, "service_level": 0.05, "csat_average": 0.3,
                  "mean_wait": 10.0}  # fmt: skip
VARIANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}\Z")
EXPERIMENT_ID = re.compile(r"^exp-[0-9a-f]{10}\Z")
NAME_LENGTH = 80
SHARE_TOLERANCE = 1e-6
MIN_VARIANTS, MAX_VARIANTS = 2, 4
AUDIT_KEPT = 10_000
REFRESH_SECONDS = 1.0
LISTED = 200


def experiment_key(experiment_id: str) -> str:
    return f"{PREFIX}:{experiment_id}"


def all_key() -> str:
    return f"{PREFIX}:all"


def running_key() -> str:
    return f"{PREFIX}:running"


def version_key() -> str:
    return f"{PREFIX}:version"


def audit_key() -> str:
    return f"{PREFIX}:audit"


class ExperimentError(BadRequest, ValueError):
    """An experiment definition is invalid; `field` names the part (e.g. "variants[1].share"). A
    BadRequest, so an HTTP handler that lets it through answers 400 with the field."""

    field: str

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field)
        self.message = message


@dataclass(frozen=True)
class Variant:
    name: str
    share: float
    params: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "share": self.share, "params": dict(self.params)}


@dataclass(frozen=True)
class Experiment:
    id: str
    name: str
    kind: str
    variants: tuple[Variant, ...]
    primary_metric: str
    minimum_effect: float
    created_by: str
    created_at: float
    started_at: float
    stopped_at: float | None = None
    stopped_by: str | None = None

    @property
    def running(self) -> bool:
        return self.stopped_at is None

    @property
    def control(self) -> Variant:
        return self.variants[0]

    def assign(self, conversation_id: str) -> str:
        return assign(self.id, self.variants, conversation_id)

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "variants": [v.as_dict() for v in self.variants],
            "primary_metric": self.primary_metric,
            "minimum_effect": self.minimum_effect,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "stopped_by": self.stopped_by,
            "status": "running" if self.running else "stopped",
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Experiment:
        """What `as_dict` wrote (trusted: only this module writes it)."""
        stopped_at = raw.get("stopped_at")
        return cls(
            id=str(raw["id"]),
            name=str(raw["name"]),
            kind=str(raw["kind"]),
            variants=tuple(
                Variant(str(v["name"]), float(v["share"]), dict(v.get("params") or {}))
                for v in raw["variants"]
            ),
            primary_metric=str(raw["primary_metric"]),
            minimum_effect=float(raw["minimum_effect"]),
            created_by=str(raw.get("created_by") or ""),
            created_at=float(raw["created_at"]),
            started_at=float(raw.get("started_at") or raw["created_at"]),
            stopped_at=float(stopped_at) if stopped_at is not None else None,
            stopped_by=raw.get("stopped_by"),
        )


# -- assignment ----------------------------------------------------------------------------------------


def assign(experiment_id: str, variants: Sequence[Variant], conversation_id: str) -> str:
    """The variant of a conversation: sha256 of "<experiment>:<conversation>" read as a number in [0, 1)
    against the cumulative shares. The same in every process and Python version (no `hash()`), and
    independent between experiments because the experiment id is hashed too."""
    if not variants:
        raise ValueError("an experiment needs variants")
    digest = hashlib.sha256(f"{experiment_id}:{conversation_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(v.share for v in variants)
    cumulative = 0.0
    for variant in variants:
        cumulative += variant.share
        if point < cumulative:
            return variant.name
    return variants[-1].name  # rounding of the cumulative sum


# -- validation ----------------------------------------------------------------------------------------

_FIELDS = {"name", "kind", "variants", "primary_metric", "minimum_effect"}
_VARIANT_FIELDS = {"name", "share", "params"}


def parse_experiment(
    body: Any, *, experiment_id: str = "", created_by: str = "", now: float | None = None
) -> Experiment:
    """A new experiment from a console request body; ExperimentError names the first bad field."""
    if not isinstance(body, Mapping):
        raise ExperimentError("body", "must be a JSON object")
    unknown = sorted(str(k) for k in body if k not in _FIELDS)
    if unknown:
        raise ExperimentError(unknown[0], f"unknown field; expected {', '.join(sorted(_FIELDS))}")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ExperimentError("name", "is required (text)")
    name = name.strip()
    if len(name) > NAME_LENGTH or any(not c.isprintable() for c in name):
        raise ExperimentError("name", f"must be 1 to {NAME_LENGTH} printable characters")
    kind = body.get("kind")
    if kind not in KINDS:
        raise ExperimentError("kind", f"must be one of {', '.join(KINDS)}")
    variants = _variants(body.get("variants"), kind)
    metric = body.get("primary_metric")
    if metric not in METRICS:
        raise ExperimentError("primary_metric", f"must be one of {', '.join(METRICS)}")
    effect = body.get("minimum_effect", DEFAULT_EFFECT[metric])
    if (
        isinstance(effect, bool)
        or not isinstance(effect, int | float)
        or not math.isfinite(effect)
        or effect <= 0
    ):
        raise ExperimentError("minimum_effect", "must be a number > 0 (an absolute difference)")
    if metric in RATE_METRICS and effect >= 1:
        raise ExperimentError("minimum_effect", f"{metric} is a proportion: the effect must be below 1")
    moment = time.time() if now is None else now
    return Experiment(
        id=experiment_id, name=name, kind=kind, variants=variants, primary_metric=metric,
        minimum_effect=float(effect), created_by=created_by, created_at=moment, started_at=moment,
    )  # fmt: skip


def _variants(raw: Any, kind: str) -> tuple[Variant, ...]:
    if not isinstance(raw, list) or not MIN_VARIANTS <= len(raw) <= MAX_VARIANTS:
        raise ExperimentError("variants", f"must be a list of {MIN_VARIANTS} to {MAX_VARIANTS} variants")
    if not all(isinstance(v, Mapping) for v in raw):
        index = next(i for i, v in enumerate(raw) if not isinstance(v, Mapping))
        raise ExperimentError(f"variants[{index}]", "must be an object with name, share and params")
    given = ["share" in v for v in raw]
    if any(given) and not all(given):
        index = given.index(False)
        raise ExperimentError(
            f"variants[{index}].share", "give every variant a share, or none for an even split"
        )
    seen: set[str] = set()
    variants = []
    for index, item in enumerate(raw):
        where = f"variants[{index}]"
        unknown = sorted(str(k) for k in item if k not in _VARIANT_FIELDS)
        if unknown:
            raise ExperimentError(f"{where}.{unknown[0]}", "unknown field; expected name, share, params")
        name = item.get("name")
        if not isinstance(name, str) or not VARIANT_NAME.match(name):
            raise ExperimentError(
                f"{where}.name", "must be 1 to 32 of a-z, 0-9, _ and -, starting with a letter or digit"
            )
        if name in seen:
            raise ExperimentError(f"{where}.name", f"{name!r} is used by another variant")
        seen.add(name)
        share = item["share"] if all(given) else 1 / len(raw)
        if (
            isinstance(share, bool)
            or not isinstance(share, int | float)
            or not math.isfinite(share)
            or share <= 0
        ):
            raise ExperimentError(f"{where}.share", "must be a number > 0")
        variants.append(Variant(name, float(share), _params(item.get("params"), kind, f"{where}.params")))
    total = sum(v.share for v in variants)
    if abs(total - 1) > SHARE_TOLERANCE:
        raise ExperimentError("variants", f"the shares must add up to 1 (they add up to {total:g})")
    return tuple(variants)


def _params(raw: Any, kind: str, where: str) -> dict[str, Any]:
    """Every variant states its setting in full, the control too: the experiment then records what was
    compared, and the hub never has to guess what "unchanged" meant when it started."""
    if not isinstance(raw, Mapping):
        raise ExperimentError(where, f"must be an object ({_PARAMS_HINT[kind]})")
    if kind == "routing_weights":
        missing = [k for k in ("skill", "load", "rating") if k not in raw]
        if missing:
            raise ExperimentError(
                f"{where}.{missing[0]}", "is required (routing weights give skill, load, rating)"
            )
        try:
            return Weights.parse(raw, where).as_dict()
        except ConfigError as exc:
            text = str(exc)
            head = text.split(" ", 1)[0].rstrip(":")
            if not head.startswith(where):
                raise ExperimentError(where, text) from None
            raise ExperimentError(head, text[len(head) :].lstrip(": ")) from None
    expected = "threshold" if kind == "kb_threshold" else "variant"
    unknown = sorted(str(k) for k in raw if k != expected)
    if unknown:
        raise ExperimentError(f"{where}.{unknown[0]}", f"unknown; expected {_PARAMS_HINT[kind]}")
    value = raw.get(expected)
    if kind == "kb_threshold":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ExperimentError(f"{where}.threshold", "must be a number in 0..1")
        return {"threshold": float(value)}
    if not isinstance(value, str) or not VARIANT_NAME.match(value):
        raise ExperimentError(
            f"{where}.variant", "must name a response variation (a-z, 0-9, _ and -, up to 32)"
        )
    return {"variant": value}


_PARAMS_HINT = {
    "routing_weights": "{skill, load, rating}",
    "kb_threshold": "{threshold: 0..1}",
    "reply_variant": "{variant: name}",
}


# -- the store -----------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ExperimentStore:
    """Experiments in Redis. `clock` stamps records; `monotonic` paces the refresh of the running set."""

    def __init__(
        self,
        redis: Redis,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._redis: Any = redis
        self._clock = clock
        self._monotonic = monotonic
        self._refresh = refresh_seconds
        self._running: tuple[Experiment, ...] = ()
        self._version: str | None = None
        self._checked_at: float | None = None

    async def create(self, body: Mapping[str, Any], actor: str) -> Experiment:
        """Validate and start an experiment. Conflict when one of its kind is already running."""
        draft = parse_experiment(body, created_by=actor, now=self._clock())
        experiment = replace(draft, id=f"exp-{secrets.token_hex(5)}")
        entry = self._audit_entry(actor, "experiment.created", experiment.as_dict())
        for _ in range(10):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(running_key())
                    current = await pipe.hget(running_key(), experiment.kind)
                    holder = await self._holder(current)
                    if holder is not None:
                        raise Conflict(
                            "experiment_running",
                            f"experiment {holder.id} ({holder.name}) already runs for {experiment.kind}; "
                            "stop it first",
                            current=holder.as_dict(),
                        )
                    pipe.multi()
                    pipe.set(experiment_key(experiment.id), json.dumps(experiment.as_dict()))
                    pipe.zadd(all_key(), {experiment.id: experiment.created_at})
                    pipe.hset(running_key(), experiment.kind, experiment.id)
                    pipe.incr(version_key())
                    pipe.lpush(audit_key(), entry)
                    pipe.ltrim(audit_key(), 0, AUDIT_KEPT - 1)
                    await pipe.execute()
                except WatchError:
                    continue  # another experiment of some kind started meanwhile: look again
            self._checked_at = None
            return experiment
        raise Conflict("experiment_busy", "experiments changed several times during the request; try again")

    async def get(self, experiment_id: str) -> Experiment:
        raw = (
            await self._redis.get(experiment_key(experiment_id))
            if EXPERIMENT_ID.match(experiment_id)
            else None
        )
        if raw is None:
            raise NotFoundError("experiment_not_found", f"no experiment {experiment_id!r}")
        return Experiment.from_dict(json.loads(raw))

    async def list(self, limit: int = LISTED) -> builtins.list[Experiment]:
        """Running experiments first (always, however old), then the newest stopped ones, up to `limit`."""
        newest = [_text(i) for i in await self._redis.zrevrange(all_key(), 0, max(1, limit) - 1)]
        running = [_text(i) for i in (await self._redis.hgetall(running_key())).values()]
        ids = list(dict.fromkeys([*newest, *running]))
        raws = await self._redis.mget([experiment_key(i) for i in ids]) if ids else []
        found = [Experiment.from_dict(json.loads(raw)) for raw in raws if raw is not None]
        found.sort(key=lambda e: (not e.running, -e.created_at))
        return found[: max(1, limit)]

    async def stop(self, experiment_id: str, actor: str) -> Experiment:
        """Stop a running experiment: its conversations get the configured behaviour again from the next
        turn (within a second on every worker). Conflict when it has stopped already."""
        key = experiment_key(experiment_id)
        for _ in range(10):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key, running_key())
                    experiment = await self.get(experiment_id)
                    if not experiment.running:
                        raise Conflict(
                            "experiment_stopped",
                            f"experiment {experiment.id} was stopped already",
                            current=experiment.as_dict(),
                        )
                    stopped = replace(experiment, stopped_at=self._clock(), stopped_by=actor)
                    holder = await pipe.hget(running_key(), experiment.kind)
                    pipe.multi()
                    pipe.set(key, json.dumps(stopped.as_dict()))
                    if holder is not None and _text(holder) == experiment.id:
                        pipe.hdel(running_key(), experiment.kind)
                    pipe.incr(version_key())
                    detail = {"id": stopped.id, "name": stopped.name, "kind": stopped.kind}
                    pipe.lpush(audit_key(), self._audit_entry(actor, "experiment.stopped", detail))
                    pipe.ltrim(audit_key(), 0, AUDIT_KEPT - 1)
                    await pipe.execute()
                except WatchError:
                    continue
            self._checked_at = None
            return stopped
        raise Conflict("experiment_busy", "experiments changed several times during the request; try again")

    async def audit(self, limit: int = 100) -> builtins.list[dict[str, Any]]:
        """The newest audit entries, newest first."""
        return [json.loads(e) for e in await self._redis.lrange(audit_key(), 0, max(1, limit) - 1)]

    async def running(self) -> tuple[Experiment, ...]:
        """The running experiments, from the in-process copy when Redis's version was checked in the last
        `refresh_seconds`. The version is read before the experiments, so a change racing the reload is
        seen at the next check rather than lost."""
        now = self._monotonic()
        if self._checked_at is not None and now - self._checked_at < self._refresh:
            return self._running
        version = await self._redis.get(version_key())
        version = None if version is None else _text(version)
        if self._checked_at is None or version != self._version:
            ids = sorted(_text(i) for i in (await self._redis.hgetall(running_key())).values())
            raws = await self._redis.mget([experiment_key(i) for i in ids]) if ids else []
            found = (Experiment.from_dict(json.loads(raw)) for raw in raws if raw is not None)
            self._running = tuple(e for e in found if e.running)
            self._version = version
        self._checked_at = now
        return self._running

    async def variants_for(self, conversation_id: str, kinds: Iterable[str] | None = None) -> dict[str, str]:
        """{experiment id: variant} of the running experiments (of `kinds`, if given) for a conversation:
        what the hub stamps on its analytics events."""
        wanted = None if kinds is None else set(kinds)
        return {
            e.id: e.assign(conversation_id)
            for e in await self.running()
            if wanted is None or e.kind in wanted
        }

    async def params_for(self, conversation_id: str, kind: str) -> tuple[str, str, dict[str, Any]] | None:
        """(experiment id, variant, its params) of the running experiment of `kind`, or None."""
        for experiment in await self.running():
            if experiment.kind == kind:
                name = experiment.assign(conversation_id)
                variant = experiment.variant(name)
                return experiment.id, name, dict(variant.params) if variant else {}
        return None

    async def _holder(self, current: Any) -> Experiment | None:
        """The running experiment a `running` hash entry names; None for a dangling entry."""
        if current is None:
            return None
        try:
            holder = await self.get(_text(current))
        except NotFoundError:
            return None
        return holder if holder.running else None

    def _audit_entry(self, actor: str, action: str, detail: Mapping[str, Any]) -> str:
        entry = {"ts": self._clock(), "actor": actor, "action": action, "detail": dict(detail)}
        return json.dumps(entry, ensure_ascii=False)

"""The routing engine: agents, queues, offers and decisions, all state in Redis, changed by Lua scripts."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis

from handoff import keys
from handoff.errors import BadRequest, Conflict, NotFoundError
from handoff.routing import scripts
from handoff.routing.config import SKILL, RoutingConfig, Weights
from handoff.routing.scoring import Presence, shrunk_rating

logger = logging.getLogger(__name__)

AGENT_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}\Z")
EVENTS_CHANNEL = keys.routing_events()
LANGUAGES = ("en", "zh")
OWNERS_IN_ROUTING = ("queued", "offered", "agent")


class RoutingError(Conflict):
    """A routing request that the current state does not allow (HTTP 409)."""


class NotFound(NotFoundError):
    """An unknown agent, conversation or decision (HTTP 404)."""


@dataclass(frozen=True)
class AgentSpec:
    name: str
    languages: tuple[str, ...]
    skills: Mapping[str, float]
    capacity: int


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    languages: list[str]
    skills: dict[str, float]
    capacity: int
    active: int
    presence: str
    rating: float  # shrunk, in [0, 1]
    rating_average: float | None  # raw 1-5 average, None before the first review
    rating_count: int
    missed_offers: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Offer:
    conversation_id: str
    agent_id: str
    decision_id: str
    expires_at: float


@dataclass(frozen=True)
class SweepResult:
    offers: list[Offer]
    tickets: list[str]  # conversations whose customers should now be offered a ticket or callback


@dataclass(frozen=True)
class HandoffStatus:
    conversation_id: str
    owner: str
    skill: str | None
    language: str | None
    queue: str | None
    position: int | None
    estimated_wait_seconds: int | None
    agent_id: str | None
    offer_expires_at: float | None
    widened: bool
    ticket_offered: bool
    # The conversation's channel and address as the enqueue read them, so that the hub's queue notice
    # needs no second read. Internal: not part of the API's status.
    contact: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "contact"}


class RoutingEngine:
    def __init__(self, redis: Redis, config: RoutingConfig, clock: Callable[[], float] = time.time) -> None:
        # decode_responses=True: replies are str, which redis-py's stubs (bytes | str) cannot express.
        self._redis: Any = redis
        self.config = config
        self._clock = clock
        self._s = {
            name: redis.register_script(getattr(scripts, name))
            for name in (
                "ENQUEUE", "STATUS", "ROUTE", "ACCEPT", "RELEASE_OFFER", "PRESENCE", "PUT_AGENT", "RATE",
                "RESCORE_ALL", "RELEASE", "TRANSFER_TO_AGENT", "TRANSFER_TO_SKILL", "WIDEN",
            )
        }  # fmt: skip

    async def _run(self, script: str, args: Sequence[Any], client: Any = None) -> Any:
        """Run one of the scripts (their key names are written into them: scripts.KEY_NAMES)."""
        return await self._s[script](args=args, client=client)

    # -- configuration -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Write the parameters the scripts read. Weights a supervisor saved in Redis win over the file."""
        saved = await self._redis.hgetall(keys.routing_weights())
        if saved:
            weights = Weights.parse({k: float(v) for k, v in saved.items()})
            self.config = self.config.with_weights(weights)
        await self._write_params()

    async def _write_params(self) -> None:
        c = self.config
        params = {
            "ws": repr(c.weights.skill), "wl": repr(c.weights.load), "wr": repr(c.weights.rating),
            "pm": repr(c.rating_prior_mean), "pw": repr(c.rating_prior_weight),
            "timeout": repr(c.offer_timeout), "max_missed": str(c.max_missed_offers),
            "sticky": str(c.sticky_window),
        }  # fmt: skip
        current = await self._redis.hgetall(keys.routing_params())
        if current != params:
            await self._redis.hset(keys.routing_params(), mapping=params)
            await self._run("RESCORE_ALL", [])

    async def set_weights(self, weights: Weights, actor: str) -> dict[str, Any]:
        """Change the weights for every worker, with an audit entry (who, when, old, new)."""
        old = self.config.weights
        self.config = self.config.with_weights(weights)
        entry = {"at": self._clock(), "by": actor, "old": old.as_dict(), "new": weights.as_dict()}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.routing_weights(), mapping={k: repr(v) for k, v in weights.as_dict().items()})
            pipe.lpush(keys.routing_audit(), json.dumps(entry))
            pipe.ltrim(keys.routing_audit(), 0, 999)
            await pipe.execute()
        await self._write_params()
        await self._publish({"type": "weights_changed", "weights": weights.as_dict(), "by": actor})
        return entry

    async def current_weights(self) -> Weights:
        saved = await self._redis.hgetall(keys.routing_weights())
        return Weights.parse({k: float(v) for k, v in saved.items()}) if saved else self.config.weights

    async def weight_audit(self, limit: int = 50) -> list[dict[str, Any]]:
        return [json.loads(e) for e in await self._redis.lrange(keys.routing_audit(), 0, limit - 1)]

    # -- agents --------------------------------------------------------------------------------------

    async def put_agent(self, agent_id: str, spec: AgentSpec, create: bool) -> Agent:
        args = [
            agent_id,
            json.dumps({"name": spec.name, "languages": list(spec.languages), "capacity": spec.capacity}),
            f"{self._clock():.3f}",
            "1" if create else "0",
            json.dumps(dict(spec.skills)),
        ]
        result = await self._run("PUT_AGENT", args)
        if result == "exists":
            raise RoutingError("agent_exists", f"agent '{agent_id}' already exists")
        if result == "unknown_agent":
            raise NotFound("unknown_agent", f"no agent '{agent_id}'")
        await self.route_for_agent(agent_id)
        return await self.get_agent(agent_id)

    async def get_agent(self, agent_id: str) -> Agent:
        raw = await self._redis.hgetall(keys.agent(agent_id))
        if not raw:
            raise NotFound("unknown_agent", f"no agent '{agent_id}'")
        return self._agent(agent_id, raw)

    async def agents(self) -> list[Agent]:
        ids = sorted(await self._redis.smembers(keys.agents()))
        async with self._redis.pipeline(transaction=False) as pipe:
            for agent_id in ids:
                pipe.hgetall(keys.agent(agent_id))
            rows = await pipe.execute()
        return [self._agent(i, r) for i, r in zip(ids, rows, strict=True) if r]

    def _agent(self, agent_id: str, raw: Mapping[str, str]) -> Agent:
        count = int(raw.get("rating_count", 0))
        total = float(raw.get("rating_sum", 0))
        c = self.config
        return Agent(
            id=agent_id,
            name=raw.get("name", agent_id),
            languages=[x for x in raw.get("languages", "").split(",") if x],
            skills={k: float(v) for k, v in json.loads(raw.get("skills", "{}")).items()},
            capacity=int(raw.get("capacity", 0)),
            active=int(raw.get("active", 0)),
            presence=raw.get("presence", Presence.OFFLINE.value),
            rating=shrunk_rating(total, count, c.rating_prior_mean, c.rating_prior_weight),
            rating_average=round(total / count, 3) if count else None,
            rating_count=count,
            missed_offers=int(raw.get("missed", 0)),
        )

    async def set_presence(self, agent_id: str, presence: Presence) -> list[Offer]:
        result = await self._run("PRESENCE", [agent_id, presence.value, f"{self._clock():.3f}"])
        if result[0] == "unknown_agent":
            raise NotFound("unknown_agent", f"no agent '{agent_id}'")
        await self._publish({"type": "presence", "agent_id": agent_id, "presence": presence.value})
        offers: list[Offer] = []
        for qname in dict.fromkeys(result[1:]):  # offers withdrawn from an agent who left
            offers += await self.route(qname)
        if presence is Presence.ONLINE:
            offers += await self.route_for_agent(agent_id)
        return offers

    async def rate(self, agent_id: str, stars: int) -> None:
        if await self._run("RATE", [agent_id, str(stars)]) == "unknown_agent":
            raise NotFound("unknown_agent", f"no agent '{agent_id}'")

    # -- handoffs ------------------------------------------------------------------------------------

    async def enqueue(self, conversation_id: str, packet: Mapping[str, Any]) -> HandoffStatus:
        """Queue a handoff and route it at once if an agent is free. Idempotent while it is in routing.
        `packet["routing_weights"]` ({skill, load, rating}: an experiment's variant) routes this handoff
        with those weights instead of the team's; it is not stored with the packet."""
        reason, intent = packet.get("reason"), packet.get("intent")
        skill = self.config.skill_for(reason, intent)
        language = packet.get("language") or "en"
        order = packet.get("order") or {}
        value = order.get("total") if isinstance(order.get("total"), int | float) else None
        now = self._clock()
        affect = packet.get("affect")
        mood = affect.get("peak_frustration") if isinstance(affect, Mapping) else None
        qscore = now - self.config.priority_seconds(
            packet.get("customer_tier"), value, reason, mood if isinstance(mood, str) else None
        )
        own = _own_weights(packet.get("routing_weights"))
        stored = {k: v for k, v in packet.items() if k != "routing_weights"}
        args = [
            conversation_id, skill, language, f"{qscore:.3f}", f"{now:.3f}",
            packet.get("customer_id") or "", json.dumps(stored, ensure_ascii=False), own,
        ]  # fmt: skip
        # Queued, routed and its status read in one atomic step: one round trip.
        result = await self._run("ENQUEUE", args)
        status = self._status(conversation_id, result[2])
        contact = {k: v for k, v in zip(("channel", "address"), result[3], strict=True) if v is not None}
        return dataclasses.replace(status, contact=contact)

    async def route(self, qname: str, watch: str = "", max_offers: int = 50) -> list[Offer]:
        """Offer waiting conversations in one queue to the best free agents."""
        raw = await self._run("ROUTE", [qname, f"{self._clock():.3f}", max_offers, 5, watch])
        return [Offer(str(c), str(a), str(d), float(e)) for c, a, d, e in raw]  # events published by Lua

    async def route_many(self, qnames: Sequence[str], max_offers: int = 50) -> list[list[Offer]]:
        """route() for several queues in one round trip; each is its own atomic ROUTE, run in order."""
        now = f"{self._clock():.3f}"
        async with self._redis.pipeline(transaction=False) as pipe:
            for qname in qnames:
                await self._run("ROUTE", [qname, now, max_offers, 5, ""], client=pipe)
            raws = await pipe.execute()
        return [[Offer(str(c), str(a), str(d), float(e)) for c, a, d, e in raw] for raw in raws]

    async def route_for_agent(self, agent_id: str) -> list[Offer]:
        """An agent has room: serve the queues they can take, the longest-waiting head first."""
        raw = await self._redis.hmget(keys.agent(agent_id), ["skills", "languages"])
        if not raw[0]:
            return []
        skills = json.loads(raw[0])
        languages = [x for x in (raw[1] or "").split(",") if x]
        names = [f"{s}:{lang}" for lang in languages for s in skills] + [f"*:{lang}" for lang in languages]
        waiting = await self._redis.smembers(keys.queues())
        candidates = [n for n in names if n in waiting]
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in candidates:
                pipe.zrange(keys.queue(name), 0, 0, withscores=True)
            firsts = await pipe.execute()
        heads = sorted((head[0][1], name) for name, head in zip(candidates, firsts, strict=True) if head)
        return [offer for offers in await self.route_many([name for _, name in heads]) for offer in offers]

    async def accept(self, conversation_id: str, agent_id: str) -> HandoffStatus:
        result = await self._run("ACCEPT", [conversation_id, agent_id, f"{self._clock():.3f}"])
        if result == "not_offered":
            raise RoutingError("not_offered", f"conversation '{conversation_id}' is not offered to you")
        if result == "expired":
            raise RoutingError("offer_expired", "the offer has expired")
        await self._publish({"type": "accepted", "conversation_id": conversation_id, "agent_id": agent_id})
        return await self.status(conversation_id)

    async def decline(self, conversation_id: str, agent_id: str) -> list[Offer]:
        result = await self._run(
            "RELEASE_OFFER", [conversation_id, agent_id, f"{self._clock():.3f}", "decline"]
        )
        if result[0] != "ok":
            raise RoutingError("not_offered", f"conversation '{conversation_id}' is not offered to you")
        await self._publish({"type": "declined", "conversation_id": conversation_id, "agent_id": agent_id})
        return await self.route(str(result[1])) + await self.route_for_agent(agent_id)

    async def expire_offers(self, limit: int = 100) -> list[Offer]:
        """Move offers nobody answered in time to the next candidate (safe to run in every worker)."""
        now = self._clock()
        due = await self._redis.zrangebyscore(keys.offers(), "-inf", now, start=0, num=limit)
        offers: list[Offer] = []
        for cid in due:
            result = await self._run("RELEASE_OFFER", [cid, "", f"{now:.3f}", "expire"])
            if result[0] != "ok":
                continue  # accepted or expired by another worker meanwhile
            agent_id, away = str(result[2]), result[3] == "1"
            logger.info("hub.routing.offer_expired", extra={"conversation_id": cid, "agent_id": agent_id})
            await self._publish({"type": "offer_expired", "conversation_id": cid, "agent_id": agent_id})
            if away:
                await self._publish({"type": "presence", "agent_id": agent_id, "presence": "away"})
            offers += await self.route(str(result[1]))
        return offers

    async def release(
        self, conversation_id: str, actor: str | None, new_owner: str, waiting_only: bool = False
    ) -> tuple[str, str]:
        """End routing for a conversation (resolved, returned to the bot, cancelled). `waiting_only`: only
        while nobody has accepted it (a customer leaving the queue must not end a chat just accepted)."""
        args = [conversation_id, actor or "", f"{self._clock():.3f}", new_owner, "1" if waiting_only else ""]
        result = await self._run("RELEASE", args)
        if result[0] == "answered":
            raise RoutingError("answered", f"conversation '{conversation_id}' is already with an agent")
        if result[0] == "not_routed":
            raise RoutingError("not_routed", f"conversation '{conversation_id}' is not with the routing")
        if result[0] == "not_assigned":
            raise RoutingError("not_assigned", f"conversation '{conversation_id}' is not assigned to you")
        previous, holder = str(result[1]), str(result[2])
        await self._publish(
            {"type": "released", "conversation_id": conversation_id, "agent_id": holder, "owner": new_owner}
        )
        if holder:
            await self.route_for_agent(holder)
        return previous, holder

    async def transfer_to_agent(self, conversation_id: str, actor: str | None, target: str) -> Offer:
        now = self._clock()
        result = await self._run("TRANSFER_TO_AGENT", [conversation_id, actor or "", target, f"{now:.3f}"])
        code = str(result[0])
        if code == "unknown_agent":
            raise NotFound(code, f"no agent '{target}'")
        if code != "ok":
            raise RoutingError(code, _TRANSFER_MESSAGES.get(code, code))
        offer = Offer(conversation_id, target, str(result[1]), float(result[2]))
        await self._publish({"type": "offer", **asdict(offer)})
        await self.route_for_agent(str(result[3]))  # the previous holder has room again
        return offer

    async def transfer_to_skill(self, conversation_id: str, actor: str | None, skill: str) -> HandoffStatus:
        if skill not in self.config.skills():
            raise RoutingError("unknown_skill", f"no skill '{skill}'")
        result = await self._run(
            "TRANSFER_TO_SKILL", [conversation_id, actor or "", skill, f"{self._clock():.3f}"]
        )
        if result[0] != "ok":
            raise RoutingError("not_assigned", f"conversation '{conversation_id}' is not assigned to you")
        await self.route(str(result[1]))
        await self.route_for_agent(str(result[2]))  # the previous holder has room again
        return await self.status(conversation_id)

    # -- reading -------------------------------------------------------------------------------------

    async def status(self, conversation_id: str) -> HandoffStatus:
        # One script reads the hash, the queue rank and the wait inputs: one round trip, one snapshot.
        return self._status(conversation_id, await self._run("STATUS", [conversation_id]))

    def _status(self, conversation_id: str, raw: list[Any]) -> HandoffStatus:
        """A HandoffStatus from the STATUS_OF reply (see scripts.STATUS_OF for the layout)."""
        if not raw:
            raise NotFound("unknown_conversation", f"no conversation '{conversation_id}'")
        raw = raw + [None] * (12 - len(raw))
        owner, skill, language, queue, agent, offer_agent, expires, widened, ticket = raw[:9]
        rank, slots, handles = raw[9:]
        owner = "bot" if owner is None else owner
        position = wait = None
        if rank is not None:
            position = int(rank) + 1
            wait = self._wait(position, slots, handles or [])
        return HandoffStatus(
            conversation_id=conversation_id,
            owner=owner,
            skill=skill,
            language=language,
            queue=queue if owner == "queued" else None,
            position=position,
            estimated_wait_seconds=wait,
            agent_id=agent or offer_agent,
            offer_expires_at=float(expires) if expires else None,
            widened=widened == "1",
            ticket_offered=ticket == "1",
        )

    async def estimated_wait(self, queue: str, position: int) -> int | None:
        """position × mean recent handle time ÷ concurrent chats the online qualified agents can hold.

        None when nobody who could take the conversation is online (the customer is told so instead).
        """
        skill = queue.split(":", 1)[0]
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.slots(), queue)
            pipe.lrange(keys.handle_times(skill), 0, 49)
            slots_raw, handles = await pipe.execute()
        return self._wait(position, slots_raw, handles)

    def _wait(self, position: int, slots_raw: str | None, handles: list[str]) -> int | None:
        slots = int(slots_raw or 0)
        if slots <= 0:
            return None
        handle = (
            sum(float(h) for h in handles) / len(handles) if handles else self.config.default_handle_seconds
        )
        return int(math.ceil(position * handle / slots / 5.0) * 5)

    async def decisions(self, conversation_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        key = keys.conversation_decisions(conversation_id) if conversation_id else keys.decisions()
        ids = await self._redis.lrange(key, 0, limit - 1)
        if not ids:
            return []
        raws = await self._redis.mget([keys.decision(i) for i in ids])
        return [_decision(json.loads(r)) for r in raws if r]

    async def decision(self, decision_id: str) -> dict[str, Any]:
        raw = await self._redis.get(keys.decision(decision_id))
        if not raw:
            raise NotFound("unknown_decision", f"no decision '{decision_id}'")
        return _decision(json.loads(raw))

    async def queues(self) -> list[dict[str, Any]]:
        """Every queue with waiting conversations: length, oldest real wait, estimated wait of the last."""
        now = self._clock()
        out = []
        for name in sorted(await self._redis.smembers(keys.queues())):
            members = await self._redis.zrange(keys.queue(name), 0, -1)
            if not members:
                continue
            async with self._redis.pipeline(transaction=False) as pipe:
                for cid in members:
                    pipe.hget(keys.conversation(cid), "queued_at")
                arrivals = [float(a) for a in await pipe.execute() if a]
            skill, language = name.split(":", 1)
            out.append(
                {
                    "queue": name,
                    "skill": None if skill == "*" else skill,
                    "language": language,
                    "length": len(members),
                    "oldest_wait_seconds": round(now - min(arrivals), 1) if arrivals else 0.0,
                    "estimated_wait_seconds": await self.estimated_wait(name, len(members)),
                }
            )
        return out

    # -- housekeeping --------------------------------------------------------------------------------

    async def sweep(self) -> SweepResult:
        """Expire offers, widen long waits, offer tickets past the second limit. Run periodically."""
        offers = await self.expire_offers()
        tickets: list[str] = []
        now = self._clock()
        for cid in await self._redis.zrangebyscore(
            keys.waiting(), "-inf", now - self.config.widen_after, start=0, num=100
        ):
            qname = await self._run("WIDEN", [cid])
            if qname:
                await self._publish({"type": "widened", "conversation_id": cid, "queue": qname})
                offers += await self.route(str(qname))
        for cid in await self._redis.zrangebyscore(
            keys.waiting_widened(), "-inf", now - self.config.ticket_after, start=0, num=100
        ):
            # ZREM decides which worker announces it, so the customer is told once.
            if (
                await self._redis.zrem(keys.waiting_widened(), cid)
                and await self._redis.hget(keys.conversation(cid), "owner") == "queued"
            ):
                await self._redis.hset(keys.conversation(cid), "ticket_offered", "1")
                await self._publish({"type": "ticket_offer", "conversation_id": cid})
                tickets.append(cid)
        return SweepResult(offers, tickets)

    async def _publish(self, event: dict[str, Any]) -> None:
        await self._redis.publish(EVENTS_CHANNEL, json.dumps(event, ensure_ascii=False))


_TRANSFER_MESSAGES = {
    "not_assigned": "the conversation is not assigned to you",
    "same_agent": "the conversation is already with that agent",
    "target_unavailable": "the target agent is not online",
    "target_full": "the target agent has no free capacity",
    "target_language": "the target agent does not speak the customer's language",
}


def _decision(record: dict[str, Any]) -> dict[str, Any]:
    """cjson writes empty Lua tables as {}; give clients lists where lists belong."""
    if not isinstance(record.get("candidates"), list):
        record["candidates"] = []
    for entry in record.get("removed", {}).values():
        if isinstance(entry, dict) and not isinstance(entry.get("sample", []), list):
            entry["sample"] = []
    return record


def validate_agent_spec(body: Any, partial: Agent | None = None) -> AgentSpec:
    """Check an agent body (create, or update over `partial`); raise BadRequest naming the field."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    unknown = set(body) - {"id", "name", "languages", "skills", "capacity"}
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    name = body.get("name", partial.name if partial else None)
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 80:
        raise BadRequest("'name' must be 1-80 characters", field="name")
    languages = body.get("languages", partial.languages if partial else None)
    if (
        not isinstance(languages, list)
        or not languages
        or any(lang not in LANGUAGES for lang in languages)
        or len(set(languages)) != len(languages)
    ):
        raise BadRequest(f"'languages' must be a non-empty list of {', '.join(LANGUAGES)}", field="languages")
    skills = body.get("skills", partial.skills if partial else None)
    if not isinstance(skills, dict) or not skills:
        raise BadRequest("'skills' must map skill names to a proficiency in [0, 1]", field="skills")
    for skill, level in skills.items():
        if not SKILL.match(skill):
            raise BadRequest(f"skill '{skill}': use lowercase letters, digits, underscores", field="skills")
        if isinstance(level, bool) or not isinstance(level, int | float) or not 0 <= level <= 1:
            raise BadRequest(f"proficiency for '{skill}' must be a number in [0, 1]", field="skills")
    capacity = body.get("capacity", partial.capacity if partial else None)
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not 1 <= capacity <= 50:
        raise BadRequest("'capacity' must be an integer in 1..50", field="capacity")
    return AgentSpec(name.strip(), tuple(languages), {k: float(v) for k, v in skills.items()}, capacity)


def check_agent_id(agent_id: Any, field: str = "id") -> str:
    if not isinstance(agent_id, str) or not AGENT_ID.match(agent_id):
        raise BadRequest(
            f"'{field}' must be 1-64 of a-z, 0-9, _ . - (starting with a letter or digit)", field=field
        )
    return agent_id


def _own_weights(raw: object) -> str:
    """An experiment's weights as the ENQUEUE script takes them ("ws,wl,wr"), or "" for the team's."""
    if not isinstance(raw, Mapping):
        return ""
    values = [raw.get(name) for name in ("skill", "load", "rating")]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in values):
        return ""
    return ",".join(repr(float(v)) for v in values)  # type: ignore[arg-type]

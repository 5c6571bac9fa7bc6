"""What the chaos soak checks at the end, read from Redis's real keys (handoff/keys.py), not from what
the simulators believe: transcripts hold every acknowledged message; routing state is consistent (each
conversation has one owner, no conversation is with two agents, no queue entry, offer or agent chat is
orphaned); and memory per process kind has no upward trend after warm-up.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from bench.soak_people import Said
from handoff import keys

# -- routing state --------------------------------------------------------------------------------------

# One atomic read of everything routing keeps, so that no script runs between two reads and a change in
# flight never looks like an inconsistency. ARGV: the key names and prefixes below (SNAPSHOT_ARGS).
SNAPSHOT = r"""
local AGENTS, AGENT, CHATS, OFFERS, WAITING, WIDENED, QUEUES, QUEUE, INDEX, CONV, PACKET = unpack(ARGV)
local out = {agents = {}, offers = redis.call('ZRANGE', OFFERS, 0, -1),
  waiting = redis.call('ZRANGE', WAITING, 0, -1), waiting_widened = redis.call('ZRANGE', WIDENED, 0, -1),
  queue_set = redis.call('SMEMBERS', QUEUES), queues = {}, conversations = {}}
local ids = {}
local function note(list) for _, cid in ipairs(list) do ids[cid] = true end end
for _, aid in ipairs(redis.call('SMEMBERS', AGENTS)) do
  local a = redis.call('HMGET', AGENT .. aid, 'presence', 'active', 'capacity')
  local chats = redis.call('SMEMBERS', AGENT .. aid .. CHATS)
  out.agents[aid] = {presence = a[1] or '', active = a[2] or '', capacity = a[3] or '', chats = chats}
  note(chats)
end
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', QUEUE .. '*', 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    if redis.call('TYPE', key).ok == 'zset' then
      local members = redis.call('ZRANGE', key, 0, -1)
      out.queues[string.sub(key, #QUEUE + 1)] = members
      note(members)
    end
  end
until cursor == '0'
note(redis.call('ZRANGE', INDEX, 0, -1))
note(out.offers)
note(out.waiting)
note(out.waiting_widened)
for cid, _ in pairs(ids) do
  local c = redis.call('HMGET', CONV .. cid, 'owner', 'queue', 'agent', 'offer_agent')
  out.conversations[cid] = {owner = c[1] or '', queue = c[2] or '', agent = c[3] or '',
    offer_agent = c[4] or '', packet = redis.call('EXISTS', PACKET .. cid)}
end
return cjson.encode(out)
"""

SNAPSHOT_ARGS = (
    keys.agents(),
    keys.agent(""),
    keys.agent_chats("")[len(keys.agent("")) :],  # what follows an agent's key: ":chats"
    keys.offers(),
    keys.waiting(),
    keys.waiting_widened(),
    keys.queues(),
    keys.queue(""),
    keys.conversations_index(),
    keys.conversation(""),
    keys.handoff_packet(""),
)
OWNERS = ("bot", "queued", "offered", "agent", "closed")


def _list(value: Any) -> list[str]:
    """cjson writes an empty Lua table as {}."""
    return [str(v) for v in value] if isinstance(value, list) else []


@dataclass
class RoutingCheck:
    conversations: int = 0
    owners: dict[str, int] = field(default_factory=dict)
    handoffs: int = 0  # conversations that have a handoff packet (were handed to people at least once)
    double_assignments: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    ownership_errors: list[str] = field(default_factory=list)  # not exactly one owner
    load_errors: list[str] = field(default_factory=list)  # an agent's active count against their chats


def routing_snapshot(client: redis.Redis) -> dict[str, Any]:
    raw = client.eval(SNAPSHOT, 0, *SNAPSHOT_ARGS)
    snapshot: dict[str, Any] = json.loads(raw)
    return snapshot


def check_routing(snapshot: dict[str, Any]) -> RoutingCheck:
    """Each conversation's `owner` against where routing's indexes hold it, and every index entry against
    the conversation it names."""
    conversations: dict[str, dict[str, Any]] = snapshot.get("conversations") or {}
    agents: dict[str, dict[str, Any]] = snapshot.get("agents") or {}
    queues = {name: _list(members) for name, members in (snapshot.get("queues") or {}).items()}
    offers = set(_list(snapshot.get("offers")))
    waiting = _list(snapshot.get("waiting")) + _list(snapshot.get("waiting_widened"))
    result = RoutingCheck(conversations=len(conversations))
    in_queues: dict[str, list[str]] = defaultdict(list)
    for name, members in queues.items():
        for cid in members:
            in_queues[cid].append(name)
    with_agents: dict[str, list[str]] = defaultdict(list)
    for aid, agent in agents.items():
        chats = _list(agent.get("chats"))
        for cid in chats:
            with_agents[cid].append(aid)
        if str(agent.get("active") or "0") != str(len(chats)):
            result.load_errors.append(f"agent {aid}: active={agent.get('active')} but {len(chats)} chats")
    owners: Counter[str] = Counter()
    for cid, conv in sorted(conversations.items()):
        owner = str(
            conv.get("owner") or "bot"
        )  # no owner field: the assistant has it (handoff.conversations)
        owners[owner] += 1
        result.handoffs += int(conv.get("packet") or 0) > 0
        holders = sorted(with_agents.get(cid, []))
        queued_in = sorted(in_queues.get(cid, []))
        if len(holders) > 1:
            result.double_assignments.append(f"{cid} ({owner}) is in the chats of {', '.join(holders)}")
        problems = _owner_problems(owner, conv, holders, queued_in, cid in offers)
        if problems:
            result.ownership_errors.append(f"{cid}: owner {owner} but {'; '.join(problems)}")
    result.owners = dict(sorted(owners.items()))
    result.orphans = _orphans(conversations, queues, offers, waiting, agents)
    return result


def _owner_problems(
    owner: str, conv: dict[str, Any], holders: list[str], queued_in: list[str], offered: bool
) -> list[str]:
    problems = []
    if owner not in OWNERS:
        problems.append("that is no known owner")
    expected_queues = [conv.get("queue")] if owner == "queued" else []
    if queued_in != expected_queues:
        problems.append(f"queued in {queued_in or 'no queue'}")
    expected_holder = {"offered": conv.get("offer_agent"), "agent": conv.get("agent")}.get(owner)
    if holders != ([expected_holder] if expected_holder else []):
        problems.append(f"in the chats of {holders or 'no agent'}")
    if owner in ("offered", "agent") and not expected_holder:
        problems.append("no agent named")
    if offered != (owner == "offered"):
        problems.append("in the offers" if offered else "not in the offers")
    return problems


def _orphans(
    conversations: dict[str, dict[str, Any]],
    queues: dict[str, list[str]],
    offers: set[str],
    waiting: list[str],
    agents: dict[str, dict[str, Any]],
) -> list[str]:
    """Index entries whose conversation does not say it is there."""
    found = []

    def owner(cid: str) -> str:
        return str((conversations.get(cid) or {}).get("owner") or "bot")

    for name, members in sorted(queues.items()):
        for cid in members:
            if owner(cid) != "queued" or conversations[cid].get("queue") != name:
                found.append(f"queue {name} holds {cid} (owner {owner(cid)})")
    for cid in sorted(offers):
        if owner(cid) != "offered":
            found.append(f"offers hold {cid} (owner {owner(cid)})")
    for cid in sorted(set(waiting)):
        if owner(cid) != "queued":
            found.append(f"waiting holds {cid} (owner {owner(cid)})")
    for aid, agent in sorted(agents.items()):
        for cid in _list(agent.get("chats")):
            conv = conversations.get(cid) or {}
            offered_to = owner(cid) == "offered" and conv.get("offer_agent") == aid
            held_by = owner(cid) == "agent" and conv.get("agent") == aid
            if not (offered_to or held_by):
                found.append(f"agent {aid}'s chats hold {cid} (owner {owner(cid)})")
    return found


# -- transcripts ----------------------------------------------------------------------------------------


@dataclass
class TranscriptCheck:
    acknowledged: int = 0
    lost: list[dict[str, Any]] = field(default_factory=list)  # acknowledged, not in the transcript
    agent_acknowledged: int = 0
    agent_lost: list[dict[str, Any]] = field(default_factory=list)
    # Customer messages stored whose acknowledgement never came (the hub went down mid-turn): kept, as a
    # message must be once stored, and harmless (a widget's re-send is recognised by its client id)
    stored_unacknowledged: int = 0


def read_transcripts(client: redis.Redis, conversation_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Every entry of each conversation's transcript stream, decoded."""
    ids = sorted(set(conversation_ids))
    out: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(ids), 100):
        chunk = ids[start : start + 100]
        pipe = client.pipeline(transaction=False)
        for cid in chunk:
            pipe.xrange(keys.transcript(cid))
        for cid, entries in zip(chunk, pipe.execute(), strict=True):
            out[cid] = [json.loads(fields["data"]) for _, fields in entries or []]
    return out


def check_transcripts(
    said: Sequence[Said], agent_said: Sequence[Said], transcripts: dict[str, list[dict[str, Any]]]
) -> TranscriptCheck:
    """Widget messages are matched by client id (and text); REST and agent messages by text, as a
    multiset: a text acknowledged n times in a conversation must be stored at least n times."""
    result = TranscriptCheck()
    by_conversation: dict[str, list[Said]] = defaultdict(list)
    for message in said:
        if message.acked_at is not None:
            by_conversation[message.conversation_id].append(message)
            result.acknowledged += 1
    for cid in sorted(set(by_conversation) | set(transcripts)):
        messages = by_conversation.get(cid, [])
        entries = [e for e in transcripts.get(cid, []) if e.get("author") == "customer"]
        by_client = {e.get("client_id"): e.get("text") for e in entries if e.get("client_id")}
        stored_texts = Counter(str(e.get("text")) for e in entries if not e.get("client_id"))
        acked_clients = {m.client_id for m in messages if m.client_id is not None}
        wanted_texts: Counter[str] = Counter()
        for message in messages:
            if message.client_id is not None:
                if by_client.get(message.client_id) != message.text:
                    result.lost.append(_describe(message))
            else:
                wanted_texts[message.text] += 1
        result.stored_unacknowledged += len(set(by_client) - acked_clients)
        for text, copies in stored_texts.items():
            result.stored_unacknowledged += max(0, copies - wanted_texts.get(text, 0))
        for text, count in wanted_texts.items():
            missing = count - stored_texts.get(text, 0)
            if missing > 0:
                unmatched = [m for m in messages if m.text == text and m.client_id is None][-missing:]
                result.lost.extend(_describe(m) for m in unmatched)
    agent_by_conversation: dict[str, Counter[str]] = defaultdict(Counter)
    for message in agent_said:
        if message.acked_at is not None:
            agent_by_conversation[message.conversation_id][message.text] += 1
            result.agent_acknowledged += 1
    for cid, wanted in agent_by_conversation.items():
        stored = Counter(e.get("text") for e in transcripts.get(cid, []) if e.get("author") == "agent")
        for text, count in wanted.items():
            for _ in range(max(0, count - stored.get(text, 0))):
                result.agent_lost.append({"conversation_id": cid, "text": text})
    return result


def _describe(message: Said) -> dict[str, Any]:
    return {
        "conversation_id": message.conversation_id,
        "channel": message.channel,
        "text": message.text,
        "client_id": message.client_id,
        "acknowledged_at": message.acked_at,
    }


# -- memory -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the traffic started
    kind: str
    rss: int  # bytes, summed over the kind's processes; 0 while it is down
    pids: tuple[int, ...]
    data: int | None = None  # Redis only: used_memory (what its data takes), None when not answered


@dataclass
class MemoryTrend:
    kind: str
    samples: int
    first_mib: float | None
    last_mib: float | None
    slope_mib_per_minute: float | None  # over the second half, after warm-up, within each incarnation
    threshold_mib_per_minute: float
    span_minutes: float  # of the second half the slope is fitted over
    judged: bool  # that half is long enough for a verdict
    leak: bool
    incarnations: int  # runs of samples with the same processes (a restart starts a new one)
    measure: str  # what the slope is of


def memory_trend(
    samples: Sequence[Sample], kind: str, warmup: float, threshold_mib_per_minute: float, min_minutes: float
) -> MemoryTrend:
    """The slope of a kind's memory over the second half of the run, fitted within each incarnation
    (a killed kind starts again small and grows while it warms up, which is no leak): least squares with
    one intercept per incarnation and a shared slope. Samples less than `warmup` seconds after the
    start or after an incarnation began are left out. For Redis the measure is RSS minus used_memory:
    the data it holds grows with every message by design; memory beyond the data must not."""
    mine = [s for s in samples if s.kind == kind]
    runs: list[list[Sample]] = []
    for sample in mine:
        if not runs or runs[-1][-1].pids != sample.pids:
            runs.append([])
        runs[-1].append(sample)
    usable = [
        [s for s in run if s.rss > 0 and s.t - run[0].t >= warmup and s.t >= warmup and s.pids]
        for run in runs
    ]
    flat = [s for run in usable for s in run]
    redis_kind = kind == "redis"

    def value(sample: Sample) -> float | None:
        if not redis_kind:
            return float(sample.rss)
        return None if sample.data is None else float(sample.rss - sample.data)

    first = flat[0].rss / 2**20 if flat else None
    last = flat[-1].rss / 2**20 if flat else None
    slope = None
    span = 0.0
    if flat:
        middle = (flat[0].t + mine[-1].t) / 2
        span = (mine[-1].t - middle) / 60
        numerator = denominator = 0.0
        for run in usable:
            points = [(s.t, v) for s in run if s.t >= middle and (v := value(s)) is not None]
            if len(points) < 2:
                continue
            mean_t = sum(t for t, _ in points) / len(points)
            mean_v = sum(v for _, v in points) / len(points)
            numerator += sum((t - mean_t) * (v - mean_v) for t, v in points)
            denominator += sum((t - mean_t) ** 2 for t, _ in points)
        if denominator > 0:
            slope = numerator / denominator * 60 / 2**20
    return MemoryTrend(
        kind=kind,
        samples=len(mine),
        first_mib=first,
        last_mib=last,
        slope_mib_per_minute=slope,
        threshold_mib_per_minute=threshold_mib_per_minute,
        span_minutes=span,
        judged=slope is not None and span >= min_minutes,
        leak=slope is not None and span >= min_minutes and slope > threshold_mib_per_minute,
        incarnations=len(runs),
        measure="RSS minus used_memory" if redis_kind else "RSS",
    )

"""Lua scripts that change routing state. Each runs atomically in Redis, so any number of service workers
can route at once without double-assigning a conversation or pushing an agent past capacity.

Key names come from handoff/keys.py ("routing", which also lists the agent and conversation hashes'
fields) only: every script starts with KEY_NAMES, Lua constants generated from keys.py when this module
loads (KEY_LAYOUT): a fixed key as it is, a family of keys named by an id as the part before the id
(AGENT .. aid) or after another family's key (AGENT .. aid .. AGENT_CHATS). They are written into the
script rather than sent as KEYS on every call: sending 25 names per call cost 5-8% of the engine's
throughput (docs/benchmarks.md), and the scripts build names from ids anyway, so they need a single
Redis node (or one hash slot for every routing key), not a cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from handoff import keys

_ID = "\x00"  # stands for an id while a family's key names are checked


class Key(NamedTuple):
    """One key name (or family of names) and the Lua constant every script binds it to."""

    name: str  # the keys.py function's name in capitals
    key: str  # the fixed key, or the family's name for the empty id (every entry is then a hub key name)
    after: str = ""  # the family whose key these names continue (AGENT for AGENT_CHATS)


def _fixed(build: Callable[[], str]) -> Key:
    return Key(build.__name__.upper(), build())


def _family(build: Callable[[str], str], after: Callable[[str], str] | None = None) -> Key:
    empty = build("")
    if after is None:
        fits = build(_ID) == empty + _ID
    else:
        fits = empty.startswith(after("")) and build(_ID) == after(_ID) + empty[len(after("")) :]
    if not fits:
        raise ValueError(f"keys.{build.__name__}: the id must end the name, or follow `after`'s key")
    return Key(build.__name__.upper(), empty, after.__name__.upper() if after else "")


# The Lua constants of every script, in this order.
KEY_LAYOUT: tuple[Key, ...] = (
    _fixed(keys.routing_params),
    _fixed(keys.routing_events),
    _fixed(keys.agents),
    _fixed(keys.agents_online),
    _fixed(keys.slots),
    _fixed(keys.queues),
    _fixed(keys.waiting),
    _fixed(keys.waiting_widened),
    _fixed(keys.offers),
    _fixed(keys.decisions),
    _fixed(keys.decision_sequence),
    _family(keys.agent),
    _family(keys.agent_chats, after=keys.agent),
    _family(keys.agents_with_skill),
    _family(keys.agents_with_language),
    _family(keys.agents_online_in),
    _family(keys.pool),
    _family(keys.queue),
    _family(keys.conversation),
    _family(keys.declined_agents, after=keys.conversation),
    _family(keys.conversation_decisions, after=keys.conversation),
    _family(keys.handoff_packet),
    _family(keys.decision),
    _family(keys.sticky_agent),
    _family(keys.handle_times),
)


def _lua_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _bind(layout: tuple[Key, ...]) -> str:
    """The Lua constants every script starts with, one per entry of the layout."""
    keys_by_name = {k.name: k.key for k in layout}
    lines = [
        f"local {k.name} = {_lua_string(k.key[len(keys_by_name[k.after]) :] if k.after else k.key)}"
        for k in layout
    ]
    return "\n".join(lines) + "\n"


KEY_NAMES = _bind(KEY_LAYOUT)

# The start of every script but STATUS: parameters, and the helpers that keep pools, queues and decisions.
PRELUDE = (
    KEY_NAMES
    + r"""local prm = redis.call('HMGET', ROUTING_PARAMS,
  'ws', 'wl', 'wr', 'pm', 'pw', 'timeout', 'max_missed', 'sticky')
local WS, WL, WR = tonumber(prm[1]) or 0.4, tonumber(prm[2]) or 0.3, tonumber(prm[3]) or 0.3
local PM, PW = tonumber(prm[4]) or 4.0, tonumber(prm[5]) or 5.0
local TIMEOUT, MAX_MISSED, STICKY = tonumber(prm[6]) or 20, tonumber(prm[7]) or 3, tonumber(prm[8]) or 0
local DECISIONS_KEPT, DECISION_TTL, SMALL_TEAM, PICK_SCAN = 1000, 30 * 86400, 50, 200

local function split(s)
  local out = {}
  for item in string.gmatch(s or '', '[^,]+') do out[#out + 1] = item end
  return out
end

local function agent(aid)
  local a = redis.call('HMGET', AGENT .. aid, 'presence', 'capacity', 'active', 'rating_sum',
    'rating_count', 'skills', 'languages')
  if not a[2] then return nil end
  return {id = aid, presence = a[1], capacity = tonumber(a[2]), active = tonumber(a[3]) or 0,
    rsum = tonumber(a[4]) or 0, rcount = tonumber(a[5]) or 0, skills = cjson.decode(a[6] or '{}'),
    langs = split(a[7])}
end

-- Same arithmetic, in the same order, as handoff/routing/scoring.py.
local function rating_of(a)
  if PW + a.rcount <= 0 then return (PM - 1.0) / 4.0 end
  return ((PM * PW + a.rsum) / (PW + a.rcount) - 1.0) / 4.0
end

local function load_of(a)
  if a.capacity > 0 then return a.active / a.capacity end
  return 1.0
end

local function total(a, prof)
  if prof == nil then return WL * (1.0 - load_of(a)) + WR * rating_of(a) end
  return WS * prof + WL * (1.0 - load_of(a)) + WR * rating_of(a)
end

-- The weights a conversation is routed with: its experiment's variant (field 'xweights', "ws,wl,wr"),
-- else the team's. Returns ws, wl, wr and whether they are the conversation's own.
local function weights_of(cid)
  local own = redis.call('HGET', CONVERSATION .. cid, 'xweights')
  if own then
    local w = split(own)
    local ws, wl, wr = tonumber(w[1]), tonumber(w[2]), tonumber(w[3])
    if ws and wl and wr then return ws, wl, wr, true end
  end
  return WS, WL, WR, false
end

local function total_with(a, prof, ws, wl, wr)
  if prof == nil then return wl * (1.0 - load_of(a)) + wr * rating_of(a) end
  return ws * prof + wl * (1.0 - load_of(a)) + wr * rating_of(a)
end

-- Per-(skill, language) sets of online agents and their summed capacity ("slots"), so that decisions
-- explain the filters with O(1) counts and wait estimates need no scan. Updated only on a change.
local function index_online(aid, a, online)
  local key = AGENT .. aid
  local state = redis.call('HMGET', key, 'indexed', 'counted')
  local counted = tonumber(state[2]) or 0
  local want = online and a.capacity or 0
  if (state[1] == '1') == online and counted == want then return end
  local names = {}
  for _, lang in ipairs(a.langs) do
    names[#names + 1] = '*:' .. lang
    for skill, _ in pairs(a.skills) do names[#names + 1] = skill .. ':' .. lang end
  end
  local op = online and 'SADD' or 'SREM'
  for skill, _ in pairs(a.skills) do redis.call(op, AGENTS_ONLINE_IN .. skill, aid) end
  for _, name in ipairs(names) do
    redis.call(op, AGENTS_ONLINE_IN .. name, aid)
    if want ~= counted then redis.call('HINCRBY', SLOTS, name, want - counted) end
  end
  redis.call('HSET', key, 'indexed', online and '1' or '0', 'counted', want)
end

local function rescore(aid)
  local a = agent(aid)
  if not a then return end
  index_online(aid, a, a.presence == 'online')
  local available = a.presence == 'online' and a.active < a.capacity
  for _, lang in ipairs(a.langs) do
    if available then
      redis.call('ZADD', POOL .. '*:' .. lang, -total(a, nil), aid)
    else
      redis.call('ZREM', POOL .. '*:' .. lang, aid)
    end
    for skill, prof in pairs(a.skills) do
      if available then
        redis.call('ZADD', POOL .. skill .. ':' .. lang, -total(a, prof), aid)
      else
        redis.call('ZREM', POOL .. skill .. ':' .. lang, aid)
      end
    end
  end
end

local function unpool(aid)
  local a = agent(aid)
  if not a then return end
  index_online(aid, a, false)
  for _, lang in ipairs(a.langs) do
    redis.call('ZREM', POOL .. '*:' .. lang, aid)
    redis.call('SREM', AGENTS_WITH_LANGUAGE .. lang, aid)
    for skill, _ in pairs(a.skills) do
      redis.call('ZREM', POOL .. skill .. ':' .. lang, aid)
      redis.call('SREM', AGENTS_WITH_SKILL .. skill, aid)
    end
  end
end

local function index_agent(aid)
  local a = agent(aid)
  for _, lang in ipairs(a.langs) do redis.call('SADD', AGENTS_WITH_LANGUAGE .. lang, aid) end
  for skill, _ in pairs(a.skills) do redis.call('SADD', AGENTS_WITH_SKILL .. skill, aid) end
end

local function split_queue(qname)
  local sep = string.find(qname, ':', 1, true)
  return string.sub(qname, 1, sep - 1), string.sub(qname, sep + 1)
end

local function free_agent(aid, cid)
  if redis.call('SREM', AGENT .. aid .. AGENT_CHATS, cid) == 1 then
    if tonumber(redis.call('HINCRBY', AGENT .. aid, 'active', -1)) < 0 then
      redis.call('HSET', AGENT .. aid, 'active', 0)
    end
  end
  rescore(aid)
end

-- Back into its queue at its original place (virtual arrival kept).
local function requeue(cid)
  local c = redis.call('HMGET', CONVERSATION .. cid, 'queue', 'qscore', 'queued_at', 'widened')
  redis.call('HSET', CONVERSATION .. cid, 'owner', 'queued')
  redis.call('HDEL', CONVERSATION .. cid, 'offer_agent', 'offer_expires', 'agent', 'assigned_at')
  redis.call('ZREM', OFFERS, cid)
  redis.call('ZADD', QUEUE .. c[1], c[2], cid)
  redis.call('SADD', QUEUES, c[1])
  if c[4] == '1' then
    redis.call('ZADD', WAITING_WIDENED, c[3], cid)
  else
    redis.call('ZADD', WAITING, c[3], cid)
  end
  return c[1]
end

local function unqueue(cid)
  local q = redis.call('HGET', CONVERSATION .. cid, 'queue')
  if q then
    redis.call('ZREM', QUEUE .. q, cid)
    if redis.call('ZCARD', QUEUE .. q) == 0 then redis.call('SREM', QUEUES, q) end
  end
  redis.call('ZREM', WAITING, cid)
  redis.call('ZREM', WAITING_WIDENED, cid)
end

local function candidate(aid, skill, ws, wl, wr)
  local a = agent(aid)
  local prof = nil
  if skill ~= '*' then prof = tonumber(a.skills[skill]) or 0 end
  local parts = {skill = prof and ws * prof or 0, load = wl * (1.0 - load_of(a)), rating = wr * rating_of(a)}
  return {agent_id = aid, total = total_with(a, prof, ws, wl, wr), parts = parts,
    proficiency = prof or cjson.null, load = load_of(a), rating = rating_of(a)}
end

-- Who each filter removed: exact counts from the online index in O(1); names too for small teams.
local function filters(skill, lang, declined_key)
  local pool = POOL .. skill .. ':' .. lang
  local removed = {}
  local everyone = redis.call('SCARD', AGENTS)
  local skilled_key, online_key = AGENTS, AGENTS_ONLINE
  if skill ~= '*' then skilled_key, online_key = AGENTS_WITH_SKILL .. skill, AGENTS_ONLINE_IN .. skill end
  local skilled = redis.call('SCARD', skilled_key)
  local online = redis.call('SCARD', online_key)
  local speaking = redis.call('SCARD', AGENTS_ONLINE_IN .. skill .. ':' .. lang)
  if skill ~= '*' then removed.no_skill = {count = everyone - skilled} end
  removed.not_online = {count = skilled - online}
  removed.no_language = {count = online - speaking}
  removed.full = {count = speaking - redis.call('ZCARD', pool)}
  local declined = {}
  for _, aid in ipairs(redis.call('SMEMBERS', declined_key)) do
    if redis.call('ZSCORE', pool, aid) then declined[#declined + 1] = aid end
  end
  table.sort(declined)
  removed.declined = {count = #declined, sample = declined}
  if skilled <= SMALL_TEAM then
    local function sorted(list) table.sort(list) return list end
    removed.not_online.sample = sorted(redis.call('SDIFF', skilled_key, online_key))
    local speaking_key = AGENTS_ONLINE_IN .. skill .. ':' .. lang
    removed.no_language.sample = sorted(redis.call('SDIFF', online_key, speaking_key))
    local full = {}
    for _, aid in ipairs(redis.call('SMEMBERS', speaking_key)) do
      if not redis.call('ZSCORE', pool, aid) then full[#full + 1] = aid end
    end
    removed.full.sample = sorted(full)
  end
  return removed
end

local function record_decision(cid, qname, now, chosen, how, outcome)
  local skill, lang = split_queue(qname)
  local did = redis.call('INCR', DECISION_SEQUENCE)
  local pool = POOL .. qname
  local declined_key = CONVERSATION .. cid .. DECLINED_AGENTS
  local ws, wl, wr, own = weights_of(cid)
  local cands = {}
  local offset = 0
  -- The best five the filters left, declined agents excluded; with the conversation's own weights the
  -- pool's order (the team's weights) does not apply, so its first agents are scored and sorted again.
  local wanted = own and PICK_SCAN or 5
  while #cands < wanted do
    local ids = redis.call('ZRANGE', pool, offset, offset + 9)
    if #ids == 0 then break end
    for _, aid in ipairs(ids) do
      if #cands < wanted and redis.call('SISMEMBER', declined_key, aid) == 0 then
        cands[#cands + 1] = candidate(aid, skill, ws, wl, wr)
      end
    end
    offset = offset + 10
  end
  if own then
    table.sort(cands, function(x, y)
      if x.total ~= y.total then return x.total > y.total end
      return x.agent_id < y.agent_id
    end)
    for i = #cands, 6, -1 do cands[i] = nil end
  end
  if chosen and how ~= 'best' then
    local listed = false
    for _, c in ipairs(cands) do if c.agent_id == chosen then listed = true end end
    if not listed then table.insert(cands, 1, candidate(chosen, skill, ws, wl, wr)) end
  end
  local record = {id = tostring(did), conversation_id = cid, at = now, queue = qname,
    skill = (skill ~= '*') and skill or cjson.null, language = lang, how = how, outcome = outcome,
    chosen = chosen or cjson.null, weights = {skill = ws, load = wl, rating = wr},
    pool_size = redis.call('ZCARD', pool), candidates = cands, removed = filters(skill, lang, declined_key)}
  redis.call('SET', DECISION .. did, cjson.encode(record), 'EX', DECISION_TTL)
  redis.call('LPUSH', DECISIONS, did)
  redis.call('LTRIM', DECISIONS, 0, DECISIONS_KEPT - 1)
  redis.call('LPUSH', CONVERSATION .. cid .. CONVERSATION_DECISIONS, did)
  redis.call('LTRIM', CONVERSATION .. cid .. CONVERSATION_DECISIONS, 0, 99)
  redis.call('EXPIRE', CONVERSATION .. cid .. CONVERSATION_DECISIONS, DECISION_TTL)
  return tostring(did)
end

local function offer(cid, aid, qname, now, how)
  local did = record_decision(cid, qname, now, aid, how, 'offered')
  redis.call('HINCRBY', AGENT .. aid, 'active', 1)
  redis.call('SADD', AGENT .. aid .. AGENT_CHATS, cid)
  rescore(aid)
  local expires = now + TIMEOUT
  redis.call('HSET', CONVERSATION .. cid, 'owner', 'offered', 'offer_agent', aid, 'offer_expires', expires,
    'offered_at', now, 'decision', did)
  unqueue(cid)
  redis.call('ZADD', OFFERS, expires, cid)
  return {cid, aid, did, tostring(expires)}
end

local function publish(event)
  redis.call('PUBLISH', ROUTING_EVENTS, cjson.encode(event))
end

local function pick(cid, pool, skill)
  local declined_key = CONVERSATION .. cid .. DECLINED_AGENTS
  local customer = redis.call('HGET', CONVERSATION .. cid, 'customer_id')
  if customer and customer ~= '' and STICKY > 0 then
    local previous = redis.call('GET', STICKY_AGENT .. customer)
    if previous and redis.call('ZSCORE', pool, previous)
        and redis.call('SISMEMBER', declined_key, previous) == 0 then
      return previous, 'sticky'
    end
  end
  local ws, wl, wr, own = weights_of(cid)
  if own then
    -- An experiment's weights: score the pool's agents with them (same order of ties as the pool: the
    -- lower id first). The pool holds only free, qualified agents: a team's size, scanned up to PICK_SCAN.
    local best, best_total = nil, nil
    for _, aid in ipairs(redis.call('ZRANGE', pool, 0, PICK_SCAN - 1)) do
      if redis.call('SISMEMBER', declined_key, aid) == 0 then
        local a = agent(aid)
        local prof = nil
        if skill ~= '*' then prof = tonumber(a.skills[skill]) or 0 end
        local t = total_with(a, prof, ws, wl, wr)
        if best == nil or t > best_total or (t == best_total and aid < best) then
          best, best_total = aid, t
        end
      end
    end
    if best then return best, 'best' end
    return nil
  end
  local offset = 0
  while true do
    local ids = redis.call('ZRANGE', pool, offset, offset + 15)
    if #ids == 0 then return nil end
    for _, aid in ipairs(ids) do
      if redis.call('SISMEMBER', declined_key, aid) == 0 then return aid, 'best' end
    end
    offset = offset + 16
  end
end
-- Offer the head of a queue to the best free agents, up to max_offers times. Publishes an 'offer' event
-- per offer and a 'queue_changed' event, so that customers' positions and agents' consoles update.
local function route_queue(qname, now, max_offers, scan, watch)
  local queue, pool = QUEUE .. qname, POOL .. qname
  local skill = split_queue(qname)
  local made = {}
  while #made < max_offers and redis.call('ZCARD', pool) > 0 do
    local placed = false
    for _, cid in ipairs(redis.call('ZRANGE', queue, 0, scan - 1)) do
      local aid, how = pick(cid, pool, skill)
      if aid then
        local o = offer(cid, aid, qname, now, how)
        made[#made + 1] = o
        publish({type = 'offer', conversation_id = o[1], agent_id = o[2], decision_id = o[3],
          expires_at = tonumber(o[4])})
        placed = true
        break
      end
    end
    if not placed then break end
  end
  if redis.call('ZCARD', queue) == 0 then redis.call('SREM', QUEUES, qname) end
  if watch ~= '' and redis.call('ZSCORE', queue, watch) then
    record_decision(watch, qname, now, nil, 'best', 'queued')
  end
  if #made > 0 or watch ~= '' then publish({type = 'queue_changed', queue = qname}) end
  return made
end
"""
)

# What RoutingEngine.status() reports, read in the same atomic step as the change before it, so a
# handoff needs no second round trip. Returns {} for an unknown conversation, else {owner, skill, language,
# queue, agent, offer_agent, offer_expires, widened, ticket_offered, queue rank (0-based), the queue's
# slots, {recent handle times}}; fields that are not set (and the last three unless queued) are false/nil.
STATUS_OF = r"""
local function status_of(cid)
  local key = CONVERSATION .. cid
  if redis.call('EXISTS', key) == 0 then return {} end
  local out = redis.call('HMGET', key, 'owner', 'skill', 'language', 'queue', 'agent', 'offer_agent',
    'offer_expires', 'widened', 'ticket_offered')
  local owner, queue = out[1], out[4]
  if owner == 'queued' and queue then
    local rank = redis.call('ZRANK', QUEUE .. queue, cid)
    if rank then
      local skill = string.sub(queue, 1, string.find(queue, ':', 1, true) - 1)
      out[10] = rank
      out[11] = redis.call('HGET', SLOTS, queue)
      out[12] = redis.call('LRANGE', HANDLE_TIMES .. skill, 0, 49)
    end
  end
  return out
end
"""

# ARGV: cid. Returns status_of(cid).
STATUS = KEY_NAMES + STATUS_OF + "return status_of(ARGV[1])\n"

# ARGV: cid, skill, language, qscore (virtual arrival), now, customer_id, packet JSON, and the conversation's
# own weights "ws,wl,wr" (an experiment's variant) or "" for the team's
# Queues the conversation and routes its queue in the same atomic step. Returns {owner, offers, status,
# {channel, address}}: 'queued' and the offers made for a new handoff, or the current owner and {} if it
# was already in the hands of the routing engine (the action server may retry a request); status is
# status_of(cid) afterwards; channel and address (false if unset) are for the hub's queue notice.
ENQUEUE = (
    PRELUDE
    + STATUS_OF
    + r"""
local cid, skill, lang, qscore = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now, customer, packet = ARGV[5], ARGV[6], ARGV[7]
local key = CONVERSATION .. cid
local owner = redis.call('HGET', key, 'owner')
local function contact() return redis.call('HMGET', key, 'channel', 'address') end
if owner == 'queued' or owner == 'offered' or owner == 'agent' then
  return {owner, {}, status_of(cid), contact()}
end
local qname = skill .. ':' .. lang
redis.call('HDEL', key, 'offer_agent', 'offer_expires', 'agent', 'assigned_at', 'widened', 'ticket_offered',
  'decision', 'resolved_at', 'xweights')
if ARGV[8] and ARGV[8] ~= '' then redis.call('HSET', key, 'xweights', ARGV[8]) end
redis.call('HSET', key, 'owner', 'queued', 'skill', skill, 'language', lang, 'queue', qname, 'qscore', qscore,
  'queued_at', now, 'customer_id', customer)
redis.call('SET', HANDOFF_PACKET .. cid, packet)
redis.call('DEL', key .. DECLINED_AGENTS)
redis.call('ZADD', QUEUE .. qname, qscore, cid)
redis.call('SADD', QUEUES, qname)
redis.call('ZADD', WAITING, now, cid)
publish({type = 'queued', conversation_id = cid, queue = qname})
local made = route_queue(qname, tonumber(now), 50, 5, cid)
return {'queued', made, status_of(cid), contact()}
"""
)

# ARGV: queue name ("skill:lang" or "*:lang"), now, max offers, head entries to scan, cid to record a
# decision for if it is still waiting afterwards ('' for none).
# Returns a list of offers: {cid, agent id, decision id, expires}.
ROUTE = (
    PRELUDE
    + r"""
return route_queue(ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5])
"""
)

# ARGV: cid, agent id, now. Returns 'ok', 'not_offered' or 'expired'.
ACCEPT = (
    PRELUDE
    + r"""
local cid, aid, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local key = CONVERSATION .. cid
local c = redis.call('HMGET', key, 'owner', 'offer_agent', 'offer_expires', 'customer_id')
if c[1] ~= 'offered' or c[2] ~= aid then return 'not_offered' end
if now > tonumber(c[3]) then return 'expired' end
redis.call('HSET', key, 'owner', 'agent', 'agent', aid, 'assigned_at', now)
redis.call('HDEL', key, 'offer_agent', 'offer_expires')
redis.call('ZREM', OFFERS, cid)
redis.call('HSET', AGENT .. aid, 'missed', 0)
if c[4] and c[4] ~= '' and STICKY > 0 then
  redis.call('SET', STICKY_AGENT .. c[4], aid, 'EX', math.floor(STICKY))
end
return 'ok'
"""
)

# ARGV: cid, agent id ('' with mode 'expire'), now, mode ('decline' | 'expire').
# Returns {'ok', queue name, agent id, '1' if the agent was set away} or {error}.
RELEASE_OFFER = (
    PRELUDE
    + r"""
local cid, aid, now, mode = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local c = redis.call('HMGET', CONVERSATION .. cid, 'owner', 'offer_agent', 'offer_expires')
if c[1] ~= 'offered' then return {'not_offered'} end
if mode == 'decline' and c[2] ~= aid then return {'not_offered'} end
if mode == 'expire' and now < tonumber(c[3]) then return {'not_expired'} end
aid = c[2]
redis.call('SADD', CONVERSATION .. cid .. DECLINED_AGENTS, aid)
redis.call('EXPIRE', CONVERSATION .. cid .. DECLINED_AGENTS, 86400)
local away = '0'
if mode == 'expire' then
  local missed = redis.call('HINCRBY', AGENT .. aid, 'missed', 1)
  if missed >= MAX_MISSED and redis.call('HGET', AGENT .. aid, 'presence') == 'online' then
    redis.call('HSET', AGENT .. aid, 'presence', 'away')
    redis.call('SREM', AGENTS_ONLINE, aid)
    away = '1'
  end
else
  redis.call('HSET', AGENT .. aid, 'missed', 0)
end
free_agent(aid, cid)
return {'ok', requeue(cid), aid, away}
"""
)

# ARGV: agent id, presence, now. Offers pending for an agent who leaves go back to their queues.
# Returns {'ok', queue names...} or {'unknown_agent'}.
PRESENCE = (
    PRELUDE
    + r"""
local aid, presence = ARGV[1], ARGV[2]
local key = AGENT .. aid
if redis.call('EXISTS', key) == 0 then return {'unknown_agent'} end
redis.call('HSET', key, 'presence', presence)
local out = {'ok'}
if presence == 'online' then
  redis.call('SADD', AGENTS_ONLINE, aid)
  redis.call('HSET', key, 'missed', 0)
else
  redis.call('SREM', AGENTS_ONLINE, aid)
  for _, cid in ipairs(redis.call('SMEMBERS', key .. AGENT_CHATS)) do
    local c = redis.call('HMGET', CONVERSATION .. cid, 'owner', 'offer_agent')
    if c[1] == 'offered' and c[2] == aid then
      free_agent(aid, cid)
      out[#out + 1] = requeue(cid)
    end
  end
end
rescore(aid)
return out
"""
)

# ARGV: agent id, JSON {name, languages, capacity}, now, create ('1' | '0'), skills JSON (kept verbatim so
# that proficiencies are the exact doubles Python wrote).
# Returns 'ok', 'exists' or 'unknown_agent'.
PUT_AGENT = (
    PRELUDE
    + r"""
local aid, spec, now, create = ARGV[1], cjson.decode(ARGV[2]), ARGV[3], ARGV[4]
local key = AGENT .. aid
local exists = redis.call('EXISTS', key) == 1
if create == '1' and exists then return 'exists' end
if create == '0' and not exists then return 'unknown_agent' end
if exists then unpool(aid) else
  redis.call('HSET', key, 'presence', 'offline', 'active', 0, 'rating_sum', 0, 'rating_count', 0, 'missed', 0,
    'created_at', now)
  redis.call('SADD', AGENTS, aid)
end
redis.call('HSET', key, 'name', spec.name, 'languages', table.concat(spec.languages, ','),
  'skills', ARGV[5], 'capacity', spec.capacity, 'updated_at', now)
index_agent(aid)
rescore(aid)
return 'ok'
"""
)

# ARGV: agent id, stars (1-5). Returns 'ok' or 'unknown_agent'.
RATE = (
    PRELUDE
    + r"""
local key = AGENT .. ARGV[1]
if redis.call('EXISTS', key) == 0 then return 'unknown_agent' end
redis.call('HINCRBYFLOAT', key, 'rating_sum', ARGV[2])
redis.call('HINCRBY', key, 'rating_count', 1)
rescore(ARGV[1])
return 'ok'
"""
)

# After the weights or the rating prior change. ARGV: none. Returns the number of agents rescored.
RESCORE_ALL = (
    PRELUDE
    + r"""
local ids = redis.call('SMEMBERS', AGENTS)
for _, aid in ipairs(ids) do rescore(aid) end
return #ids
"""
)

# The conversation leaves routing (resolved, returned to the bot, cancelled, customer gone).
# ARGV: cid, acting agent id ('' when a supervisor or the service acts), now, new owner ('bot' | 'closed'),
# waiting only ('1': release only a queued or offered conversation, never one an agent holds).
# Returns {'ok', previous owner, agent id or ''} or {'not_assigned'} / {'not_routed'} / {'answered'}.
RELEASE = (
    PRELUDE
    + r"""
local cid, actor, now, new_owner, waiting_only = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local key = CONVERSATION .. cid
local c = redis.call('HMGET', key, 'owner', 'agent', 'offer_agent', 'assigned_at', 'skill')
local owner = c[1]
if owner ~= 'queued' and owner ~= 'offered' and owner ~= 'agent' then return {'not_routed'} end
if waiting_only == '1' and owner == 'agent' then return {'answered'} end
local holder = c[2] or c[3] or ''
if actor ~= '' and holder ~= actor then return {'not_assigned'} end
if owner == 'queued' then unqueue(cid) end
if owner == 'offered' or owner == 'agent' then
  redis.call('ZREM', OFFERS, cid)
  free_agent(holder, cid)
end
if owner == 'agent' and c[4] then
  redis.call('LPUSH', HANDLE_TIMES .. c[5], tostring(now - tonumber(c[4])))
  redis.call('LTRIM', HANDLE_TIMES .. c[5], 0, 49)
end
redis.call('HSET', key, 'owner', new_owner, 'resolved_at', now)
redis.call('HDEL', key, 'offer_agent', 'offer_expires')
return {'ok', owner, holder}
"""
)

# Transfer to a named agent: they get an offer right away (supervisor override of the ranking).
# ARGV: cid, acting agent id ('' for a supervisor), target agent id, now.
# Returns {'ok', decision id, expires, previous agent} or {error}.
TRANSFER_TO_AGENT = (
    PRELUDE
    + r"""
local cid, actor, target, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = CONVERSATION .. cid
local c = redis.call('HMGET', key, 'owner', 'agent', 'language', 'skill')
if c[1] ~= 'agent' then return {'not_assigned'} end
if actor ~= '' and c[2] ~= actor then return {'not_assigned'} end
if c[2] == target then return {'same_agent'} end
local t = agent(target)
if not t then return {'unknown_agent'} end
if t.presence ~= 'online' then return {'target_unavailable'} end
if t.active >= t.capacity then return {'target_full'} end
local speaks = false
for _, lang in ipairs(t.langs) do if lang == c[3] then speaks = true end end
if not speaks then return {'target_language'} end
free_agent(c[2], cid)
redis.call('HDEL', key, 'agent', 'assigned_at')
local made = offer(cid, target, c[4] .. ':' .. c[3], now, 'transfer')
return {'ok', made[3], made[4], c[2]}
"""
)

# Transfer to a skill queue; the conversation keeps its place in line. ARGV: cid, acting agent ('' for a
# supervisor), skill, now. Returns {'ok', queue name, previous agent} or {error}. The overflow clock
# restarts (queued_at), the place in line (qscore) does not.
TRANSFER_TO_SKILL = (
    PRELUDE
    + r"""
local cid, actor, skill, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = CONVERSATION .. cid
local c = redis.call('HMGET', key, 'owner', 'agent', 'language')
if c[1] ~= 'agent' then return {'not_assigned'} end
if actor ~= '' and c[2] ~= actor then return {'not_assigned'} end
free_agent(c[2], cid)
redis.call('SADD', key .. DECLINED_AGENTS, c[2])
redis.call('HSET', key, 'skill', skill, 'queue', skill .. ':' .. c[3], 'widened', '0', 'queued_at', now)
return {'ok', requeue(cid), c[2]}
"""
)

# ARGV: cid. Moves a long-waiting conversation to its language's widened queue.
# Returns the new queue name, or '' if it is no longer waiting or already widened.
WIDEN = (
    PRELUDE
    + r"""
local cid = ARGV[1]
local key = CONVERSATION .. cid
local c = redis.call('HMGET', key, 'owner', 'queue', 'qscore', 'language', 'widened', 'queued_at')
redis.call('ZREM', WAITING, cid)
if c[1] ~= 'queued' or c[5] == '1' then return '' end
local qname = '*:' .. c[4]
redis.call('ZREM', QUEUE .. c[2], cid)
if redis.call('ZCARD', QUEUE .. c[2]) == 0 then redis.call('SREM', QUEUES, c[2]) end
redis.call('ZADD', QUEUE .. qname, c[3], cid)
redis.call('SADD', QUEUES, qname)
redis.call('ZADD', WAITING_WIDENED, c[6], cid)
redis.call('HSET', key, 'queue', qname, 'widened', '1')
return qname
"""
)

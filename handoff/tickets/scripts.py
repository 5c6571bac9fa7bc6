"""Lua scripts of the ticket store. Each runs atomically in Redis, so any number of service workers can
create and list tickets at once. The key names come from the store (handoff.tickets.store); the create
script derives a new ticket's keys from its id, so it needs a single Redis node, not a cluster.
"""

from __future__ import annotations

NEW_ID = "{id}"  # stands for the new ticket's id in the key names given to the create script

# ARGV: dedupe key ('' for none), dedupe ttl, fields JSON (str → str, nulls left out), history entry JSON,
# key names JSON {sequence, ticket, history, indexes, counts, count} (ticket and history with NEW_ID).
# Returns {ticket id, 1} for a new ticket, or {existing id, 0} when the dedupe key already names one.
CREATE = r"""
local dedupe, ttl, fields, entry = ARGV[1], ARGV[2], cjson.decode(ARGV[3]), ARGV[4]
local names = cjson.decode(ARGV[5])
if dedupe ~= '' then
  local existing = redis.call('GET', dedupe)
  if existing then return {existing, 0} end
end
local n = redis.call('INCR', names.sequence)
local id = string.format('T-%06d', n)
local key = (string.gsub(names.ticket, '{id}', id))
redis.call('HSET', key, 'id', id, 'seq', n)
for k, v in pairs(fields) do redis.call('HSET', key, k, v) end
redis.call('RPUSH', (string.gsub(names.history, '{id}', id)), entry)
for _, index in ipairs(names.indexes) do redis.call('ZADD', index, n, id) end
redis.call('HINCRBY', names.counts, names.count, 1)
if dedupe ~= '' then redis.call('SET', dedupe, id, 'EX', ttl) end
return {id, 1}
"""

# ARGV: JSON list of groups (each a list of index keys), temp key prefix, offset, limit; optionally the
# promise index (scored by due time), the lowest and highest due time wanted (ZRANGEBYSCORE bounds) and the
# index of all tickets (scored by seq).
# The result is the intersection of the groups, each group the union of its keys; every index scores by
# seq, so MIN keeps it (the default SUM would double a ticket found through two keys). The promise index is
# joined as one more group, rescored by seq from the index of all tickets.
# Returns {total, ids newest first}. Temp keys live only inside the script.
LIST = r"""
local groups, tmp = cjson.decode(ARGV[1]), ARGV[2]
local offset, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local sets, temps = {}, {}
if ARGV[5] then
  local promised = redis.call('ZRANGEBYSCORE', ARGV[5], ARGV[6], ARGV[7])
  if #promised == 0 then return {0, {}} end
  local key = tmp .. ':promised'
  for _, id in ipairs(promised) do
    local seq = redis.call('ZSCORE', ARGV[8], id)
    if seq then redis.call('ZADD', key, seq, id) end
  end
  sets[1] = key
  temps[1] = key
end
-- unpack() expands only as the last argument, so the command is built as one list.
local function store(command, dest, keys)
  local argv = {command, dest, #keys}
  for _, k in ipairs(keys) do argv[#argv + 1] = k end
  argv[#argv + 1] = 'AGGREGATE'
  argv[#argv + 1] = 'MIN'
  redis.call(unpack(argv))
end
for i, group in ipairs(groups) do
  if #group == 1 then
    sets[#sets + 1] = group[1]
  else
    local key = tmp .. ':' .. i
    store('ZUNIONSTORE', key, group)
    sets[#sets + 1] = key
    temps[#temps + 1] = key
  end
end
local result = sets[1]
if #sets > 1 then
  store('ZINTERSTORE', tmp, sets)
  result = tmp
  temps[#temps + 1] = tmp
end
local total = redis.call('ZCARD', result)
local ids = redis.call('ZREVRANGE', result, offset, offset + limit - 1)
if #temps > 0 then redis.call('DEL', unpack(temps)) end
return {total, ids}
"""

"""The Lua scripts of the Redis frontier: each one step that a crash can never split."""

from __future__ import annotations

from typing import Any

__all__ = ["GROUP", "Scripts"]

GROUP = "crawlers"  # the one consumer group of every partition's stream

# KEYS: seen, counts, seeds, hosts, stream... ARGV: per request 9 fields (fingerprint, index of
# its stream in KEYS, url, depth, referrer, skip, host, host depth, sitemap level).
ADD = """
local added = 0
for i = 1, #ARGV, 9 do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[tonumber(ARGV[i + 1])], '*', 'u', ARGV[i + 2], 'd', ARGV[i + 3],
               'r', ARGV[i + 4], 's', ARGV[i + 5], 'h', ARGV[i + 6], 'k', ARGV[i + 7],
               'm', ARGV[i + 8], 'f', ARGV[i])
    if ARGV[i + 3] == '0' then redis.call('RPUSH', KEYS[3], ARGV[i + 2]) end
    redis.call('HINCRBY', KEYS[4], ARGV[i + 6], 1)
    added = added + 1
  end
end
if added > 0 then redis.call('HINCRBY', KEYS[2], 'added', added) end
return added
"""

# KEYS: counts, then (stream, its owner lease) pairs. ARGV: group, consumer, limit, then each
# stream's own limit. New entries of the streams this consumer still owns, in order.
CLAIM = """
local out = {}
local remaining = tonumber(ARGV[3])
for i = 2, #KEYS, 2 do
  if remaining <= 0 then break end
  local count = math.min(remaining, tonumber(ARGV[3 + i / 2]))
  if count > 0 and redis.call('GET', KEYS[i + 1]) == ARGV[2] then
    local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', count,
                             'STREAMS', KEYS[i], '>')
    if reply then
      local entries = reply[1][2]
      remaining = remaining - #entries
      table.insert(out, {i, entries})
    end
  end
end
local claimed = tonumber(ARGV[3]) - remaining
if claimed > 0 then redis.call('HINCRBY', KEYS[1], 'leased', claimed) end
return out
"""

# KEYS: counts, hosts, pages, due, stream... ARGV: group, then per request (stream index, entry
# id, outcome, host, fingerprint, page, due time): a request with a page (what its fetch saw,
# for a recrawl) keeps it in `pages`, due again at its time. Acknowledging twice counts once.
COMPLETE = """
local finished = 0
for i = 2, #ARGV, 7 do
  local stream = KEYS[tonumber(ARGV[i])]
  if redis.call('XACK', stream, ARGV[1], ARGV[i + 1]) == 1 then
    redis.call('XDEL', stream, ARGV[i + 1])
    redis.call('HINCRBY', KEYS[1], ARGV[i + 2], 1)
    if redis.call('HINCRBY', KEYS[2], ARGV[i + 3], -1) <= 0 then
      redis.call('HDEL', KEYS[2], ARGV[i + 3])
    end
    if ARGV[i + 5] ~= '' then
      redis.call('HSET', KEYS[3], ARGV[i + 4], ARGV[i + 5])
      redis.call('ZADD', KEYS[4], ARGV[i + 6], ARGV[i + 4])
    end
    finished = finished + 1
  end
end
if finished > 0 then redis.call('HINCRBY', KEYS[1], 'leased', -finished) end
return finished
"""

# KEYS: counts, stream... ARGV: group, then per request (stream index, entry id, url, depth,
# referrer, skip, host, host depth, sitemap level, fingerprint, previous visit): queued again as
# new entries, for any worker to take.
RELEASE = """
local released = 0
for i = 2, #ARGV, 11 do
  local stream = KEYS[tonumber(ARGV[i])]
  if redis.call('XACK', stream, ARGV[1], ARGV[i + 1]) == 1 then
    redis.call('XDEL', stream, ARGV[i + 1])
    redis.call('XADD', stream, '*', 'u', ARGV[i + 2], 'd', ARGV[i + 3], 'r', ARGV[i + 4],
               's', ARGV[i + 5], 'h', ARGV[i + 6], 'k', ARGV[i + 7], 'm', ARGV[i + 8],
               'f', ARGV[i + 9], 'p', ARGV[i + 10])
    released = released + 1
  end
end
if released > 0 then redis.call('HINCRBY', KEYS[1], 'leased', -released) end
return released
"""

# KEYS: counts, hosts, pages, due, stream... ARGV: now, then per page (fingerprint, stream
# index, url, depth, referrer, host, host depth, sitemap level, visit, outcome): each page
# still due is queued again with its visit, and counted pending instead of final.
REVISIT = """
local queued = 0
for i = 2, #ARGV, 10 do
  local due = redis.call('ZSCORE', KEYS[4], ARGV[i])
  if due and tonumber(due) <= tonumber(ARGV[1]) then
    redis.call('ZREM', KEYS[4], ARGV[i])
    redis.call('XADD', KEYS[tonumber(ARGV[i + 1])], '*', 'u', ARGV[i + 2], 'd', ARGV[i + 3],
               'r', ARGV[i + 4], 's', '', 'h', ARGV[i + 5], 'k', ARGV[i + 6],
               'm', ARGV[i + 7], 'f', ARGV[i], 'p', ARGV[i + 8])
    redis.call('HINCRBY', KEYS[1], ARGV[i + 9], -1)
    redis.call('HINCRBY', KEYS[2], ARGV[i + 5], 1)
    queued = queued + 1
  end
end
return queued
"""

# KEYS: streams. ARGV: group, consumer. Forget the consumer where it holds nothing (deleting a
# consumer drops its pending entries, so one that still holds some is kept for a takeover).
FORGET_CONSUMER = """
for i = 1, #KEYS do
  if #redis.call('XPENDING', KEYS[i], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[i], ARGV[1], ARGV[2])
  end
end
return 0
"""

# KEYS: leases. ARGV: worker id, ttl ms. The indexes (1-based) of the leases no longer ours.
RENEW_ALL = """
local lost = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
  else
    table.insert(lost, i)
  end
end
return lost
"""

# KEYS: candidate leases. ARGV: worker id, ttl ms, how many. The indexes of those taken.
ACQUIRE = """
local taken = {}
for i = 1, #KEYS do
  if #taken >= tonumber(ARGV[3]) then break end
  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ARGV[2]) then table.insert(taken, i) end
end
return taken
"""

GIVE_UP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Scripts:
    """The scripts, registered on one client (each is sent once, then run by its digest)."""

    def __init__(self, client: Any) -> None:
        self.add = client.register_script(ADD)
        self.claim = client.register_script(CLAIM)
        self.complete = client.register_script(COMPLETE)
        self.release = client.register_script(RELEASE)
        self.revisit = client.register_script(REVISIT)
        self.renew_all = client.register_script(RENEW_ALL)
        self.acquire = client.register_script(ACQUIRE)
        self.forget_consumer = client.register_script(FORGET_CONSUMER)
        self.give_up = client.register_script(GIVE_UP)

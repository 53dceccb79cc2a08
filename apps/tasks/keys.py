"""The Redis layout of the queue.

Streams and the worker registry use rearq's key names (rearq.constants: QUEUE_KEY_PREFIX,
WORKER_KEY), so rearq's own tooling sees our queues and workers. rearq is not imported here
to keep tortoise-orm out of web processes; a test checks that the names still match.
"""

from __future__ import annotations

QUEUE_KEY_PREFIX = "rearq:queue:"
WORKER_KEY = "rearq:worker"
DELAY_KEY_PREFIX = "rearq:delay:"
CRON_KEY_PREFIX = "rearq:cron:"
SWEEP_KEY = "rearq:sweep"  # held by the timer sweeping for lost runs, for one sweep interval
GROUP = "django-tasks"


def stream_key(queue: str) -> str:
    return f"{QUEUE_KEY_PREFIX}{queue}"


def delay_key(queue: str) -> str:
    return f"{DELAY_KEY_PREFIX}{queue}"


def cron_slot_key(name: str, slot: int) -> str:
    return f"{CRON_KEY_PREFIX}{name}:{slot}"


# Moves due deferred jobs (score = epoch ms) to the stream, atomically, so two workers never both move one.
PROMOTE_SCRIPT = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'job', member)
  redis.call('ZREM', KEYS[1], member)
end
return #due
"""

# Removes what no worker holds from a queue, atomically: the stream's messages that are not pending in
# the consumer group (taken messages stay, so their tasks finish and are recorded) and the whole delay
# set. The stream and its group are kept, so workers blocked on the stream keep reading.
# KEYS: stream, delay set. ARGV: group, page size. Returns {removed waiting bodies, removed delayed bodies}.
PURGE_SCRIPT = """
local page = tonumber(ARGV[2])
local held = {}
local waiting = {}
if redis.call('EXISTS', KEYS[1]) == 1 then
  local start = '-'
  while true do
    local pending = redis.pcall('XPENDING', KEYS[1], ARGV[1], start, '+', page)
    if type(pending) ~= 'table' or pending['err'] then
      break -- no group yet: no worker has taken anything
    end
    for _, entry in ipairs(pending) do
      held[entry[1]] = true
    end
    if #pending < page then
      break
    end
    start = '(' .. pending[#pending][1]
  end
  start = '-'
  while true do
    local entries = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', page)
    local ids = {}
    for _, entry in ipairs(entries) do
      if not held[entry[1]] then
        table.insert(ids, entry[1])
        local fields = entry[2]
        for i = 1, #fields, 2 do
          if fields[i] == 'job' then
            table.insert(waiting, fields[i + 1])
          end
        end
      end
    end
    if #ids > 0 then
      redis.call('XDEL', KEYS[1], unpack(ids))
    end
    if #entries < page then
      break
    end
    start = '(' .. entries[#entries][1]
  end
end
local delayed = redis.call('ZRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
return {waiting, delayed}
"""

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

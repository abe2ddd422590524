"""Lua scripts of the queue, registered once per client (``Redis.register_script``).

:data:`ENQUEUE` is arq's ``ArqRedis.enqueue_job`` (arq 0.26-0.28, ``arq/connections.py``) in one
atomic round trip instead of WATCH, EXISTS and MULTI/EXEC, followed by the wake-up token that
``worker/wakeable.py`` blocks on. arq refuses a job id whose job or result key exists; the
script does the same check and the same writes: ``PSETEX arq:job:<id>`` (the job as arq
serializes it) and ``ZADD <queue> <score> <id>``. The caller computes the score, the expiry and
the serialized job exactly as arq does (``orchestrator/queue/arq.py``).

KEYS: 1 job key, 2 result key, 3 queue (sorted set), 4 wake list, 5 (optional) a key that must
exist: the job's live state when its creation shares the round trip (``orchestrator/jobs/
launch.py``), so that a creation that failed never leaves a queued job without a state.
ARGV: 1 arq job id, 2 score (epoch ms), 3 job key expiry (ms), 4 serialized job,
5 ``1`` to push a wake token (the arq job id, for a due job) or ``0``, 6 most tokens kept, 7 token list expiry (ms).
Returns 1 when enqueued, 0 when a job or result of that id already exists, -1 when the key
``KEYS[5]`` does not exist (nothing written).
"""

from __future__ import annotations

ENQUEUE = """
if KEYS[5] and redis.call('EXISTS', KEYS[5]) == 0 then
  return -1
end
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then
  return 0
end
redis.call('PSETEX', KEYS[1], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
if ARGV[5] == '1' then
  redis.call('LPUSH', KEYS[4], ARGV[1])
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[6]) - 1)
  redis.call('PEXPIRE', KEYS[4], ARGV[7])
end
return 1
"""

# KEYS: 1 queue, 2 wake list, then per job: job key, result key.
# ARGV: 1 most tokens kept, 2 token list expiry (ms), then per job: arq job id, score, job key
# expiry (ms), serialized job.
# ENQUEUE for many due jobs in one call (a batch submit): the same check and writes per job,
# one wake token per enqueued job, the list trimmed once. Returns 1 or 0 per job, in order.
ENQUEUE_MANY = """
local out = {}
for i = 1, (#ARGV - 2) / 4 do
  local job_key, result_key = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local a = 2 + 4 * (i - 1)
  if redis.call('EXISTS', job_key, result_key) > 0 then
    out[i] = 0
  else
    redis.call('PSETEX', job_key, ARGV[a + 3], ARGV[a + 4])
    redis.call('ZADD', KEYS[1], ARGV[a + 2], ARGV[a + 1])
    redis.call('LPUSH', KEYS[2], ARGV[a + 1])
    out[i] = 1
  end
end
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[1]) - 1)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return out
"""

__all__ = ["ENQUEUE", "ENQUEUE_MANY"]

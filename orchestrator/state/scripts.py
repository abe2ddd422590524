"""Lua scripts of the Redis state store, registered once per client (STYLE rule 12).

Each multi-key update is one script so a reader never sees half of it: a checkpoint and its
``step.succeeded`` event land together, or neither does. Scripts that change a running job take
the worker id and refuse (``LEASE_LOST``) when another worker holds the lease: a paused worker
that lost its job cannot overwrite the new owner's work (lease fencing, as in Kleppmann's
"How to do distributed locking").
"""

from __future__ import annotations

# Appends one event: the per-job ``seq`` counter and the stream entry move together.
_PUBLISH = """
local function publish(job_key, events_key, maxlen, ttl, etype, step, attempt, ts, data)
  local seq = redis.call('HINCRBY', job_key, 'seq', 1)
  local id = redis.call('XADD', events_key, 'MAXLEN', '~', maxlen, '*',
    'type', etype, 'step', step, 'attempt', attempt, 'seq', seq, 'ts', ts, 'data', data)
  redis.call('EXPIRE', events_key, ttl)
  return id
end
"""

# KEYS: job, events, lease, [state]
# ARGV: maxlen, ttl, worker_id ('' = no fencing), state value, event type ('' = none),
#       step, attempt, ts, data, [hash field, value]...
# Returns the event id, '' when no event, or 'EXISTS' when the checkpoint was already written.
APPLY = _PUBLISH + """
if ARGV[3] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[3] then
  return redis.error_reply('LEASE_LOST')
end
if #KEYS >= 4 then
  if not redis.call('SET', KEYS[4], ARGV[4], 'NX', 'EX', ARGV[2]) then return 'EXISTS' end
end
if #ARGV > 9 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 10))
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
if ARGV[5] ~= '' then
  return publish(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9])
end
return ''
"""

# KEYS: job, events, lease, [state key of each checkpoint]...
# ARGV: maxlen, ttl, worker_id ('' = no fencing), then per write: state key index (0 = not a
#       checkpoint, else its KEYS index), state value, event type ('' = none), step, attempt,
#       ts, data, number of field/value arguments n, n field/value arguments
# APPLY for a batch of one job's writes, in order, in one call (a publisher's batch: job.started,
# step.started and the checkpoint with step.succeeded usually travel together). Returns one
# reply per write, as APPLY's: the event id, '' when no event, or 'EXISTS'.
APPLY_BATCH = _PUBLISH + """
if ARGV[3] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[3] then
  return redis.error_reply('LEASE_LOST')
end
local out = {}
local i = 4
while i <= #ARGV do
  local state, n = tonumber(ARGV[i]), tonumber(ARGV[i + 7])
  local reply = ''
  if state > 0 and not redis.call('SET', KEYS[state], ARGV[i + 1], 'NX', 'EX', ARGV[2]) then
    reply = 'EXISTS'
  else
    if n > 0 then
      redis.call('HSET', KEYS[1], unpack(ARGV, i + 8, i + 7 + n))
      redis.call('EXPIRE', KEYS[1], ARGV[2])
    end
    if ARGV[i + 2] ~= '' then
      reply = publish(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4],
        ARGV[i + 5], ARGV[i + 6])
    end
  end
  out[#out + 1] = reply
  i = i + 8 + n
end
return out
"""

# KEYS: job 1, events 1, job 2, events 2, ...
# ARGV: maxlen, ttl, ts, JSON array with one [[hash field, value, ...], job.queued data] per job
# Creates many jobs as APPLY creates one (hash, TTL, job.queued event), in one call: the jobs'
# fields travel as one JSON text, so the client packs one argument instead of ~25 per job.
CREATE_MANY = _PUBLISH + """
local jobs = cjson.decode(ARGV[4])
for i, job in ipairs(jobs) do
  local job_key, events_key = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('HSET', job_key, unpack(job[1]))
  redis.call('EXPIRE', job_key, ARGV[2])
  publish(job_key, events_key, ARGV[1], ARGV[2], 'job.queued', '', '', ARGV[3], job[2])
end
return #jobs
"""

# KEYS: job, events, lease, state keys...
# ARGV: maxlen, ttl, worker_id ('' = no fencing), event type, ts, data, [hash field, value]...
# Ends a job: status and terminal event together, every key gets the post-job TTL. The lease
# stays: the worker frees it (RELEASE_LEASE) once the job's trace row is written, so a worker
# that dies in between leaves a lapsed lease on an ended job, and a reaper writes the row.
FINISH = _PUBLISH + """
if ARGV[3] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[3] then
  return redis.error_reply('LEASE_LOST')
end
if #ARGV > 6 then redis.call('HSET', KEYS[1], unpack(ARGV, 7)) end
local id = publish(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[4], '', '', ARGV[5], ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[2])
for i = 4, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
return id
"""

# KEYS: job, events
# ARGV: maxlen, ttl, ts, data
# Returns 'now_cancelled' (was queued or waiting for input: no worker runs it, so this call
# cancels it: unfinished steps become cancelled, open questions close), 'requested' (running:
# the worker will stop it), the terminal status when already finished, or 'MISSING'.
REQUEST_CANCEL = _PUBLISH + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'MISSING' end
if status == 'succeeded' or status == 'failed' or status == 'cancelled' then return status end
if status == 'queued' or status == 'waiting' then
  local fields = redis.call('HGETALL', KEYS[1])
  for i = 1, #fields, 2 do
    local f, v = fields[i], fields[i + 1]
    if string.sub(f, 1, 2) == 'q:' then
      redis.call('HDEL', KEYS[1], f)
    elseif string.sub(f, 1, 2) == 's:' and string.sub(f, -7) == ':status'
        and (v == 'pending' or v == 'waiting' or v == 'running') then
      redis.call('HSET', KEYS[1], f, 'cancelled')
    end
  end
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', ARGV[3], 'cancel', '1')
  publish(KEYS[1], KEYS[2], ARGV[1], ARGV[2], 'job.cancelled', '', '', ARGV[3], ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 'now_cancelled'
end
redis.call('HSET', KEYS[1], 'cancel', '1')
return 'requested'
"""

# KEYS: job, events
# ARGV: maxlen, ttl, step, index, answer, ts, data, question field, answer field
# Stores the answer to a waiting job's open question, closes the question, and queues the job.
ANSWER = _PUBLISH + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'MISSING' end
if status ~= 'waiting' then return 'NOT_WAITING' end
local q = redis.call('HGET', KEYS[1], ARGV[8])
if not q or cjson.decode(q)['index'] ~= tonumber(ARGV[4]) then return 'NO_QUESTION' end
redis.call('HSET', KEYS[1], ARGV[9], ARGV[5], 'status', 'queued')
redis.call('HDEL', KEYS[1], ARGV[8])
publish(KEYS[1], KEYS[2], ARGV[1], ARGV[2], 'job.queued', ARGV[3], '', ARGV[6], ARGV[7])
return 'OK'
"""

# KEYS: job, events
# ARGV: maxlen, ttl, ts, data, arq_job_id, [step status fields to reset]...
# Queues a failed or cancelled job again; its checkpoints stay, so finished steps do not re-run.
# Returns 'OK', 'MISSING', or the status that forbids it.
RETRY = _PUBLISH + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'MISSING' end
if status ~= 'failed' and status ~= 'cancelled' then return status end
redis.call('HDEL', KEYS[1], 'error', 'result', 'finished_at', 'cancel')
redis.call('HSET', KEYS[1], 'status', 'queued', 'arq_job_id', ARGV[5])
for i = 6, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], 'pending') end
publish(KEYS[1], KEYS[2], ARGV[1], ARGV[2], 'job.queued', '', '', ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 'OK'
"""

# KEYS: lease, leases, job
# ARGV: worker_id, ttl_ms, deadline_ms, job_id
# Returns 'OK', 'HELD' (another live worker), 'MISSING', or the job's status when it is ended or
# waiting for input (a waiting job runs again only once its answer queues it).
ACQUIRE_LEASE = """
local status = redis.call('HGET', KEYS[3], 'status')
if not status then return 'MISSING' end
if status == 'succeeded' or status == 'failed' or status == 'cancelled' or status == 'waiting' then
  return status
end
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return 'HELD' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 'OK'
"""

# KEYS: lease, leases, job
# ARGV: worker_id, ttl_ms, deadline_ms, job_id
# A worker's first call for a job: ACQUIRE_LEASE and the job hash in one round trip.
# Returns {answer, HGETALL reply}; the answer is ACQUIRE_LEASE's.
PICKUP = """
local h = redis.call('HGETALL', KEYS[3])
if #h == 0 then return {'MISSING', h} end
local status = redis.call('HGET', KEYS[3], 'status')
if status == 'succeeded' or status == 'failed' or status == 'cancelled' or status == 'waiting' then
  return {status, h}
end
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return {'HELD', h} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return {'OK', h}
"""

# KEYS: lease, leases, job, [slots]
# ARGV: worker_id, ttl_ms, deadline_ms, job_id
# Returns 'LOST', 'CANCEL' (renewed; a cancel was requested) or 'OK'. A concurrency slot held
# by the job is renewed with the lease.
RENEW_LEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'LOST' end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
if #KEYS >= 4 then redis.call('ZADD', KEYS[4], 'XX', ARGV[3], ARGV[4]) end
if redis.call('HGET', KEYS[3], 'cancel') == '1' then return 'CANCEL' end
return 'OK'
"""

# KEYS: slots
# ARGV: job_id, now_ms, deadline_ms, limit
# Takes one of ``limit`` slots (a semaphore whose members expire at their deadline, so a dead
# worker's slot frees itself); returns 1, or 0 when all are taken by live jobs.
ACQUIRE_SLOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
"""

# KEYS: lease, leases
# ARGV: worker_id, job_id
# A worker that lost the lease must not unindex the job: the new owner may die before its first
# heartbeat, and only the index lets another worker find the job again.
RELEASE_LEASE = """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then redis.call('DEL', KEYS[1]) end
if owner == ARGV[1] or not owner then redis.call('ZREM', KEYS[2], ARGV[2]) end
return 1
"""

# KEYS: lease, leases, job
# ARGV: job_id, now_ms, claim_until_ms, own worker id ('' = none)
# Claims a job whose lease lapsed, or whose lease this (restarted) worker id still holds: pushes
# its deadline out so other reapers skip it, frees the lease, and returns {1, arq_job_id} for a
# job to resume or {2, ''} for an ended job whose trace row may be unwritten. Returns {0, ''}
# when the lease is alive or the job needs nothing (it then leaves the index).
CLAIM_LAPSED = """
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score then return {0, ''} end
local owner = redis.call('GET', KEYS[1])
local own = ARGV[4] ~= '' and owner == ARGV[4]
if not own and (tonumber(score) > tonumber(ARGV[2]) or owner) then return {0, ''} end
local status = redis.call('HGET', KEYS[3], 'status')
local ended = status == 'succeeded' or status == 'failed' or status == 'cancelled'
if status ~= 'running' and status ~= 'queued' and not ended then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return {0, ''}
end
if own then redis.call('DEL', KEYS[1]) end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if ended then return {2, ''} end
return {1, redis.call('HGET', KEYS[3], 'arq_job_id') or ''}
"""

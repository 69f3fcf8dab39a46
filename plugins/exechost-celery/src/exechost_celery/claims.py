"""Claims: one Redis key per attempt that decides, atomically, whether its command may run.

A worker claims an attempt (its Celery task id) just before running the command; a restarted
host that cannot find an attempt claims it too, as *abandoned*, before running the task again
under a new attempt id. Whoever sets the key first wins (``SET NX``), so:

* a message delivered twice (published again, or redelivered after a worker died) runs once: the
  second delivery finds the key and is not run;
* an attempt a restarted host gave up on never runs later, even if its message was still in the
  broker (or in a worker's prefetch) when the host looked: the worker finds the host's claim.

The key lives beside the task's result key in the result backend (``<result key>:claim``) and
expires with results (Celery's ``result_expires``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from celery import states
from celery.backends.redis import RedisBackend

CLAIM_SUFFIX = ":claim"
ABANDONED = "abandoned"
"""The ``by`` of a claim set by a restarted host for an attempt it runs again instead."""
WORKER = "worker"
"""The ``by`` of a claim set by the worker that runs the attempt."""
ABANDON_BATCH = 1000
"""Attempts abandoned per script call, so that Redis is never blocked long."""

# KEYS[1] the claim key, KEYS[2] the result key; ARGV[1] the claim, ARGV[2] the STARTED result,
# ARGV[3] the time to live in seconds (0: none). Returns the claim that was there, or nil when
# this one was set, together with the STARTED result, in one step.
_CLAIM_AND_START = """
local found = redis.call('GET', KEYS[1])
if found then return found end
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[2], ARGV[2])
end
return false
"""

# KEYS the claim keys; ARGV[1] the claim, ARGV[2] the time to live (0: none). Returns, for each
# key, the claim that was there, or false when ARGV[1] was set.
_ABANDON = """
local ttl = tonumber(ARGV[2])
local found = {}
for i, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if current then
    found[i] = current
  else
    if ttl > 0 then
      redis.call('SET', key, ARGV[1], 'EX', ttl)
    else
      redis.call('SET', key, ARGV[1])
    end
    found[i] = false
  end
end
return found
"""


def claim_key(backend: RedisBackend, task_id: str) -> bytes:
    """The Redis key of the attempt's claim."""
    key: bytes = backend.get_key_for_task(task_id, CLAIM_SUFFIX)
    return key


def _ttl(backend: RedisBackend) -> int:
    expires = backend.expires
    return int(expires) if expires else 0


def claim_to_run(
    backend: RedisBackend, task_id: str, started: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """Claim the attempt for this worker and record it ``STARTED`` with ``started``, atomically.

    :returns: ``None`` when the claim is this worker's (run the command), else the claim found
        (do not run it): another worker's, or a restarted host's that abandoned the attempt.
    """
    claim = {"by": WORKER, "hostname": started.get("hostname"), "pid": os.getpid()}
    # the result as Celery's own store_result writes it, so that AsyncResult and the host read it
    result = {
        "status": states.STARTED,
        "result": dict(started),
        "traceback": None,
        "children": [],
        "date_done": None,
        "task_id": task_id,
    }
    script = backend.client.register_script(_CLAIM_AND_START)
    keys = [claim_key(backend, task_id), backend.get_key_for_task(task_id)]
    found = script(keys=keys, args=[json.dumps(claim), backend.encode(result), _ttl(backend)])
    return None if found is None else read_claim(found)


def abandon(backend: RedisBackend, task_ids: Sequence[str]) -> list[Mapping[str, Any] | None]:
    """Claim every unclaimed attempt as abandoned, so that no worker ever runs it.

    :returns: for each attempt, the claim that was already there, or ``None`` when the attempt
        is now abandoned.
    """
    claim = json.dumps({"by": ABANDONED, "at": time.time(), "pid": os.getpid()})
    script = backend.client.register_script(_ABANDON)
    found = []
    for start in range(0, len(task_ids), ABANDON_BATCH):
        keys = [claim_key(backend, task_id) for task_id in task_ids[start : start + ABANDON_BATCH]]
        found += script(keys=keys, args=[claim, _ttl(backend)])
    return [None if value is None else read_claim(value) for value in found]


def read_claim(value: bytes | str) -> Mapping[str, Any]:
    """A claim as stored; an unreadable one counts as another's claim (never run twice)."""
    try:
        claim = json.loads(value)
    except ValueError:
        claim = None
    return claim if isinstance(claim, dict) else {"by": "unknown"}


def describe(claim: Mapping[str, Any]) -> str:
    """Why a claimed attempt is not run again, for logs and task errors."""
    if claim.get("by") == ABANDONED:
        return "the attempt was abandoned by a restarted host, which runs the task again"
    if claim.get("by") == WORKER:
        return f"the attempt was claimed already by worker {claim.get('hostname')!r}"
    return "the attempt was claimed already"

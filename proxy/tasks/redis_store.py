"""The Redis task store: tasks shared by every proxy replica that points at one Redis.

Key layout, each key under `f"{key_prefix}:"` (P below) so deployments can share a Redis:

    P:secret                     string  32 random bytes: owner hashes and stream tickets
    P:task:{id}                  hash    data (the JSON record), version, status, owner
    P:task:{id}:events           list    JSON snapshot of the task after each change
    P:owner:{owner}              zset    the owner's task ids, all scored 0 (ordered by id)
    P:owner:{owner}:unsettled    string  how many of the owner's tasks are still unsettled
    P:unsettled                  set     ids of every pending or running task
    P:replica:{replica}          string  "1" while that replica's lease is current (PX ttl)

Every write of a task runs as one Lua script, so the compare-and-set on `version`, the
event snapshot, the settled-task expiry and the indexes never disagree. A settled task's
record and events expire after `retention`; its owner index lives as long as the
longest-lived task in it (persistent while the owner has unsettled tasks) and entries of
expired tasks are also dropped lazily when listing. Task ids grow with creation time, so
listing newest first walks the owner index by descending id (like the in-memory store),
and a page marker that has expired meanwhile still places the next page. The keys of one
script are not in one hash slot: Redis Cluster is not supported.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from nhn_proxy.tasks.model import Task, TaskStatus
from nhn_proxy.tasks.store import TaskStoreUnavailable, cancel_requested

P = ParamSpec("P")
R = TypeVar("R")

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from nhn_proxy.settings import TaskSettings

SECRET_BYTES = 32
SECRET_RECHECK = 30.0  # seconds a replica trusts its copy of the secret before re-reading it
CHANGE_POLL_INTERVAL = 0.15  # seconds between two looks at a task's version
READY_TIMEOUT = 1.0  # seconds /readyz waits for PING
SOCKET_TIMEOUT = 5.0
SOCKET_CONNECT_TIMEOUT = 2.0

# Shared by both scripts, once one of the owner's tasks has settled: count one unsettled task
# less (when it was counted) and, once none is left, let the owner index expire with its
# longest-lived task (a settled task never lives longer than `retention` ms from now).
_SETTLE_OWNER = """
local function settle_owner(owner_index, owner_unsettled, retention, counted)
  local left = 0
  if counted then
    left = redis.call('DECR', owner_unsettled)
  else
    left = tonumber(redis.call('GET', owner_unsettled) or '0')
  end
  if left <= 0 then
    redis.call('DEL', owner_unsettled)
    local ttl = redis.call('PTTL', owner_index)
    if ttl == -1 or ttl < tonumber(retention) then
      redis.call('PEXPIRE', owner_index, retention)
    end
  end
end
"""

# KEYS: task, events, owner index, owner unsettled, unsettled
# ARGV: retention ms, id, version, status, data, "1" when settled, owner
_CREATE = (
    _SETTLE_OWNER
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'data', ARGV[5], 'version', ARGV[3], 'status', ARGV[4],
           'owner', ARGV[7])
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
if ARGV[6] == '1' then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
  settle_owner(KEYS[3], KEYS[4], ARGV[1], false)
else
  redis.call('SADD', KEYS[5], ARGV[2])
  redis.call('INCR', KEYS[4])
  redis.call('PERSIST', KEYS[3])
end
return 1
"""
)

# KEYS: task, events, owner index, owner unsettled, unsettled
# ARGV: retention ms, id, version, status, data, "1" when settled, owner, expected version
# Returns 1 when stored, 0 when refused, -1 when the owner would change.
_REPLACE = (
    _SETTLE_OWNER
    + f"""
local stored = redis.call('HMGET', KEYS[1], 'version', 'status', 'owner')
if not stored[1] or tonumber(stored[1]) ~= tonumber(ARGV[8]) then
  return 0
end
if stored[2] ~= '{TaskStatus.PENDING}' and stored[2] ~= '{TaskStatus.RUNNING}' then
  return 0
end
if stored[3] ~= ARGV[7] then
  return -1
end
redis.call('HSET', KEYS[1], 'data', ARGV[5], 'version', ARGV[3], 'status', ARGV[4])
redis.call('RPUSH', KEYS[2], ARGV[5])
if ARGV[6] == '1' then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
  redis.call('SREM', KEYS[5], ARGV[2])
  settle_owner(KEYS[3], KEYS[4], ARGV[1], true)
end
return 1
"""
)


def _reachable(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Redis being down is the store being unavailable (503), not a bug of the proxy (500)."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except TaskStoreUnavailable:
            raise
        except Exception as exc:
            if isinstance(exc, OSError | TimeoutError) or type(exc).__module__.startswith("redis"):
                raise TaskStoreUnavailable(
                    f"task store not reachable ({type(exc).__name__})"
                ) from None
            raise

    return wrapper


class RedisTaskStore:
    """`TaskStore` on Redis (redis-py's asyncio client), for several replicas."""

    def __init__(self, task_settings: TaskSettings) -> None:
        self._settings = task_settings
        self._prefix = f"{task_settings.key_prefix}:"
        self._client: Redis | None = None
        self._secret: bytes | None = None
        self._secret_checked = 0.0

    # -- keys -------------------------------------------------------------------------------

    def _task_key(self, task_id: str) -> str:
        return f"{self._prefix}task:{task_id}"

    def _events_key(self, task_id: str) -> str:
        return f"{self._prefix}task:{task_id}:events"

    def _owner_key(self, owner: str) -> str:
        return f"{self._prefix}owner:{owner}"

    def _owner_unsettled_key(self, owner: str) -> str:
        return f"{self._prefix}owner:{owner}:unsettled"

    def _replica_key(self, replica: str) -> str:
        return f"{self._prefix}replica:{replica}"

    @property
    def _unsettled_key(self) -> str:
        return f"{self._prefix}unsettled"

    @property
    def _redis(self) -> Redis:
        if self._client is None:
            raise RuntimeError("RedisTaskStore used before start()")
        return self._client

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the connection pool; connections open on first use, so an unreachable
        Redis does not stop the app from starting (readiness reports it instead)."""
        from redis.asyncio import from_url  # imported only when Redis is configured

        self._client = from_url(
            self._settings.redis_url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_CONNECT_TIMEOUT,
        )
        self._create_script = self._client.register_script(_CREATE)
        self._replace_script = self._client.register_script(_REPLACE)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ready(self) -> bool:
        if self._client is None:
            return False
        try:
            return bool(await asyncio.wait_for(self._client.ping(), READY_TIMEOUT))
        except Exception:  # any failure to answer means "not ready", never an error
            return False

    @_reachable
    async def secret(self) -> bytes:
        """The first replica's random secret wins (SET NX); the others read it. A copy is
        re-checked every SECRET_RECHECK seconds and, should Redis have lost the key (a
        restart without persistence), offered back so replicas keep agreeing."""
        now = time.monotonic()
        if self._secret is not None and now - self._secret_checked < SECRET_RECHECK:
            return self._secret
        key = f"{self._prefix}secret"
        candidate = self._secret or os.urandom(SECRET_BYTES)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, candidate, nx=True)
            pipe.get(key)
            _, stored = await pipe.execute()
        self._secret, self._secret_checked = bytes(stored), now
        return self._secret

    # -- tasks ------------------------------------------------------------------------------

    def _write_keys(self, task: Task) -> list[str]:
        """The keys both write scripts (create, replace) touch, in their KEYS order."""
        return [
            self._task_key(task.id),
            self._events_key(task.id),
            self._owner_key(task.owner),
            self._owner_unsettled_key(task.owner),
            self._unsettled_key,
        ]

    def _write_args(self, task: Task) -> list[Any]:
        return [
            max(1, round(self._settings.retention * 1000)),
            task.id,
            task.version,
            str(task.status),
            json.dumps(task.to_record(), separators=(",", ":")),
            "1" if task.status.settled else "0",
            task.owner,
        ]

    @_reachable
    async def create(self, task: Task) -> None:
        if not await self._create_script(keys=self._write_keys(task), args=self._write_args(task)):
            raise ValueError(f"task {task.id} exists already")

    @_reachable
    async def get(self, task_id: str) -> Task | None:
        data = await self._redis.hget(self._task_key(task_id), "data")
        return _task(data)

    @_reachable
    async def replace(self, task: Task, expected_version: int) -> bool:
        if task.version <= expected_version:
            raise ValueError("a replacement must keep the owner and raise the version")
        args = [*self._write_args(task), expected_version]
        stored = await self._replace_script(keys=self._write_keys(task), args=args)
        if stored == -1:
            raise ValueError("a replacement must keep the owner and raise the version")
        return stored == 1

    @_reachable
    async def list_for_owner(self, owner: str, limit: int, after: str | None) -> list[Task]:
        index = self._owner_key(owner)
        below = b"+" if after is None else b"(" + after.encode()
        tasks: list[Task] = []
        while len(tasks) < limit:
            members = await self._redis.zrevrangebylex(
                index, below, b"-", start=0, num=limit - len(tasks)
            )
            if not members:
                break
            ids = [member.decode() for member in members]
            async with self._redis.pipeline(transaction=False) as pipe:
                for task_id in ids:
                    pipe.hget(self._task_key(task_id), "data")
                records = await pipe.execute()
            expired = []
            for task_id, data in zip(ids, records, strict=True):
                task = _task(data)
                if task is None:
                    expired.append(task_id)
                elif task.owner == owner:
                    tasks.append(task)
            if expired:
                await self._redis.zrem(index, *expired)
            below = b"(" + members[-1]
        return tasks

    @_reachable
    async def events(self, task_id: str, after_version: int) -> list[Task]:
        records = await self._redis.lrange(self._events_key(task_id), 0, -1)
        snapshots = [task for task in map(_task, records) if task is not None]
        return [task for task in snapshots if task.version > after_version]

    @_reachable
    async def wait_for_change(self, task_id: str, version: int, timeout: float) -> None:
        """Polls the stored version: works across processes without a pub/sub connection
        per waiting stream. Returns at once when the task is unknown or expired."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        key = self._task_key(task_id)
        while not cancel_requested():
            current = await self._redis.hget(key, "version")
            if current is None or int(current) > version:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(CHANGE_POLL_INTERVAL, remaining))
        raise asyncio.CancelledError

    @_reachable
    async def unsettled(self) -> list[Task]:
        members = await self._redis.smembers(self._unsettled_key)
        ids = sorted(task_id.decode() for task_id in members)
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.hget(self._task_key(task_id), "data")
            records = await pipe.execute()
        tasks, gone = [], []
        for task_id, data in zip(ids, records, strict=True):
            task = _task(data)
            if task is None or task.status.settled:  # only if a key was deleted by hand
                gone.append(task_id)
            else:
                tasks.append(task)
        if gone:
            await self._redis.srem(self._unsettled_key, *gone)
        return tasks

    # -- replica leases ---------------------------------------------------------------------

    @_reachable
    async def heartbeat(self, replica: str, ttl: float) -> None:
        await self._redis.set(self._replica_key(replica), 1, px=max(1, round(ttl * 1000)))

    @_reachable
    async def alive(self, replica: str) -> bool:
        return bool(await self._redis.exists(self._replica_key(replica)))


def _task(data: bytes | None) -> Task | None:
    return None if data is None else Task.from_record(json.loads(data))

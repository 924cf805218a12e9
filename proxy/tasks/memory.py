"""`MemoryTaskStore`: the task store of a single proxy process (the default, no Redis).

Tasks are kept as JSON text, one snapshot per version, exactly what a shared store would
hold — so nothing but the public fields, the owner hash and bookkeeping is ever stored.
Memory stays bounded: a settled task and its snapshots are dropped `retention` seconds
after it settled, checked on every access and by the manager's sweeper (`unsettled()`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from nhn_proxy.settings import TaskSettings
from nhn_proxy.tasks.model import Task

Clock = Callable[[], float]


class MemoryTaskStore:
    """Tasks in this process's memory; the `TaskStore` protocol of `proxy.tasks.store`.

    `clock` is monotonic (leases and expiry never jump with the wall clock); tests pass
    their own to move time.
    """

    def __init__(self, settings: TaskSettings, *, clock: Clock = time.monotonic) -> None:
        self._retention = settings.retention
        self._clock = clock
        # a fresh key per process: owner hashes and tickets only need to agree within it
        self._secret = secrets.token_bytes(32)
        self._snapshots: dict[str, list[str]] = {}  # task id → JSON records, oldest first
        self._by_owner: dict[str, set[str]] = {}
        # settled task id → when it expires; settling happens in time order and retention
        # is fixed, so the oldest expiry is always first
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._leases: dict[str, float] = {}  # replica → end of its lease
        self._changed = asyncio.Condition()

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Wake every stream waiting for a change so it can notice the shutdown."""
        async with self._changed:
            self._changed.notify_all()

    async def ready(self) -> bool:
        return True

    async def secret(self) -> bytes:
        return self._secret

    # -- tasks ------------------------------------------------------------------------------

    async def create(self, task: Task) -> None:
        self._drop_expired()
        if task.id in self._snapshots:
            raise ValueError(f"task {task.id} exists already")
        self._snapshots[task.id] = [_dump(task)]
        self._by_owner.setdefault(task.owner, set()).add(task.id)
        if task.status.settled:
            self._expiry[task.id] = self._clock() + self._retention
        await self._notify()

    async def get(self, task_id: str) -> Task | None:
        self._drop_expired()
        snapshots = self._snapshots.get(task_id)
        return _load(snapshots[-1]) if snapshots else None

    async def replace(self, task: Task, expected_version: int) -> bool:
        self._drop_expired()
        snapshots = self._snapshots.get(task.id)
        if not snapshots:
            return False
        current = _load(snapshots[-1])
        if current.version != expected_version or current.status.settled:
            return False
        if task.version <= expected_version or task.owner != current.owner:
            raise ValueError("a replacement must keep the owner and raise the version")
        snapshots.append(_dump(task))
        if task.status.settled:
            self._expiry[task.id] = self._clock() + self._retention
        await self._notify()
        return True

    async def list_for_owner(self, owner: str, limit: int, after: str | None) -> list[Task]:
        self._drop_expired()
        # task ids grow with creation time, so descending id order is newest first; a
        # marker that has expired meanwhile still places the page correctly
        ids = sorted(self._by_owner.get(owner, ()), reverse=True)
        if after is not None:
            ids = [task_id for task_id in ids if task_id < after]
        return [_load(self._snapshots[task_id][-1]) for task_id in ids[: max(limit, 0)]]

    async def events(self, task_id: str, after_version: int) -> list[Task]:
        self._drop_expired()
        tasks = (_load(text) for text in self._snapshots.get(task_id, ()))
        return [task for task in tasks if task.version > after_version]

    async def wait_for_change(self, task_id: str, version: int, timeout: float) -> None:
        def changed() -> bool:
            snapshots = self._snapshots.get(task_id)
            # a task that is gone will not change any more: nothing to wait for
            return not snapshots or _version(snapshots[-1]) > version

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(changed)

    async def unsettled(self) -> list[Task]:
        self._drop_expired()
        tasks = (_load(snapshots[-1]) for snapshots in self._snapshots.values())
        return [task for task in tasks if not task.status.settled]

    # -- replicas ---------------------------------------------------------------------------

    async def heartbeat(self, replica: str, ttl: float) -> None:
        self._leases[replica] = self._clock() + ttl

    async def alive(self, replica: str) -> bool:
        return self._leases.get(replica, float("-inf")) > self._clock()

    # -- bookkeeping --------------------------------------------------------------------------

    def _drop_expired(self) -> None:
        now = self._clock()
        while self._expiry:
            task_id, expires = next(iter(self._expiry.items()))
            if expires > now:
                break
            del self._expiry[task_id]
            snapshots = self._snapshots.pop(task_id, None)
            if snapshots:
                owner = _load(snapshots[-1]).owner
                owned = self._by_owner.get(owner)
                if owned is not None:
                    owned.discard(task_id)
                    if not owned:
                        del self._by_owner[owner]
        for replica in [name for name, until in self._leases.items() if until <= now]:
            del self._leases[replica]

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # for tests: every record as stored
    def records(self) -> list[str]:
        return [text for snapshots in self._snapshots.values() for text in snapshots]


def _dump(task: Task) -> str:
    return json.dumps(task.to_record(), ensure_ascii=False, sort_keys=True)


def _load(text: str) -> Task:
    return Task.from_record(json.loads(text))


def _version(text: str) -> int:
    return int(json.loads(text)["version"])

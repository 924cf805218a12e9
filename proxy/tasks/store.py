"""The one small interface every task store implements (in memory, Redis)."""

from __future__ import annotations

import asyncio
from typing import Protocol

from nhn_proxy.errors import ProxyError
from nhn_proxy.tasks.model import Task


class TaskStoreUnavailable(ProxyError):
    """The store cannot be reached (Redis down): the caller gets 503, not a 500."""

    status = 503


def cancel_requested() -> bool:
    """True when the current task was asked to stop — even if a library swallowed the
    CancelledError on the way (redis-py's use of `asyncio.wait_for`, CPython gh-86296)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class TaskStore(Protocol):
    """Where tasks live. Implementations: `MemoryTaskStore`, `RedisTaskStore`.

    Writes of an unsettled task's state are compare-and-set on `version` so that a sweeper
    marking a task `interrupted` and a late owner update cannot both win.
    """

    async def start(self) -> None:
        """Open connections; called once with the app."""

    async def close(self) -> None:
        """Release connections; called once when the app stops."""

    async def ready(self) -> bool:
        """True when the store can be used now (Redis reachable)."""

    async def secret(self) -> bytes:
        """The key of the owner hashes and stream tickets, shared by all replicas."""

    async def create(self, task: Task) -> None:
        """Store a new task."""

    async def get(self, task_id: str) -> Task | None:
        """The task, or None when unknown or expired."""

    async def replace(self, task: Task, expected_version: int) -> bool:
        """Store `task` if the stored one still has `expected_version` and is unsettled."""

    async def list_for_owner(self, owner: str, limit: int, after: str | None) -> list[Task]:
        """The owner's tasks, newest first, starting after task id `after`."""

    async def events(self, task_id: str, after_version: int) -> list[Task]:
        """Snapshots of the task for each change with version > `after_version`, oldest first."""

    async def wait_for_change(self, task_id: str, version: int, timeout: float) -> None:
        """Return when the task's version exceeds `version`, or after `timeout` seconds."""

    async def unsettled(self) -> list[Task]:
        """Every task still pending or running (for the interrupted-task sweeper)."""

    async def heartbeat(self, replica: str, ttl: float) -> None:
        """Renew this replica's lease for `ttl` seconds."""

    async def alive(self, replica: str) -> bool:
        """Whether that replica's lease is current."""

"""`TaskManager`: runs long-running operations as tasks a browser can follow (design §4).

A route whose operation has a watcher and a caller who prefers `respond-async` get a task
instead of the synchronous answer. The manager then, in the background of this process:

    pending: the plugin's handler makes the upstream call ──ProxyError──► failed
       │ NHN accepted it; the watcher names the resource
       ▼
    running: the watcher looks at it, with backoff ──► succeeded / failed
       └── tasks.deadline after creation, whatever the state ──► timed_out

The caller's token lives only in the `Call` held by that background job, and is dropped
with it when the task settles; the store sees an owner hash, never the token. Each
process is a replica with a lease it renews; a sweeper marks the unsettled tasks of dead
replicas `interrupted`, and a replica that stops gracefully interrupts its own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import logging
import random
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from nhn_proxy.answers import RawJson, Reply, Stream
from nhn_proxy.call import Call
from nhn_proxy.errors import ProxyError, UpstreamError, error_body
from nhn_proxy.operations import PollState, Watcher
from nhn_proxy.routing import API_PREFIX, Handler
from nhn_proxy.settings import Settings, TaskSettings
from nhn_proxy.tasks.memory import MemoryTaskStore
from nhn_proxy.tasks.model import Task, TaskStatus
from nhn_proxy.tasks.store import TaskStore, cancel_requested

logger = logging.getLogger("nhn_proxy.tasks")

TASKS_PATH = f"{API_PREFIX}/tasks/"
STOP_WAIT = 2.0  # seconds stop() waits for its cancelled heartbeat and sweeper loops
BACKOFF = 1.5  # each pause between two looks is this much longer than the one before
JITTER = 0.1  # ±10 %, so that tasks started together do not poll NHN in lock-step
KEEP_ALIVE = 15.0  # seconds between two `: keep-alive` comments of an idle event stream
# poll errors that end a task at once; any other upstream error is retried until the deadline
FINAL_POLL_STATUSES = frozenset({401, 403, 404})
INTERRUPTED = "the proxy replica running this task stopped"


def make_store(settings: Settings) -> TaskStore:
    """The task store the settings ask for: in memory, or Redis when `tasks.redis_url` is set."""
    if not settings.tasks.redis_url:
        return MemoryTaskStore(settings.tasks)
    from nhn_proxy.tasks.redis_store import RedisTaskStore  # redis is imported only when used

    return RedisTaskStore(settings.tasks)


_id_lock = threading.Lock()
_last_id_time = 0


def new_task_id() -> str:
    """32 hex digits whose order is the order of creation (microseconds, then randomness),
    so that a store can list newest first by sorting ids."""
    global _last_id_time
    with _id_lock:
        now = max(time.time_ns() // 1000, _last_id_time + 1)
        _last_id_time = now
    return f"{now:014x}{secrets.token_hex(9)}"


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TaskTaken(Exception):
    """Someone else (a sweeper) changed the task first: this job has nothing more to do."""


@dataclasses.dataclass(eq=False)
class _Job:
    """One running task of this replica. Holds the only reference to the caller's `Call`."""

    task: Task
    watcher: Watcher
    handler: Handler
    call: Call | None


class TaskManager:
    """Creates tasks, runs them, and keeps this replica's lease and the sweeper going."""

    def __init__(
        self,
        store: TaskStore,
        settings: TaskSettings,
        watchers: Mapping[str, Watcher],
        *,
        replica: str | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.settings = settings
        self.watchers = dict(watchers)
        self.replica = replica or uuid.uuid4().hex
        self.keep_alive = KEEP_ALIVE
        self._clock = clock  # wall clock: deadlines and ticket expiry are shared by replicas
        self._random = rng or random.Random()
        self._sleep = sleep  # between two looks at a resource
        self._held: set[str] = set()  # ids of the tasks this replica is working on
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._closing = asyncio.Event()

    # -- life cycle -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any = None) -> AsyncIterator[None]:
        """For `app.cleanup_ctx`: start with the app, stop gracefully with it."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        """Take the lease, sweep once at once (tasks of a replica that died while this one
        was down), then keep both going in the background."""
        self._closing.clear()
        await self._guarded("heartbeat", self._heartbeat)
        await self._guarded("sweep", self.sweep)
        self._loops = [
            asyncio.create_task(
                self._every(self.settings.lease_ttl / 3, "heartbeat", self._heartbeat)
            ),
            asyncio.create_task(self._every(self.settings.sweep_interval, "sweep", self.sweep)),
        ]

    async def on_shutdown(self, _app: Any = None) -> None:
        """For `app.on_shutdown`: end open event streams before the server waits for them."""
        self._closing.set()

    async def stop(self) -> None:
        """Stop the lease and the sweeper, cancel the running jobs and mark their tasks
        `interrupted` (their tokens are gone with this process; nobody can resume them)."""
        self._closing.set()
        loops, self._loops = self._loops, []
        for loop in loops:
            loop.cancel()
        # bounded: a loop whose cancellation a library lost must not hold the shutdown
        if loops:
            await asyncio.wait(loops, timeout=STOP_WAIT)
        held = set(self._held)
        jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        for task_id in held:
            with contextlib.suppress(Exception):
                task = await self.store.get(task_id)
                if task is not None and task.replica == self.replica:
                    await self.interrupt(task)
        self._held.clear()

    @property
    def closing(self) -> asyncio.Event:
        return self._closing

    def running(self) -> set[str]:
        """Ids of the tasks this replica is running now."""
        return set(self._held)

    # -- ownership and tickets -------------------------------------------------------------

    async def owner(self, token: str | None, tenant: str | None) -> str:
        """The keyed hash that stands for the caller; the store never sees the token."""
        message = f"{token or ''}\n{tenant or ''}".encode()
        return hmac.new(await self.store.secret(), message, hashlib.sha256).hexdigest()

    async def visible(self, task_id: str, owner: str) -> Task | None:
        """The task if `owner` created it; None also when it exists for someone else."""
        task = await self.store.get(task_id)
        if task is None or not hmac.compare_digest(task.owner, owner):
            return None
        return task

    async def ticket(self, task: Task) -> str:
        """A stream ticket: lets a browser's EventSource (which cannot send headers) follow
        this one task until `tasks.retention` seconds from now."""
        expires = int(self._clock() + self.settings.retention)
        return f"{await self._sign(task.id, task.owner, expires)}.{expires}"

    async def task_for_ticket(self, task_id: str, ticket: str) -> Task | None:
        """The task if `ticket` was issued for it and has not expired, else None."""
        signature, _, expires_text = ticket.rpartition(".")
        if not signature or not expires_text.isascii() or not expires_text.isdigit():
            return None
        if len(expires_text) > 12 or int(expires_text) < self._clock():
            return None
        task = await self.store.get(task_id)
        if task is None:
            return None
        expected = await self._sign(task.id, task.owner, int(expires_text))
        return task if hmac.compare_digest(expected, signature) else None

    async def _sign(self, task_id: str, owner: str, expires: int) -> str:
        message = f"{task_id}:{owner}:{expires}".encode()
        digest = hmac.new(await self.store.secret(), message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    async def public(self, task: Task) -> dict[str, Any]:
        """The task as answered: its public fields and an `events_url` with a ticket."""
        events_url = f"{TASKS_PATH}{task.id}/events?ticket={await self.ticket(task)}"
        return {**task.public(), "events_url": events_url}

    # -- creating and running tasks ---------------------------------------------------------

    async def submit(
        self, operation: str, handler: Handler, call: Call, tenant: str | None = None
    ) -> Task:
        """Store a new pending task and start working on it in the background: `handler`
        makes the call, the operation's watcher follows what it answered."""
        if self._closing.is_set():
            raise ProxyError("the proxy is shutting down; try again", status=503)
        watcher = self.watchers[operation]
        now = self._clock()
        stamp = iso_time(now)
        task = Task(
            id=new_task_id(),
            operation=operation,
            status=TaskStatus.PENDING,
            owner=await self.owner(call.ctx.token, tenant),
            replica=self.replica,
            created_at=stamp,
            updated_at=stamp,
            deadline=now + self.settings.deadline,
        )
        self._held.add(task.id)  # before the store has it, so our sweeper leaves it alone
        try:
            await self.store.create(task)
        except BaseException:
            self._held.discard(task.id)
            raise
        job = _Job(task, watcher, handler, call)
        self._jobs[task.id] = asyncio.create_task(self._run(job), name=f"nhn-proxy-task-{task.id}")
        return task

    async def _run(self, job: _Job) -> None:
        task_id = job.task.id
        try:
            remaining = max(job.task.deadline - self._clock(), 0.0)
            try:
                async with asyncio.timeout(remaining) as scope:
                    await self._follow(job)
            except TimeoutError:
                if not scope.expired():
                    raise
                await self._settle(
                    job,
                    TaskStatus.TIMED_OUT,
                    error=error_body(
                        504, f"the operation did not settle within {self.settings.deadline:g} s"
                    ),
                )
        except TaskTaken:
            logger.info("task taken over by another replica", extra={"fields": {"task": task_id}})
        except asyncio.CancelledError:
            raise  # stop() marks the task interrupted
        except Exception:
            logger.exception(
                "task failed with an internal error", extra={"fields": {"task": task_id}}
            )
            with contextlib.suppress(Exception):
                await self._settle(job, TaskStatus.FAILED, error=error_body(500, "internal error"))
        finally:
            job.call = None  # the token goes with it
            self._jobs.pop(task_id, None)
            self._held.discard(task_id)

    async def _follow(self, job: _Job) -> None:
        assert job.call is not None
        try:
            answer = await job.handler(job.call)
        except ProxyError as exc:
            await self._settle(job, TaskStatus.FAILED, error=error_body(exc.status, exc.message))
            return
        payload = answer
        if isinstance(answer, Reply):
            payload = answer.payload
            if answer.status is not None and answer.status >= 400:  # answered, not raised
                message = payload.get("error") if isinstance(payload, dict) else None
                error = error_body(answer.status, str(message or "the operation failed"))
                await self._settle(job, TaskStatus.FAILED, error=error)
                return
        if isinstance(payload, Stream | RawJson):
            raise TypeError(f"{job.task.operation}: a task's handler must answer data")
        watcher = job.watcher
        resource_id = str(watcher.resource_id(job.call, payload))
        # running = NHN has accepted the call and the resource is known: one event per status
        await self._change(
            job,
            status=TaskStatus.RUNNING,
            resource={"type": watcher.resource_type, "id": resource_id},
        )
        delay = self.settings.poll_initial
        while True:
            await self._sleep(delay * self._random.uniform(1 - JITTER, 1 + JITTER))
            delay = min(delay * BACKOFF, self.settings.poll_max)
            try:
                poll = await watcher.poll(job.call, resource_id)
            except UpstreamError as exc:
                if exc.status not in FINAL_POLL_STATUSES:
                    logger.info(
                        "watching failed, trying again",
                        extra={"fields": {"task": job.task.id, "status": exc.status}},
                    )
                    continue
                await self._settle(
                    job, TaskStatus.FAILED, error=error_body(exc.status, exc.message)
                )
                return
            except ProxyError as exc:
                await self._settle(
                    job, TaskStatus.FAILED, error=error_body(exc.status, exc.message)
                )
                return
            if poll.state is PollState.SUCCEEDED:
                await self._settle(job, TaskStatus.SUCCEEDED, result=poll.result)
                return
            if poll.state is PollState.FAILED:
                message = poll.message or f"the {watcher.resource_type} failed"
                await self._settle(job, TaskStatus.FAILED, error=error_body(502, message))
                return

    async def _change(self, job: _Job, **changes: Any) -> None:
        """Write the next version of the job's task; TaskTaken when someone else did first."""
        current = job.task
        updated = dataclasses.replace(
            current, **changes, version=current.version + 1, updated_at=iso_time(self._clock())
        )
        if not await self.store.replace(updated, current.version):
            raise TaskTaken(current.id)
        job.task = updated

    async def _settle(self, job: _Job, status: TaskStatus, **changes: Any) -> None:
        """Like `_change`, but if our last write was cut short (e.g. by the deadline) the
        version is read back so the final state still gets written."""
        try:
            await self._change(job, status=status, **changes)
        except TaskTaken:
            stored = await self.store.get(job.task.id)
            if stored is None or stored.status.settled or stored.replica != self.replica:
                raise
            job.task = stored
            await self._change(job, status=status, **changes)

    # -- replicas ---------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        await self.store.heartbeat(self.replica, self.settings.lease_ttl)

    async def sweep(self) -> int:
        """Mark `interrupted` every unsettled task whose replica is gone (and any of ours no
        job is running any more); returns how many."""
        alive: dict[str, bool] = {}
        count = 0
        for task in await self.store.unsettled():
            if task.replica == self.replica:
                if task.id in self._held:
                    continue
            else:
                if task.replica not in alive:
                    alive[task.replica] = await self.store.alive(task.replica)
                if alive[task.replica]:
                    continue
            if await self.interrupt(task):
                count += 1
        return count

    async def interrupt(self, task: Task) -> bool:
        """Mark an unsettled task `interrupted` unless it changed meanwhile."""
        updated = dataclasses.replace(
            task,
            status=TaskStatus.INTERRUPTED,
            error=error_body(503, INTERRUPTED),
            version=task.version + 1,
            updated_at=iso_time(self._clock()),
        )
        done = await self.store.replace(updated, task.version)
        if done:
            logger.warning(
                "task interrupted", extra={"fields": {"task": task.id, "replica": task.replica}}
            )
        return done

    async def _every(self, interval: float, what: str, action: Callable[[], Any]) -> None:
        while not cancel_requested():
            await asyncio.sleep(interval)
            await self._guarded(what, action)
        raise asyncio.CancelledError

    async def _guarded(self, what: str, action: Callable[[], Any]) -> None:
        """Run one heartbeat or sweep; a store that is down is logged, not fatal."""
        try:
            await action()
        except Exception as exc:
            logger.warning(
                "task %s failed: %s: %s",
                what,
                type(exc).__name__,
                exc,
                extra={"fields": {"replica": self.replica}},
            )

"""One contract for every `TaskStore`: the same tests run on the in-memory and the Redis store.

Each test gets `first` and `second`, two replicas' views of one store: two clients of one
Redis (with a key prefix of its own), or the same object for the in-memory store. Task ids
grow with creation time, as the task manager makes them: both stores list by id.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import from_url

from nhn_proxy.settings import TaskSettings
from nhn_proxy.tasks.model import Task, TaskStatus
from nhn_proxy.tasks.redis_store import RedisTaskStore
from nhn_proxy.tasks.store import TaskStore
from tests.redis_server import RedisServer, free_port

OWNER = "a" * 64
OTHER_OWNER = "b" * 64
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_created = 0


def make_task(owner: str = OWNER, status: TaskStatus = TaskStatus.PENDING) -> Task:
    """A new task, created one second after the previous one (and so with a greater id)."""
    global _created
    _created += 1
    stamp = (EPOCH + timedelta(seconds=_created)).isoformat().replace("+00:00", "Z")
    return Task(
        id=f"{_created:012x}{uuid.uuid4().hex[12:]}",
        operation="instance.create",
        status=status,
        owner=owner,
        replica="replica-1",
        created_at=stamp,
        updated_at=stamp,
        resource={"type": "instance", "id": uuid.uuid4().hex},
        deadline=time.time() + 3600,
        extra={"note": "ünïcode ok"},
    )


def changed(task: Task, status: TaskStatus, **fields) -> Task:
    """The next version of `task`."""
    return replace(task, status=status, version=task.version + 1, **fields)


@dataclass
class Stores:
    first: TaskStore
    second: TaskStore


OpenStores = Callable[..., Awaitable[Stores]]


@pytest.fixture(params=["memory", "redis"])
async def open_stores(request: pytest.FixtureRequest) -> AsyncIterator[OpenStores]:
    """Opens `Stores` of the parametrized kind with the given settings; closes them after."""
    if request.param == "memory":
        memory = pytest.importorskip(
            "nhn_proxy.tasks.memory", reason="memory store not written yet"
        )
        redis_url = ""
    else:
        redis_url = request.getfixturevalue("redis_server")
    opened: list[TaskStore] = []

    async def open_(retention: float = 60) -> Stores:
        settings = TaskSettings(
            redis_url=redis_url, key_prefix=f"test-{uuid.uuid4().hex}", retention=retention
        )
        if request.param == "memory":
            store = memory.MemoryTaskStore(settings)
            await store.start()
            opened.append(store)
            return Stores(store, store)
        first, second = RedisTaskStore(settings), RedisTaskStore(settings)
        for store in (first, second):
            await store.start()
            opened.append(store)
        return Stores(first, second)

    yield open_
    for store in opened:
        await store.close()


@pytest.fixture
async def stores(open_stores: OpenStores) -> Stores:
    return await open_stores()


async def test_create_and_get(stores: Stores) -> None:
    task = make_task()
    await stores.first.create(task)
    assert await stores.second.get(task.id) == task
    assert await stores.second.get(uuid.uuid4().hex) is None


async def test_replace_is_compare_and_set_on_version(stores: Stores) -> None:
    task = make_task()
    await stores.first.create(task)
    running = changed(task, TaskStatus.RUNNING)
    assert await stores.second.replace(running, expected_version=0)
    stale = changed(task, TaskStatus.INTERRUPTED)
    assert not await stores.first.replace(stale, expected_version=0)
    assert await stores.first.get(task.id) == running
    unknown = changed(make_task(), TaskStatus.RUNNING)
    assert not await stores.first.replace(unknown, expected_version=0)


async def test_only_one_of_two_concurrent_replaces_wins(stores: Stores) -> None:
    task = make_task()
    await stores.first.create(task)
    outcomes = await asyncio.gather(
        stores.first.replace(changed(task, TaskStatus.SUCCEEDED), expected_version=0),
        stores.second.replace(changed(task, TaskStatus.INTERRUPTED), expected_version=0),
    )
    assert sorted(outcomes) == [False, True]
    winner = TaskStatus.SUCCEEDED if outcomes[0] else TaskStatus.INTERRUPTED
    assert (await stores.second.get(task.id)).status == winner


async def test_a_settled_task_is_never_replaced(stores: Stores) -> None:
    task = make_task()
    await stores.first.create(task)
    done = changed(task, TaskStatus.SUCCEEDED, result={"id": "server-1"})
    assert await stores.first.replace(done, expected_version=0)
    late = changed(done, TaskStatus.INTERRUPTED)
    assert not await stores.second.replace(late, expected_version=done.version)
    assert await stores.second.get(task.id) == done


async def test_list_for_owner_newest_first_with_a_cursor(stores: Stores) -> None:
    mine = []
    for _ in range(5):
        mine.append(make_task())
        await stores.first.create(mine[-1])
        await stores.first.create(make_task(OTHER_OWNER))
    newest_first = [task.id for task in reversed(mine)]

    async def page(after: str | None, limit: int = 2) -> list[str]:
        return [task.id for task in await stores.second.list_for_owner(OWNER, limit, after)]

    assert await page(None, limit=100) == newest_first
    assert await page(None) == newest_first[:2]
    assert await page(newest_first[1]) == newest_first[2:4]
    assert await page(newest_first[3]) == newest_first[4:]
    assert await page(newest_first[4]) == []
    assert await stores.first.list_for_owner("c" * 64, 10, None) == []


async def test_an_expired_page_marker_still_places_the_next_page(
    open_stores: OpenStores,
) -> None:
    stores = await open_stores(retention=0.5)
    older, marker = make_task(), make_task()
    await stores.first.create(older)
    await stores.first.create(marker)
    assert await stores.second.list_for_owner(OWNER, 1, None) == [marker]
    assert await stores.first.replace(changed(marker, TaskStatus.SUCCEEDED), 0)
    await asyncio.sleep(0.8)
    assert await stores.second.list_for_owner(OWNER, 1, marker.id) == [older]


async def test_other_owners_tasks_are_never_listed(stores: Stores) -> None:
    mine, theirs = make_task(), make_task(OTHER_OWNER)
    await stores.first.create(mine)
    await stores.first.create(theirs)
    assert await stores.second.list_for_owner(OWNER, 10, None) == [mine]
    assert await stores.second.list_for_owner(OTHER_OWNER, 10, None) == [theirs]


async def test_events_are_the_snapshots_after_a_version(stores: Stores) -> None:
    task = make_task()
    await stores.first.create(task)
    running = changed(task, TaskStatus.RUNNING)
    await stores.first.replace(running, expected_version=task.version)
    done = changed(running, TaskStatus.SUCCEEDED, result={"id": "server-1"})
    await stores.first.replace(done, expected_version=running.version)

    assert await stores.second.events(task.id, -1) == [task, running, done]
    assert await stores.second.events(task.id, task.version) == [running, done]
    assert await stores.second.events(task.id, done.version) == []
    assert await stores.second.events(uuid.uuid4().hex, -1) == []


async def test_wait_for_change_wakes_on_a_change_by_another_replica(stores: Stores) -> None:
    task = make_task()
    await stores.first.create(task)

    async def change_later() -> None:
        await asyncio.sleep(0.3)
        assert await stores.second.replace(changed(task, TaskStatus.RUNNING), task.version)

    started = time.monotonic()
    changer = asyncio.create_task(change_later())
    await stores.first.wait_for_change(task.id, task.version, timeout=5)
    waited = time.monotonic() - started
    await changer
    assert 0.25 < waited < 1.5
    assert (await stores.first.get(task.id)).version == task.version + 1


async def test_wait_for_change_returns_at_once_or_after_the_timeout(stores: Stores) -> None:
    task = make_task()
    await stores.first.create(task)
    started = time.monotonic()
    await stores.first.wait_for_change(task.id, task.version - 1, timeout=5)
    assert time.monotonic() - started < 0.5  # already newer
    started = time.monotonic()
    await stores.first.wait_for_change(task.id, task.version, timeout=0.3)
    assert 0.25 < time.monotonic() - started < 1.0
    started = time.monotonic()
    await stores.first.wait_for_change(uuid.uuid4().hex, 0, timeout=5)
    assert time.monotonic() - started < 0.5  # unknown: nothing to wait for


async def test_secret_is_shared_and_stable(stores: Stores) -> None:
    secret = await stores.first.secret()
    assert isinstance(secret, bytes) and len(secret) >= 32
    assert await stores.second.secret() == secret
    assert await stores.first.secret() == secret


async def test_unsettled_lists_pending_and_running_tasks(stores: Stores) -> None:
    pending, running, done = make_task(), make_task(OTHER_OWNER), make_task()
    for task in (pending, running, done):
        await stores.first.create(task)
    await stores.first.replace(changed(running, TaskStatus.RUNNING), 0)
    await stores.first.replace(changed(done, TaskStatus.FAILED, error={"error": "x"}), 0)
    assert {task.id for task in await stores.second.unsettled()} == {pending.id, running.id}
    await stores.first.replace(changed(pending, TaskStatus.TIMED_OUT), 0)
    assert [task.id for task in await stores.second.unsettled()] == [running.id]


async def test_settled_tasks_expire_after_the_retention(open_stores: OpenStores) -> None:
    stores = await open_stores(retention=0.5)
    unsettled, done = make_task(), make_task()
    await stores.first.create(unsettled)
    await stores.first.create(done)
    assert await stores.first.replace(changed(done, TaskStatus.SUCCEEDED), 0)
    assert await stores.second.get(done.id) is not None
    await asyncio.sleep(0.8)
    assert await stores.second.get(done.id) is None
    assert await stores.second.events(done.id, -1) == []
    assert await stores.second.list_for_owner(OWNER, 10, None) == [unsettled]
    assert await stores.second.get(unsettled.id) == unsettled  # unsettled: never expires
    assert [task.id for task in await stores.second.unsettled()] == [unsettled.id]


async def test_replica_leases(stores: Stores) -> None:
    await stores.first.heartbeat("replica-a", 0.3)
    assert await stores.second.alive("replica-a")
    assert not await stores.second.alive("replica-b")
    await asyncio.sleep(0.5)
    assert not await stores.second.alive("replica-a")
    await stores.first.heartbeat("replica-a", 5)
    assert await stores.second.alive("replica-a")


async def test_ready(stores: Stores) -> None:
    assert await stores.first.ready()


async def test_misuse_is_refused_loudly(stores: Stores) -> None:
    task = make_task()
    await stores.first.create(task)
    with pytest.raises(ValueError, match="exists already"):
        await stores.second.create(task)
    same_version = replace(task, status=TaskStatus.RUNNING)
    with pytest.raises(ValueError, match="raise the version"):
        await stores.second.replace(same_version, task.version)
    other_owner = replace(changed(task, TaskStatus.RUNNING), owner=OTHER_OWNER)
    with pytest.raises(ValueError, match="keep the owner"):
        await stores.second.replace(other_owner, task.version)
    assert await stores.first.get(task.id) == task
    assert await stores.first.list_for_owner(OTHER_OWNER, 10, None) == []


# -- Redis only ------------------------------------------------------------------------------


def redis_settings(url: str, prefix: str | None = None, retention: float = 60) -> TaskSettings:
    prefix = prefix or f"test-{uuid.uuid4().hex}"
    return TaskSettings(redis_url=url, key_prefix=prefix, retention=retention)


async def started(settings: TaskSettings) -> RedisTaskStore:
    store = RedisTaskStore(settings)
    await store.start()
    return store


async def test_redis_secret_survives_replicas_and_is_per_prefix(redis_server: str) -> None:
    settings = redis_settings(redis_server)
    first = await started(settings)
    secret = await first.secret()
    await first.close()
    later = await started(settings)
    elsewhere = await started(redis_settings(redis_server))
    try:
        assert await later.secret() == secret
        assert await elsewhere.secret() != secret
    finally:
        await later.close()
        await elsewhere.close()


async def test_redis_owner_index_is_cleaned(redis_server: str) -> None:
    settings = redis_settings(redis_server, retention=0.4)
    store = await started(settings)
    redis = from_url(redis_server)
    try:
        index = f"{settings.key_prefix}:owner:{OWNER}"
        unsettled, done = make_task(), make_task()
        await store.create(unsettled)
        await store.create(done)
        await store.replace(changed(done, TaskStatus.SUCCEEDED), 0)
        await asyncio.sleep(0.6)
        assert await redis.pttl(index) == -1  # an unsettled task keeps the index alive
        assert await store.list_for_owner(OWNER, 10, None) == [unsettled]
        assert await redis.zscore(index, done.id) is None  # dropped while listing
        await store.replace(changed(unsettled, TaskStatus.FAILED), 0)
        await asyncio.sleep(0.6)
        left = {key.decode() for key in await redis.keys(f"{settings.key_prefix}:*")}
        assert left == set()
    finally:
        await store.close()
        await redis.aclose()


async def test_redis_ready_follows_the_server() -> None:
    server = RedisServer(free_port())  # nothing listens there yet
    store = RedisTaskStore(redis_settings(server.url))
    assert not await store.ready()  # not started
    await store.start()
    try:
        started_at = time.monotonic()
        assert not await store.ready()
        assert time.monotonic() - started_at < 2
        with server:
            assert await store.ready()
        assert not await store.ready()
        with server:
            assert await store.ready()
    finally:
        await store.close()

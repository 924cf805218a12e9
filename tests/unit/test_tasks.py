"""Async tasks in the core (design §4) through a throwaway plugin with its own watcher:
Prefer: respond-async, the task manager, the in-memory store, the task routes and SSE."""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import hmac
import json
import time
from typing import Any

import jsonschema
import pytest
from marshmallow import Schema, fields, validate
from openapi_spec_validator import validate as validate_openapi

from nhn_proxy.app import TASK_MANAGER, TASK_STORE, create_app
from nhn_proxy.context import NhnContext
from nhn_proxy.plugin import (
    RESOURCE_ID,
    Call,
    Header,
    Poll,
    PollState,
    ProxyError,
    Reply,
    Route,
    Watcher,
    hookimpl,
)
from nhn_proxy.plugin_manager import PluginError
from nhn_proxy.settings import load_settings
from nhn_proxy.tasks.manager import TaskManager, iso_time, new_task_id
from nhn_proxy.tasks.memory import MemoryTaskStore
from nhn_proxy.tasks.model import Task, TaskStatus
from nhn_proxy.tasks.routes import prefers_respond_async
from tests.conftest import COMPUTE_KR2, TENANT, TOKEN, compute_headers

OTHER_TOKEN = "0123456789abcdef0123456789abcdef"
OTHER_TENANT = "ffffffffffffffffffffffffffffffff"
WIDGETS_URL = f"{COMPUTE_KR2}/widgets"
WIDGET_URL = f"{WIDGETS_URL}/w-1"
CREATE = "/api/nhn/probe/widgets/create/"
ASYNC = {"Prefer": "respond-async"}
TASK_FIELDS = {
    "id",
    "operation",
    "status",
    "resource",
    "result",
    "error",
    "created_at",
    "updated_at",
    "events_url",
}
FAST_TASKS = {
    "poll_initial": 0.01,
    "poll_max": 0.02,
    "deadline": 10,
    "lease_ttl": 1.0,
    "sweep_interval": 0.05,
}


class WidgetSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(max=20))


class WidgetPlugin:
    """A throwaway plugin with two long-running operations and their watcher.

    The native widget answers `{"widget": {"id", "name", "status"}}`; BUILD is pending,
    ACTIVE succeeds, ERROR fails. While `hold` is set and not released, polls answer
    pending without asking NHN, so a test decides when the task may settle.
    """

    name = "widgets"

    def __init__(self) -> None:
        self.hold: asyncio.Event | None = None
        self.handler_bug = False

    @hookimpl
    def nhn_proxy_routes(self, config):
        needs = frozenset({Header.TOKEN, Header.REGION, Header.TENANT})
        return [
            Route(
                "POST",
                "/probe/widgets/create/",
                self.create,
                summary="Create a widget",
                tags=("probe",),
                needs=needs,
                body=WidgetSchema,
                status=201,
                operation="probe.widget.create",
                watcher=Watcher("widget", self.created_id, self.poll_created),
            ),
            Route(
                "DELETE",
                "/probe/widgets/{widget_id}/",
                self.delete,
                summary="Delete a widget",
                tags=("probe",),
                needs=needs,
                params={"widget_id": RESOURCE_ID},
                status=204,
                operation="probe.widget.delete",
                watcher=Watcher("widget", self.deleted_id, self.poll_deleted),
            ),
            Route(
                "GET",
                "/probe/plain/",
                self.plain,
                summary="No operation here",
                tags=("probe",),
                needs=frozenset(),
            ),
        ]

    async def create(self, call: Call):
        if self.handler_bug:
            raise RuntimeError("a bug in the handler")
        body = {"widget": {"name": call.body["name"]}}
        answer = await call.native("compute", "POST", "/v2/{tenant}/widgets", json=body)
        return answer.json_object()

    async def delete(self, call: Call):
        await call.native("compute", "DELETE", "/v2/{tenant}/widgets/{widget_id}", path=call.params)

    async def plain(self, call: Call):
        return Reply({"plain": True})

    def created_id(self, call: Call, answer: Any) -> str:
        return answer["widget"]["id"]

    def deleted_id(self, call: Call, answer: Any) -> str:
        assert answer is None  # a 204 has no body
        return call.params["widget_id"]

    async def _read(self, call: Call, widget_id: str) -> dict[str, Any]:
        if self.hold is not None:
            await self.hold.wait()
        template = "/v2/{tenant}/widgets/{widget_id}"
        answer = await call.native("compute", "GET", template, path={"widget_id": widget_id})
        return answer.json_object()["widget"]

    async def poll_created(self, call: Call, widget_id: str) -> Poll:
        widget = await self._read(call, widget_id)
        if widget["status"] == "ACTIVE":
            return Poll(PollState.SUCCEEDED, {"widget": widget})
        if widget["status"] == "ERROR":
            return Poll(PollState.FAILED, message=widget.get("fault") or None)
        return Poll(PollState.PENDING)

    async def poll_deleted(self, call: Call, widget_id: str) -> Poll:
        try:
            await self._read(call, widget_id)
        except ProxyError as exc:
            if exc.status == 404:
                return Poll(PollState.SUCCEEDED)
            raise
        return Poll(PollState.PENDING)


def widget(status: str = "BUILD", **more: Any) -> dict[str, Any]:
    return {"widget": {"id": "w-1", "name": "one", "status": status, **more}}


def task_settings(**tasks: Any):
    return load_settings(
        environ={},
        overrides={"tasks": {**FAST_TASKS, **tasks}, "upstream": {"retries": 0}},
    )


@pytest.fixture
def plugin() -> WidgetPlugin:
    return WidgetPlugin()


@pytest.fixture
async def make_client(aiohttp_client, nhn, plugin):
    async def make(**tasks: Any):
        return await aiohttp_client(create_app(task_settings(**tasks), extra_plugins=[plugin]))

    return make


@pytest.fixture
async def client(make_client):
    return await make_client()


def manager_of(client) -> TaskManager:
    return client.app[TASK_MANAGER]


def store_of(client) -> MemoryTaskStore:
    store = client.app[TASK_STORE]
    assert isinstance(store, MemoryTaskStore)
    return store


def owner_headers(token: str = TOKEN, tenant: str | None = TENANT) -> dict[str, str]:
    headers = {"X-NHN-Token": token}
    if tenant is not None:
        headers["X-NHN-Tenant-ID"] = tenant
    return headers


async def start(client, nhn, *, name: str = "one", **post: Any) -> dict[str, Any]:
    """POST a widget with Prefer: respond-async; returns the task of the 202 answer."""
    nhn.post(WIDGETS_URL, status=202, payload=widget(), **post)
    response = await client.post(
        CREATE, json={"name": name}, headers={**compute_headers(), **ASYNC}
    )
    assert response.status == 202, await response.text()
    return (await response.json())["task"]


async def get_task(client, task_id: str, headers: dict[str, str] | None = None):
    return await client.get(f"/api/nhn/tasks/{task_id}/", headers=headers or owner_headers())


async def settled(client, task_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """Poll the task route until the task is settled; its last state."""
    deadline = time.monotonic() + timeout
    while True:
        response = await get_task(client, task_id)
        assert response.status == 200, await response.text()
        task = (await response.json())["task"]
        if task["status"] not in ("pending", "running"):
            return task
        assert time.monotonic() < deadline, f"task did not settle: {task}"
        await asyncio.sleep(0.01)


def parse_events(text: str) -> list[dict[str, Any]]:
    """The server-sent events of a stream: id, event, parsed data (comments dropped)."""
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        fields_ = dict(line.split(": ", 1) for line in lines)
        events.append(
            {
                "id": int(fields_["id"]),
                "event": fields_["event"],
                "data": json.loads(fields_["data"]),
            }
        )
    return events


async def read_stream(client, url: str, headers: dict[str, str] | None = None):
    async with asyncio.timeout(10):
        response = await client.get(url, headers=headers or {})
        return response, await response.text()


# --- Prefer: respond-async -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["respond-async"], True),
        (["Respond-Async"], True),
        (["  respond-async  "], True),
        (["wait=10, respond-async"], True),
        (["return=minimal", "respond-async; foo=bar"], True),
        (['respond-async="yes"'], True),
        ([], False),
        ([""], False),
        (["return=minimal"], False),
        (["respond-asynchronously"], False),
        (['foo="a, respond-async", return=minimal'], False),
        (['foo="a\\", respond-async"'], False),
        (["wait=respond-async"], False),
    ],
)
def test_prefer_header_is_parsed_per_rfc_7240(values, expected):
    assert prefers_respond_async(", ".join(values)) is expected


async def test_prefer_respond_async_answers_202_with_a_task(client, nhn):
    nhn.post(WIDGETS_URL, status=202, payload=widget())
    nhn.get(WIDGET_URL, payload=widget("BUILD"))
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    response = await client.post(
        CREATE, json={"name": "one"}, headers={**compute_headers(), "Prefer": "respond-async"}
    )
    assert response.status == 202, await response.text()
    body = await response.json()
    task = body["task"]
    assert set(body) == {"task"} and set(task) == TASK_FIELDS
    assert response.headers["Location"] == f"/api/nhn/tasks/{task['id']}/"
    assert response.headers["Preference-Applied"] == "respond-async"
    assert task["operation"] == "probe.widget.create"
    assert task["status"] == "pending"
    assert task["resource"] is None and task["result"] is None and task["error"] is None
    assert task["created_at"].endswith("Z") and task["updated_at"].endswith("Z")
    assert task["events_url"].startswith(f"/api/nhn/tasks/{task['id']}/events?ticket=")

    final = await settled(client, task["id"])
    assert final["status"] == "succeeded"
    assert final["resource"] == {"type": "widget", "id": "w-1"}
    assert final["result"] == widget("ACTIVE")
    assert final["error"] is None
    # the handler's call and the polls went upstream with the caller's token
    methods = [call.method for call in nhn.calls()]
    assert methods.count("POST") == 1 and methods.count("GET") == 2
    assert all(call.headers["X-Auth-Token"] == TOKEN for call in nhn.calls())


async def test_location_is_readable_by_a_browser(client, nhn):
    nhn.post(WIDGETS_URL, status=202, payload=widget())
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    response = await client.post(
        CREATE,
        json={"name": "one"},
        headers={**compute_headers(), **ASYNC, "Origin": "http://localhost:3000"},
    )
    assert response.status == 202
    exposed = response.headers["Access-Control-Expose-Headers"].upper()
    assert "LOCATION" in exposed and "PREFERENCE-APPLIED" in exposed
    await settled(client, (await response.json())["task"]["id"])


async def test_without_prefer_the_answer_is_synchronous_as_before(client, nhn):
    nhn.post(WIDGETS_URL, status=202, payload=widget())
    response = await client.post(CREATE, json={"name": "one"}, headers=compute_headers())
    assert response.status == 201
    assert await response.json() == widget()
    assert "Preference-Applied" not in response.headers
    nhn.post(WIDGETS_URL, status=202, payload=widget())
    other = await client.post(
        CREATE, json={"name": "one"}, headers={**compute_headers(), "Prefer": "return=minimal"}
    )
    assert other.status == 201
    assert await store_of(client).unsettled() == []
    assert store_of(client).records() == []


async def test_prefer_on_a_route_without_operation_is_ignored(client):
    response = await client.get("/api/nhn/probe/plain/", headers=ASYNC)
    assert response.status == 200
    assert await response.json() == {"plain": True}
    assert "Preference-Applied" not in response.headers


@pytest.mark.parametrize(
    ("headers", "body", "status", "fragment"),
    [
        ({}, {"name": "one"}, 401, "X-NHN-Token"),
        ({"X-NHN-Token": TOKEN, "X-NHN-Region": "kr2"}, {"name": "one"}, 400, "Tenant"),
        ({**compute_headers(), "X-NHN-Region": "kr9"}, {"name": "one"}, 400, "Region"),
        (compute_headers(), {"name": "x" * 30}, 400, "name"),
        (compute_headers(), {}, 400, "name"),
        (compute_headers(), {"name": "one", "admin": True}, 400, "admin"),
    ],
)
async def test_validation_errors_stay_synchronous(client, nhn, headers, body, status, fragment):
    response = await client.post(CREATE, json=body, headers={**headers, **ASYNC})
    assert response.status == status
    answer = await response.json()
    assert answer["code"] == status and fragment.lower() in answer["error"].lower()
    assert "Preference-Applied" not in response.headers
    assert nhn.calls() == []
    assert store_of(client).records() == []


async def test_bad_path_parameter_stays_synchronous(client, nhn):
    response = await client.delete(
        "/api/nhn/probe/widgets/a%2Fb/", headers={**compute_headers(), **ASYNC}
    )
    assert response.status in (400, 404)
    assert nhn.calls() == [] and store_of(client).records() == []


# --- how a task runs -------------------------------------------------------------------------


async def test_status_sequence_is_pending_running_succeeded(client, nhn, plugin):
    plugin.hold = asyncio.Event()
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    task = await start(client, nhn)
    store = store_of(client)
    async with asyncio.timeout(5):
        while (await store.get(task["id"])).status is TaskStatus.PENDING:
            await asyncio.sleep(0.005)
    running = (await (await get_task(client, task["id"])).json())["task"]
    assert running["status"] == "running"
    assert running["resource"] == {"type": "widget", "id": "w-1"}
    assert running["result"] is None
    plugin.hold.set()
    await settled(client, task["id"])
    snapshots = await store.events(task["id"], -1)
    assert [str(s.status) for s in snapshots] == ["pending", "running", "succeeded"]
    assert [s.version for s in snapshots] == [0, 1, 2]


async def test_delete_task_follows_the_resource_until_it_is_gone(client, nhn):
    nhn.delete(WIDGET_URL, status=204)
    nhn.get(WIDGET_URL, payload=widget("DELETING"))
    nhn.get(WIDGET_URL, status=404, payload={"itemNotFound": {"code": 404, "message": "gone"}})
    response = await client.delete(
        "/api/nhn/probe/widgets/w-1", headers={**compute_headers(), **ASYNC}
    )
    assert response.status == 202
    task = (await response.json())["task"]
    assert task["operation"] == "probe.widget.delete"
    final = await settled(client, task["id"])
    assert final["status"] == "succeeded"
    assert final["resource"] == {"type": "widget", "id": "w-1"}
    assert final["result"] is None and final["error"] is None


@pytest.mark.parametrize(
    ("mock", "error"),
    [
        (
            {"status": 409, "payload": {"conflictingRequest": {"code": 409, "message": "busy"}}},
            {"error": "busy", "code": 409},
        ),
        (
            {"status": 403, "payload": {"forbidden": {"code": 403, "message": "quota"}}},
            {"error": "quota", "code": 403},
        ),
        (
            {"status": 500, "payload": {"computeFault": {"code": 500, "message": "oops"}}},
            {"error": "oops", "code": 502},
        ),
    ],
)
async def test_upstream_failure_ends_the_task_failed_with_the_normalised_error(
    client, nhn, mock, error
):
    nhn.post(WIDGETS_URL, **mock)
    response = await client.post(
        CREATE, json={"name": "one"}, headers={**compute_headers(), **ASYNC}
    )
    assert response.status == 202
    final = await settled(client, (await response.json())["task"]["id"])
    assert final["status"] == "failed"
    assert final["error"] == error
    assert final["resource"] is None and final["result"] is None
    snapshots = await store_of(client).events(final["id"], -1)
    assert [str(s.status) for s in snapshots] == ["pending", "failed"]


async def test_unreachable_upstream_fails_the_task_with_502(client, nhn):
    import aiohttp

    task = await start(client, nhn, exception=aiohttp.ClientConnectionError("refused"))
    final = await settled(client, task["id"])
    assert final["status"] == "failed" and final["error"]["code"] == 502


async def test_watcher_saying_failed_fails_the_task_with_its_message(client, nhn):
    nhn.get(WIDGET_URL, payload=widget("BUILD"))
    nhn.get(WIDGET_URL, payload=widget("ERROR", fault="No valid host was found."))
    task = await start(client, nhn)
    final = await settled(client, task["id"])
    assert final["status"] == "failed"
    assert final["error"] == {"error": "No valid host was found.", "code": 502}
    assert final["resource"] == {"type": "widget", "id": "w-1"}


async def test_watcher_failure_without_message_is_still_explained(client, nhn):
    nhn.get(WIDGET_URL, payload=widget("ERROR"))
    task = await start(client, nhn)
    final = await settled(client, task["id"])
    assert final["error"] == {"error": "the widget failed", "code": 502}


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_final_poll_errors_end_the_task(client, nhn, status):
    nhn.get(WIDGET_URL, status=status, payload={"error": {"message": f"nope {status}"}})
    task = await start(client, nhn)
    final = await settled(client, task["id"])
    assert final["status"] == "failed"
    assert final["error"] == {"error": f"nope {status}", "code": status}


async def test_other_poll_errors_are_retried(client, nhn):
    nhn.get(WIDGET_URL, status=503, body="down")
    nhn.get(WIDGET_URL, status=500, payload={"computeFault": {"message": "hiccup"}})
    nhn.get(WIDGET_URL, status=409, payload={"conflictingRequest": {"message": "busy"}})
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    task = await start(client, nhn)
    final = await settled(client, task["id"])
    assert final["status"] == "succeeded"
    assert [call.method for call in nhn.calls()].count("GET") == 4


async def test_deadline_ends_the_task_timed_out(make_client, nhn):
    client = await make_client(deadline=0.3)
    nhn.get(WIDGET_URL, payload=widget("BUILD"), repeat=True)
    task = await start(client, nhn)
    started = time.monotonic()
    final = await settled(client, task["id"])
    assert 0.2 < time.monotonic() - started < 3
    assert final["status"] == "timed_out"
    assert final["error"]["code"] == 504 and "0.3" in final["error"]["error"]
    assert final["resource"] == {"type": "widget", "id": "w-1"}
    assert manager_of(client).running() == set()


async def test_deadline_also_bounds_a_slow_upstream_call(make_client, nhn):
    client = await make_client(deadline=0.3)

    async def slow(url, **kwargs):
        await asyncio.sleep(5)

    task = await start(client, nhn, callback=slow)
    final = await settled(client, task["id"])
    assert final["status"] == "timed_out"
    assert [str(s.status) for s in await store_of(client).events(task["id"], -1)] == [
        "pending",
        "timed_out",
    ]


async def test_a_bug_in_the_handler_fails_the_task_without_details(client, plugin, caplog):
    plugin.handler_bug = True
    response = await client.post(
        CREATE, json={"name": "one"}, headers={**compute_headers(), **ASYNC}
    )
    final = await settled(client, (await response.json())["task"]["id"])
    assert final["status"] == "failed"
    assert final["error"] == {"error": "internal error", "code": 500}
    assert any("internal error" in record.getMessage() for record in caplog.records)


async def test_polls_back_off_with_jitter_up_to_poll_max(make_client, nhn, monkeypatch):
    client = await make_client(poll_initial=0.01, poll_max=0.04)
    pauses: list[float] = []

    async def recording_sleep(delay: float) -> None:
        pauses.append(delay)
        await asyncio.sleep(0)

    monkeypatch.setattr(manager_of(client), "_sleep", recording_sleep)
    for _ in range(7):
        nhn.get(WIDGET_URL, payload=widget("BUILD"))
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    task = await start(client, nhn)
    await settled(client, task["id"])
    expected = [0.01, 0.015, 0.0225, 0.03375, 0.04, 0.04, 0.04, 0.04]
    assert len(pauses) == len(expected)
    for pause, nominal in zip(pauses, expected, strict=True):
        assert nominal * 0.9 - 1e-9 <= pause <= nominal * 1.1 + 1e-9, (pauses, expected)


# --- ownership ---------------------------------------------------------------------------------


async def test_another_token_or_tenant_sees_nothing(client, nhn):
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    task = await start(client, nhn)
    await settled(client, task["id"])
    strangers = [
        owner_headers(OTHER_TOKEN),
        owner_headers(tenant=OTHER_TENANT),
        owner_headers(tenant=None),
    ]
    for headers in strangers:
        response = await get_task(client, task["id"], headers)
        assert response.status == 404
        assert await response.json() == {"error": "no such task", "code": 404}
        events = await client.get(f"/api/nhn/tasks/{task['id']}/events", headers=headers)
        assert events.status == 404
        listing = await (await client.get("/api/nhn/tasks/", headers=headers)).json()
        assert listing == {"tasks": [], "next": None}
    mine = await (await client.get("/api/nhn/tasks/", headers=owner_headers())).json()
    assert [item["id"] for item in mine["tasks"]] == [task["id"]]


async def test_task_routes_need_a_token(client, nhn):
    task = await start(client, nhn)
    for path in (
        "/api/nhn/tasks/",
        f"/api/nhn/tasks/{task['id']}/",
        f"/api/nhn/tasks/{task['id']}/events",
    ):
        response = await client.get(path, headers={"X-NHN-Tenant-ID": TENANT})
        assert response.status == 401, path
        assert (await response.json())["code"] == 401


async def test_unknown_and_malformed_task_ids(client):
    response = await get_task(client, new_task_id())
    assert response.status == 404
    for bad in ("nope", "A" * 32, "0" * 33):
        response = await get_task(client, bad)
        assert response.status in (400, 404), bad
        assert (await response.json())["code"] == response.status


async def test_task_routes_answer_with_and_without_trailing_slash(client, nhn):
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    task = await start(client, nhn)
    await settled(client, task["id"])
    for path in ("/api/nhn/tasks/", "/api/nhn/tasks"):
        assert (await client.get(path, headers=owner_headers())).status == 200
    for path in (f"/api/nhn/tasks/{task['id']}/", f"/api/nhn/tasks/{task['id']}"):
        assert (await client.get(path, headers=owner_headers())).status == 200
    for path in (f"/api/nhn/tasks/{task['id']}/events", f"/api/nhn/tasks/{task['id']}/events/"):
        response, text = await read_stream(client, path, owner_headers())
        assert (
            response.status == 200
            and parse_events(text)[-1]["data"]["task"]["status"] == "succeeded"
        )


async def test_list_is_newest_first_and_paginated(client, nhn):
    ids = []
    for number in range(5):
        nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
        ids.append((await start(client, nhn, name=f"w{number}"))["id"])
    for task_id in ids:
        await settled(client, task_id)
    newest_first = ids[::-1]
    response = await client.get("/api/nhn/tasks/", headers=owner_headers())
    body = await response.json()
    assert [task["id"] for task in body["tasks"]] == newest_first and body["next"] is None
    assert all(set(task) == TASK_FIELDS for task in body["tasks"])

    seen: list[str] = []
    url = "/api/nhn/tasks/?limit=2"
    pages = 0
    while url:
        body = await (await client.get(url, headers=owner_headers())).json()
        seen += [task["id"] for task in body["tasks"]]
        url = body["next"]
        pages += 1
        if url:
            assert url.startswith("/api/nhn/tasks/?limit=2&marker=")
    assert seen == newest_first and pages == 3


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "marker=nope", "other=1"])
async def test_list_query_is_checked(client, query):
    response = await client.get(f"/api/nhn/tasks/?{query}", headers=owner_headers())
    assert response.status == 400
    assert (await response.json())["code"] == 400


# --- tickets and the event stream ----------------------------------------------------------------


async def test_sse_stream_from_start_to_settle(client, nhn, plugin):
    plugin.hold = asyncio.Event()
    nhn.get(WIDGET_URL, payload=widget("BUILD"))
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    task = await start(client, nhn)
    async with asyncio.timeout(10):
        response = await client.get(task["events_url"])
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Request-ID"]
        # the stream is live: the first event comes while the task still runs
        first = (await response.content.readuntil(b"\n\n")).decode()
        assert (await store_of(client).get(task["id"])).status in (
            TaskStatus.PENDING,
            TaskStatus.RUNNING,
        )
        plugin.hold.set()
        rest = await response.text()
    events = parse_events(first + rest)
    statuses = [event["data"]["task"]["status"] for event in events]
    assert statuses == ["pending", "running", "succeeded"]  # one event per status change
    assert [event["id"] for event in events] == [0, 1, 2]
    assert {event["event"] for event in events} == {"task"}
    assert all(set(event["data"]) == {"task"} for event in events)
    assert all(set(event["data"]["task"]) == TASK_FIELDS for event in events)
    assert events[-1]["data"]["task"]["result"] == widget("ACTIVE")


async def test_sse_with_headers_and_reconnect_with_last_event_id(client, nhn):
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    task = await start(client, nhn)
    await settled(client, task["id"])
    url = f"/api/nhn/tasks/{task['id']}/events"
    _, text = await read_stream(client, url, owner_headers())
    assert [event["id"] for event in parse_events(text)] == [0, 1, 2]
    _, text = await read_stream(client, url, {**owner_headers(), "Last-Event-ID": "0"})
    later = parse_events(text)
    assert [event["id"] for event in later] == [1, 2]
    assert later[-1]["data"]["task"]["status"] == "succeeded"
    _, text = await read_stream(client, task["events_url"], {"Last-Event-ID": "1"})
    assert [event["id"] for event in parse_events(text)] == [2]
    # nothing left after the final event: 204 tells an EventSource to stop reconnecting
    response, text = await read_stream(client, url, {**owner_headers(), "Last-Event-ID": "2"})
    assert response.status == 204 and text == ""
    _, text = await read_stream(client, url, {**owner_headers(), "Last-Event-ID": "junk"})
    assert [event["id"] for event in parse_events(text)] == [0, 1, 2]


async def test_sse_sends_keep_alive_comments_while_nothing_changes(client, nhn, plugin):
    plugin.hold = asyncio.Event()
    manager_of(client).keep_alive = 0.05
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    task = await start(client, nhn)
    async with asyncio.timeout(10):
        response = await client.get(task["events_url"])
        chunks = b""
        while chunks.count(b": keep-alive\n\n") < 2:
            chunks += await response.content.readany()
        plugin.hold.set()
        chunks += await response.read()
    assert parse_events(chunks.decode())[-1]["data"]["task"]["status"] == "succeeded"


async def test_a_valid_ticket_streams_without_headers(client, nhn):
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    task = await start(client, nhn)
    response, text = await read_stream(client, task["events_url"])
    assert response.status == 200
    assert parse_events(text)[-1]["data"]["task"]["status"] == "succeeded"


async def test_a_ticket_opens_only_its_own_task_stream(client, nhn):
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"), repeat=True)
    first = await start(client, nhn)
    second = await start(client, nhn, name="two")
    ticket = first["events_url"].split("ticket=", 1)[1]
    signature, expires = ticket.rsplit(".", 1)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    later = str(int(expires) + 1)
    bad_tickets = [
        f"{flipped}.{expires}",  # tampered signature
        f"{signature}.{later}",  # tampered expiry
        signature,  # no expiry
        f".{expires}",
        "",
        "x" * 150,
    ]
    for bad in bad_tickets:
        response = await client.get(f"/api/nhn/tasks/{first['id']}/events?ticket={bad}")
        assert response.status == 404, bad
        assert await response.json() == {"error": "no such task", "code": 404}
    # the first task's ticket does not open the second task
    response = await client.get(f"/api/nhn/tasks/{second['id']}/events?ticket={ticket}")
    assert response.status == 404
    # a ticket does not open the task routes that need headers
    response = await client.get(f"/api/nhn/tasks/{first['id']}/?ticket={ticket}")
    assert response.status in (400, 401)
    for task in (first, second):
        await settled(client, task["id"])


async def test_an_expired_ticket_is_refused(client, nhn):
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    task = await start(client, nhn)
    await settled(client, task["id"])
    stored = await store_of(client).get(task["id"])
    secret = await store_of(client).secret()
    expires = int(time.time()) - 1
    digest = hmac.new(secret, f"{task['id']}:{stored.owner}:{expires}".encode(), hashlib.sha256)
    signature = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    response = await client.get(f"/api/nhn/tasks/{task['id']}/events?ticket={signature}.{expires}")
    assert response.status == 404
    # the same signature scheme with a future expiry works: the refusal was the expiry
    expires += 3600
    digest = hmac.new(secret, f"{task['id']}:{stored.owner}:{expires}".encode(), hashlib.sha256)
    signature = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    response, _ = await read_stream(
        client, f"/api/nhn/tasks/{task['id']}/events?ticket={signature}.{expires}"
    )
    assert response.status == 200


async def test_open_streams_end_when_the_proxy_shuts_down(aiohttp_client, nhn, plugin):
    plugin.hold = asyncio.Event()
    client = await aiohttp_client(create_app(task_settings(), extra_plugins=[plugin]))
    task = await start(client, nhn)
    async with asyncio.timeout(10):
        response = await client.get(task["events_url"])
        await response.content.readuntil(b"\n\n")
        started = time.monotonic()
        await client.server.runner.shutdown()  # on_shutdown: what a SIGTERM triggers first
        await response.read()
        assert time.monotonic() - started < 2
    await client.close()


# --- secrets, replicas, retention, readiness -----------------------------------------------------


async def test_the_store_never_holds_the_token(client, nhn):
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    first = await start(client, nhn)
    nhn.post(WIDGETS_URL, status=409, payload={"conflictingRequest": {"message": "busy"}})
    second = await client.post(CREATE, json={"name": "two"}, headers={**compute_headers(), **ASYNC})
    for task_id in (first["id"], (await second.json())["task"]["id"]):
        await settled(client, task_id)
    records = store_of(client).records()
    assert len(records) >= 4
    for record in records:
        assert TOKEN not in record
        assert json.loads(record)["owner"] != TOKEN
    assert TOKEN not in json.dumps(first)  # nor does any answer


async def test_the_call_and_its_token_are_dropped_when_the_task_settles(client, nhn):
    nhn.get(WIDGET_URL, payload=widget("BUILD"))
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    task = await start(client, nhn)
    manager = manager_of(client)
    assert manager.running() == {task["id"]}
    await settled(client, task["id"])
    async with asyncio.timeout(5):
        while manager.running() or manager._jobs:
            await asyncio.sleep(0.005)
    gc.collect()
    leftovers = [
        item
        for item in gc.get_objects()
        if isinstance(item, Call) or (isinstance(item, NhnContext) and item.token == TOKEN)
    ]
    assert leftovers == []


async def test_sweeper_interrupts_the_tasks_of_a_dead_replica(client):
    manager = manager_of(client)
    store = store_of(client)
    now = time.time()

    def task(replica: str, deadline: float = now + 60) -> Task:
        return Task(
            id=new_task_id(),
            operation="probe.widget.create",
            status=TaskStatus.RUNNING,
            owner="o" * 64,
            replica=replica,
            created_at=iso_time(now),
            updated_at=iso_time(now),
            deadline=deadline,
        )

    dead, late, alive = task("dead-replica"), task("dead-replica", now - 5), task("live-replica")
    await store.heartbeat("live-replica", 60)
    for item in (dead, late, alive):
        await store.create(item)
    async with asyncio.timeout(5):  # the sweeper loop runs every 0.05 s here
        while (await store.get(dead.id)).status is not TaskStatus.INTERRUPTED:
            await asyncio.sleep(0.01)
    for item in (dead, late):
        interrupted = await store.get(item.id)
        assert interrupted.status is TaskStatus.INTERRUPTED
        assert interrupted.error == {
            "error": "the proxy replica running this task stopped",
            "code": 503,
        }
        assert interrupted.version == item.version + 1
    assert (await store.get(alive.id)).status is TaskStatus.RUNNING
    assert await manager.sweep() == 0


async def test_start_up_sweeps_at_once(aiohttp_client, nhn, plugin):
    app = create_app(task_settings(sweep_interval=3600), extra_plugins=[plugin])
    store = app[TASK_STORE]
    now = time.time()
    orphan = Task(
        id=new_task_id(),
        operation="probe.widget.create",
        status=TaskStatus.PENDING,
        owner="o" * 64,
        replica="replica-of-a-previous-run",
        created_at=iso_time(now),
        updated_at=iso_time(now),
        deadline=now + 60,
    )
    await store.create(orphan)
    await aiohttp_client(app)
    assert (await store.get(orphan.id)).status is TaskStatus.INTERRUPTED


async def test_graceful_stop_interrupts_the_replicas_own_tasks(aiohttp_client, nhn, plugin):
    plugin.hold = asyncio.Event()
    app = create_app(task_settings(), extra_plugins=[plugin])
    client = await aiohttp_client(app)
    task = await start(client, nhn)
    store = app[TASK_STORE]
    manager = app[TASK_MANAGER]
    await client.close()
    stopped = await store.get(task["id"])
    assert stopped.status is TaskStatus.INTERRUPTED
    assert stopped.error["code"] == 503
    assert manager.running() == set() and manager._jobs == {}


async def test_a_lost_race_with_the_sweeper_ends_the_job_quietly(client, nhn, plugin):
    plugin.hold = asyncio.Event()
    task = await start(client, nhn)
    store = store_of(client)
    manager = manager_of(client)
    async with asyncio.timeout(5):
        while (await store.get(task["id"])).status is not TaskStatus.RUNNING:
            await asyncio.sleep(0.005)
    assert await manager.interrupt(await store.get(task["id"]))  # as another replica would
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    plugin.hold.set()
    async with asyncio.timeout(5):
        while manager.running():
            await asyncio.sleep(0.005)
    assert (await store.get(task["id"])).status is TaskStatus.INTERRUPTED


async def test_new_tasks_are_refused_while_shutting_down(client, nhn):
    await manager_of(client).on_shutdown()
    nhn.post(WIDGETS_URL, status=202, payload=widget())
    response = await client.post(
        CREATE, json={"name": "one"}, headers={**compute_headers(), **ASYNC}
    )
    assert response.status == 503
    assert (await response.json())["code"] == 503
    assert nhn.calls() == []


async def test_settled_tasks_expire_after_the_retention():
    now = [1000.0]
    settings = task_settings(retention=60).tasks
    store = MemoryTaskStore(settings, clock=lambda: now[0])
    stamp = iso_time(time.time())

    def make(owner: str) -> Task:
        return Task(
            id=new_task_id(),
            operation="probe.widget.create",
            status=TaskStatus.PENDING,
            owner=owner,
            replica="r",
            created_at=stamp,
            updated_at=stamp,
        )

    done, running = make("a" * 64), make("a" * 64)
    for task in (done, running):
        await store.create(task)
    finished = Task.from_record({**done.to_record(), "status": "succeeded", "version": 1})
    assert await store.replace(finished, 0)
    await store.heartbeat("r", 30)
    now[0] += 59
    assert await store.get(done.id) == finished
    now[0] += 2
    assert await store.get(done.id) is None
    assert await store.events(done.id, -1) == []
    assert await store.list_for_owner("a" * 64, 10, None) == [running]
    assert await store.get(running.id) == running  # unsettled tasks never expire
    # memory is bounded: the expired task and the dead lease are gone from every index
    assert len(store.records()) == 1
    assert store._expiry == {} and store._leases == {}
    assert set(store._by_owner) == {"a" * 64}


async def test_readyz_follows_the_task_store(client, monkeypatch):
    response = await client.get("/readyz")
    assert response.status == 200
    store = store_of(client)

    async def not_ready() -> bool:
        return False

    monkeypatch.setattr(store, "ready", not_ready)
    response = await client.get("/readyz")
    assert response.status == 503
    assert await response.json() == {"error": "task store not reachable", "code": 503}

    async def broken() -> bool:
        raise ConnectionError("redis down")

    monkeypatch.setattr(store, "ready", broken)
    assert (await client.get("/readyz")).status == 503


# --- start-up checks and the OpenAPI document ---------------------------------------------------


def test_a_route_whose_operation_has_no_watcher_fails_at_start(settings):
    class Unwatched(WidgetPlugin):
        name = "unwatched"

        @hookimpl
        def nhn_proxy_routes(self, config):
            route = super().nhn_proxy_routes(config)[0]
            return [Route(**{**route.__dict__, "watcher": None})]

    with pytest.raises(PluginError, match=r"plugin unwatched .*needs a watcher"):
        create_app(settings, extra_plugins=[Unwatched()])


def test_two_plugins_watching_one_operation_fail_at_start(settings):
    class Copycat(WidgetPlugin):
        name = "copycat"

        @hookimpl
        def nhn_proxy_routes(self, config):
            route = super().nhn_proxy_routes(config)[0]
            return [Route(**{**route.__dict__, "path": "/probe/copies/create/"})]

    with pytest.raises(PluginError, match=r"both watch probe\.widget\.create"):
        create_app(settings, extra_plugins=[WidgetPlugin(), Copycat()])


def test_a_task_route_without_a_token_fails_at_start(settings):
    class Tokenless(WidgetPlugin):
        name = "tokenless"

        @hookimpl
        def nhn_proxy_routes(self, config):
            route = super().nhn_proxy_routes(config)[0]
            return [Route(**{**route.__dict__, "needs": frozenset({Header.REGION})})]

    with pytest.raises(PluginError, match="X-NHN-Token"):
        create_app(settings, extra_plugins=[Tokenless()])


async def test_openapi_documents_prefer_202_and_the_task_routes(client):
    document = await (await client.get("/api/docs/openapi.json")).json()
    validate_openapi(document)
    paths = document["paths"]
    create = paths["/api/nhn/probe/widgets/create/"]["post"]
    prefer = next(p for p in create["parameters"] if p["name"] == "Prefer")
    assert prefer["in"] == "header" and prefer["required"] is False
    accepted = create["responses"]["202"]
    assert accepted["content"]["application/json"]["schema"]["$ref"].endswith("/TaskReply")
    assert {"Location", "Preference-Applied"} <= set(accepted["headers"])
    # a built-in operation whose route does not need the tenant documents it as optional
    nks = paths["/api/nhn/nks/clusters/create/"]["post"]
    tenant = next(p for p in nks["parameters"] if p["name"] == "X-NHN-Tenant-ID")
    assert tenant["required"] is False and "task" in tenant["description"]
    assert "202" in nks["responses"]
    plain = paths["/api/nhn/probe/plain/"]["get"]
    assert "202" not in plain["responses"]
    assert all(p["name"] != "Prefer" for p in plain.get("parameters", []))

    for path in (
        "/api/nhn/tasks/",
        "/api/nhn/tasks/{task_id}/",
        "/api/nhn/tasks/{task_id}/events/",
    ):
        assert paths[path]["get"]["tags"] == ["tasks"], path
    listing = paths["/api/nhn/tasks/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"limit", "marker", "X-NHN-Token"}
    tenant = next(p for p in listing["parameters"] if p["name"] == "X-NHN-Tenant-ID")
    assert tenant["required"] is False
    events = paths["/api/nhn/tasks/{task_id}/events/"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]
    token = next(p for p in events["parameters"] if p["name"] == "X-NHN-Token")
    assert token["required"] is False
    assert "ticket" in {p["name"] for p in events["parameters"]}
    schema = document["components"]["schemas"]["Task"]
    assert set(schema["properties"]) == TASK_FIELDS
    assert set(schema["properties"]["status"]["enum"]) == {str(s) for s in TaskStatus}


async def test_openapi_documents_each_event_of_the_stream_and_its_204(client, nhn):
    """Regression (schemathesis): the stream's `schema` is that of ONE event (OpenAPI 3.2's
    reading of text/event-stream), not `{"type": "string"}`, and the 204 after the final
    event is a documented answer."""
    document = await (await client.get("/api/docs/openapi.json")).json()
    validate_openapi(document)
    responses = document["paths"]["/api/nhn/tasks/{task_id}/events/"]["get"]["responses"]
    event_schema = responses["200"]["content"]["text/event-stream"]["schema"]
    assert event_schema["type"] == "object"
    assert set(event_schema["required"]) == {"event", "id", "data"}
    assert "204" in responses and "content" not in responses["204"]

    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    task = await start(client, nhn)
    await settled(client, task["id"])
    response, text = await read_stream(client, task["events_url"])
    assert response.status == 200
    events = [
        dict(line.split(": ", 1) for line in block.split("\n") if not line.startswith(":"))
        for block in text.strip().split("\n\n")
    ]
    assert len(events) == 3
    for event in events:  # each event as an SSE client reads it: all fields are strings
        jsonschema.validate(event, event_schema)
        assert set(json.loads(event["data"])) == {"task"}
    response, text = await read_stream(client, task["events_url"], {"Last-Event-ID": "2"})
    assert response.status == 204 and text == ""


# --- the same machinery on the Redis store --------------------------------------------------------


async def test_the_whole_flow_on_the_redis_store(aiohttp_client, nhn, plugin, redis_server):
    """Manager, routes and SSE do not depend on the store: a task on Redis runs the same,
    and no Redis key or value holds the token."""
    from redis.asyncio import from_url

    prefix = f"test-{new_task_id()}"
    settings = load_settings(
        environ={},
        overrides={
            "tasks": {**FAST_TASKS, "redis_url": redis_server, "key_prefix": prefix},
            "upstream": {"retries": 0},
        },
    )
    client = await aiohttp_client(create_app(settings, extra_plugins=[plugin]))
    assert (await client.get("/readyz")).status == 200
    nhn.get(WIDGET_URL, payload=widget("BUILD"))
    nhn.get(WIDGET_URL, payload=widget("ACTIVE"))
    task = await start(client, nhn)
    response, text = await read_stream(client, task["events_url"])
    assert response.status == 200
    events = parse_events(text)
    assert [event["data"]["task"]["status"] for event in events] == [
        "pending",
        "running",
        "succeeded",
    ]
    assert events[-1]["data"]["task"]["result"] == widget("ACTIVE")
    listing = await (await client.get("/api/nhn/tasks/", headers=owner_headers())).json()
    assert [item["id"] for item in listing["tasks"]] == [task["id"]]
    assert (await get_task(client, task["id"], owner_headers(OTHER_TOKEN))).status == 404

    redis = from_url(redis_server)
    try:
        keys = await redis.keys(f"{prefix}:*")
        assert keys
        for key in keys:
            assert TOKEN.encode() not in key
            kind = (await redis.type(key)).decode()
            if kind == "string":
                values = [await redis.get(key)]
            elif kind == "hash":
                values = list((await redis.hgetall(key)).values())
            elif kind == "list":
                values = await redis.lrange(key, 0, -1)
            elif kind == "set":
                values = list(await redis.smembers(key))
            else:
                values = await redis.zrange(key, 0, -1)
            assert all(TOKEN.encode() not in value for value in values), key
    finally:
        await redis.aclose()

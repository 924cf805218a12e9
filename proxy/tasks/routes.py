"""The task machinery's routes (design §4): the three task routes (list, get, and the
server-sent events), and the wrapper that lets every route declaring a long-running
operation answer `Prefer: respond-async` with a task.

The task routes need `X-NHN-Token` (and the `X-NHN-Tenant-ID` that started the task, if one
was sent); a task of another caller is a 404, never a 403. The event stream also accepts
the task's `events_url` ticket instead, because a browser's `EventSource` cannot send
headers. Tasks build on routing; routing knows nothing of tasks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from typing import Any

from marshmallow import Schema, fields, validate

from nhn_proxy.answers import Reply, Stream
from nhn_proxy.call import Call
from nhn_proxy.context import Header
from nhn_proxy.errors import NotFound, Unauthenticated
from nhn_proxy.operations import Watcher
from nhn_proxy.routing import ErrorSchema, Handler, PathParam, ResponseDoc, Route
from nhn_proxy.tasks.manager import TASKS_PATH, TaskManager
from nhn_proxy.tasks.model import Task, TaskStatus
from nhn_proxy.tasks.store import TaskStore

TAGS = ("tasks",)
TASK_ID_PATTERN = r"[0-9a-f]{32}"
TASK_ID = PathParam(
    TASK_ID_PATTERN,
    "a task id (32 hex digits)",
    example="000618d7a5a3c2b1f0e3d4c5b6a79801",
    max_length=32,
)
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
OWNER_HEADERS = frozenset({Header.TOKEN})
OWNER_NOTE = (
    "A task is visible only with the X-NHN-Token (and the X-NHN-Tenant-ID, when one was "
    "sent) of the request that started it; anyone else gets 404."
)


class ResourceSchema(Schema):
    type = fields.String(
        required=True, metadata={"description": "kind of resource", "example": "instance"}
    )
    id = fields.String(
        required=True,
        metadata={"description": "its id (or name, for an NKS cluster)", "example": "3a005d5b"},
    )


class TaskSchema(Schema):
    id = fields.String(required=True, metadata={"description": "task id"})
    operation = fields.String(
        required=True,
        metadata={"description": "what the task does", "example": "compute.instance.create"},
    )
    status = fields.String(
        required=True,
        validate=validate.OneOf([str(status) for status in TaskStatus]),
        metadata={
            "description": "pending and running change; succeeded, failed, timed_out and "
            "interrupted are final",
            "enum": [str(status) for status in TaskStatus],
        },
    )
    resource = fields.Nested(
        ResourceSchema,
        allow_none=True,
        metadata={"description": "the resource the task acts on, once known"},
    )
    result = fields.Raw(
        allow_none=True,
        metadata={
            "description": "the settled resource in the public shape (e.g. the instance as "
            "GET /api/nhn/compute/instances/{id}/ answers it); null while running, after a "
            "deletion or on failure"
        },
    )
    error = fields.Nested(
        ErrorSchema,
        allow_none=True,
        metadata={"description": "why it failed: the error answer the call would have had"},
    )
    created_at = fields.String(required=True, metadata={"example": "2024-05-02T03:04:05Z"})
    updated_at = fields.String(required=True, metadata={"example": "2024-05-02T03:05:10Z"})
    events_url = fields.String(
        required=True,
        metadata={
            "description": "relative URL of the task's event stream with a ticket, for a "
            "browser EventSource (which cannot send headers); keep it as secret as the token"
        },
    )


class TaskReplySchema(Schema):
    task = fields.Nested(TaskSchema, required=True)


class TaskListSchema(Schema):
    tasks = fields.List(fields.Nested(TaskSchema), required=True)
    next = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "relative URL of the next page, null on the last one"},
    )


class TaskListQuerySchema(Schema):
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": "tasks per page (1-100)"},
    )
    marker = fields.String(
        load_default=None,
        validate=validate.Regexp(f"^{TASK_ID_PATTERN}$"),
        metadata={"description": "id of the last task of the previous page"},
    )


# One event of the stream (`: keep-alive` comments are not events), as documented: OpenAPI
# 3.2 (and schemathesis) read `schema` of text/event-stream as the schema of each event.
TASK_EVENT_SCHEMA = {
    "type": "object",
    "description": "one server-sent event; `: keep-alive` comments are not events",
    "required": ["event", "id", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["task"]},
        "id": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "the task's version; an EventSource sends it back as Last-Event-ID",
        },
        "data": {
            "type": "string",
            "description": 'JSON `{"task": {...}}`: the task as GET /api/nhn/tasks/{task_id}/ '
            "answers it",
        },
    },
}


class TaskEventsQuerySchema(Schema):
    ticket = fields.String(
        load_default=None,
        validate=validate.Length(max=200),
        metadata={"description": "the ticket of the task's events_url, instead of headers"},
    )


PREFER = "Prefer"
TENANT_NOTE = (
    "; optional here. A task (Prefer: respond-async) is visible only with the same "
    "X-NHN-Token and X-NHN-Tenant-ID (sent or not) as the request that started it"
)
PREFER_PARAMETER = {
    "in": "header",
    "name": PREFER,
    "required": False,
    # no example: Swagger UI would pre-fill it and every "Try it out" would be async
    "description": "`respond-async` (RFC 7240): answer 202 at once with a task that makes "
    "the call and follows the resource until it settles; follow it at `Location` or its "
    "`events_url`. Without it the answer is synchronous.",
    "schema": {"type": "string"},
}


def prefers_respond_async(value: str | None) -> bool:
    """Whether a `Prefer` header value asks for `respond-async` (RFC 7240).

    Preferences are comma-separated, each a case-insensitive token, optionally `=value`,
    then `;`-separated parameters; quoted values may contain commas and semicolons. Every
    other preference is ignored.
    """
    for preference in _split_unquoted(value or "", ","):
        name = _split_unquoted(preference, ";")[0].split("=", 1)[0].strip()
        if name.lower() == "respond-async":
            return True
    return False


def _split_unquoted(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def operation_watchers(routes: Iterable[Route]) -> dict[str, Watcher]:
    """Each declared operation and its watcher (the manager follows tasks with them)."""
    return {
        route.operation: route.watcher
        for route in routes
        if route.operation is not None and route.watcher is not None
    }


def wrap_operations(routes: Iterable[Route], manager: TaskManager) -> list[Route]:
    """The routes, each one with a long-running operation wrapped so that it also answers
    `Prefer: respond-async` with a task (and documents it)."""
    return [_as_task_route(route, manager) if route.operation else route for route in routes]


def _as_task_route(route: Route, manager: TaskManager) -> Route:
    operation = route.operation
    assert operation is not None
    synchronous = route.handler

    async def handle(call: Call) -> Any:
        if not prefers_respond_async(call.headers.get(PREFER)):
            return await synchronous(call)
        task = await manager.submit(operation, synchronous, call, call.ctx.tenant_id)
        return Reply(
            {"task": await manager.public(task)},
            status=202,
            headers={"Location": f"{TASKS_PATH}{task.id}/", "Preference-Applied": "respond-async"},
        )

    notes = dict(route.header_notes)
    if Header.TENANT not in route.needs:
        notes[Header.TENANT] = TENANT_NOTE  # a sent tenant becomes part of the task's owner
    return replace(
        route,
        handler=handle,
        optional=route.optional | {Header.TENANT},
        request_headers=(*route.request_headers, PREFER),
        header_notes=notes,
        extra_parameters=(*route.extra_parameters, PREFER_PARAMETER),
        extra_responses={
            **route.extra_responses,
            202: ResponseDoc(
                TaskReplySchema,
                "accepted as a task (with Prefer: respond-async)",
                headers={
                    "Location": "the task, relative: /api/nhn/tasks/{id}/",
                    "Preference-Applied": "respond-async",
                },
            ),
        },
    )


def task_routes(manager: TaskManager, store: TaskStore) -> list[Route]:
    """The task routes; the core registers them whatever plugins are loaded."""

    async def owner(call: Call) -> str:
        return await manager.owner(call.ctx.token, call.ctx.tenant_id)

    async def list_tasks(call: Call) -> Any:
        limit = call.query["limit"]
        found = await store.list_for_owner(await owner(call), limit + 1, call.query["marker"])
        page = found[:limit]
        next_url = None
        if len(found) > limit:
            next_url = f"/api/nhn/tasks/?limit={limit}&marker={page[-1].id}"
        return {"tasks": [await manager.public(task) for task in page], "next": next_url}

    async def get_task(call: Call) -> Any:
        task = await manager.visible(call.params["task_id"], await owner(call))
        if task is None:
            raise NotFound("no such task")
        return {"task": await manager.public(task)}

    async def task_events(call: Call) -> Any:
        """Server-sent events: one `task` event per change after Last-Event-ID, ending with
        the settled one; `: keep-alive` comments while nothing changes."""
        task_id = call.params["task_id"]
        ticket = call.query.get("ticket")
        if ticket is not None:  # a ticket alone decides, whatever headers come with it
            task = await manager.task_for_ticket(task_id, ticket)
        elif call.ctx.token:
            task = await manager.visible(task_id, await owner(call))
        else:
            raise Unauthenticated("X-NHN-Token header (or the ticket of events_url) is required")
        if task is None:
            raise NotFound("no such task")
        version = _last_event_id(call.headers.get(LAST_EVENT_ID))
        if task.status.settled and task.version <= version:
            # nothing left to send: 204 tells an EventSource to stop reconnecting
            return Reply(status=204)
        return Stream(
            _events(manager, store, task_id, version),
            "text/event-stream; charset=utf-8",
            headers={
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # no buffering in an nginx in front
            },
        )

    return _task_routes(list_tasks, get_task, task_events)


LAST_EVENT_ID = "Last-Event-ID"


async def _events(
    manager: TaskManager, store: TaskStore, task_id: str, version: int
) -> AsyncIterator[bytes]:
    last_write = time.monotonic()
    while True:
        for snapshot in await store.events(task_id, version):
            yield await _event(manager, snapshot)
            last_write = time.monotonic()
            version = snapshot.version
            if snapshot.status.settled:
                return
        if manager.closing.is_set() or await store.get(task_id) is None:
            return
        await _wait(manager, store, task_id, version)
        if time.monotonic() - last_write >= manager.keep_alive:
            yield b": keep-alive\n\n"
            last_write = time.monotonic()


async def _event(manager: TaskManager, task: Task) -> bytes:
    data = json.dumps({"task": await manager.public(task)}, ensure_ascii=False)
    return f"id: {task.version}\nevent: task\ndata: {data}\n\n".encode()


async def _wait(manager: TaskManager, store: TaskStore, task_id: str, version: int) -> None:
    """Until the task changes, a keep-alive is due, or the proxy shuts down."""
    change = asyncio.ensure_future(store.wait_for_change(task_id, version, manager.keep_alive))
    closing = asyncio.ensure_future(manager.closing.wait())
    try:
        await asyncio.wait({change, closing}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in (change, closing):
            waiter.cancel()
        # bounded: a waiter whose cancellation a library lost must not hold the stream
        await asyncio.wait({change, closing}, timeout=1.0)


def _last_event_id(value: str | None) -> int:
    """The version the client saw last (EventSource sends it on reconnect); -1 = none, so
    the stream starts with the first snapshot (version 0)."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return -1


def _task_routes(list_tasks: Handler, get_task: Handler, task_events: Handler) -> list[Route]:
    common: dict[str, Any] = {"tags": TAGS, "plugin": "tasks"}
    return [
        Route(
            "GET",
            "/tasks/",
            list_tasks,
            summary="List your tasks",
            description="The caller's tasks, newest first, a page at a time (`next` is the "
            f"following page). {OWNER_NOTE} Settled tasks are kept for `tasks.retention` "
            "seconds (24 h by default).",
            needs=OWNER_HEADERS,
            optional=frozenset({Header.TENANT}),
            header_notes={Header.TENANT: TENANT_NOTE},
            query=TaskListQuerySchema,
            response=TaskListSchema,
            **common,
        ),
        Route(
            "GET",
            "/tasks/{task_id}/",
            get_task,
            summary="Get a task",
            description="A task started with `Prefer: respond-async` (its `Location`). "
            + OWNER_NOTE,
            needs=OWNER_HEADERS,
            optional=frozenset({Header.TENANT}),
            header_notes={Header.TENANT: TENANT_NOTE},
            params={"task_id": TASK_ID},
            response=TaskReplySchema,
            **common,
        ),
        Route(
            "GET",
            "/tasks/{task_id}/events/",
            task_events,
            summary="Follow a task (server-sent events)",
            description="`text/event-stream`: one `task` event (`id` = the task's version, "
            'data `{"task": {...}}`) for each change after `Last-Event-ID` (all of them '
            "without it), `: keep-alive` comments every 15 s, and the end of the stream "
            "after the settled event. Authenticate with the headers, or with the `ticket` of "
            "the task's `events_url` (for a browser EventSource). A reconnect after the "
            "final event is answered 204, which stops an EventSource. " + OWNER_NOTE,
            needs=frozenset(),
            optional=frozenset({Header.TOKEN, Header.TENANT}),
            header_notes={Header.TENANT: TENANT_NOTE},
            params={"task_id": TASK_ID},
            query=TaskEventsQuerySchema,
            media_type="text/event-stream",
            media_schema=TASK_EVENT_SCHEMA,
            empty_statuses=(204,),
            errors=(401,),
            request_headers=(LAST_EVENT_ID,),
            **common,
        ),
    ]

"""Object Storage: list, create and delete containers and list a container's objects through
NHN's Swift-compatible API (`/v1/{account}` on the region's object-storage endpoint).

NHN facts used (`shared/nhn-api/object-storage.md`, README §8): the account is the
`AUTH_<object storage tenant id>` of the `X-NHN-Storage-Account` header; `?format=json`
listings are JSON arrays of objects with a `name` (`application/json; charset=utf-8`), at most
10 000 per page, continued with `marker` = the last name; `PUT` of a container answers 201
when created and 202 when it already existed (passed on as the public status, design §8);
`DELETE` answers 204, 409 when the container is not empty and 404 when it is missing, with
Swift's tiny HTML bodies, which the core reduces to their text.

Container names follow NHN's rule: 1-256 bytes of UTF-8, no `/`, no spaces, no control
characters, none of ``' " ` < > ; \\``, and not `.` or `..`. A name outside that rule is a
400 before any upstream call; a legal name is percent-encoded by the core as one path segment
(`my+container@1` → `my%2Bcontainer%401`).

Choices where the docs are silent or unconfirmed:
- An empty listing may come as `204 No Content` (plain-text mode) or `200 []` (JSON mode);
  both are answered as an empty list.
- A page shorter than the limit is the last one (Swift gives no "more" flag).
- Names that look like an IP address are refused on create only (NHN's rule for new
  containers); GET/DELETE of an existing container do not second-guess its name.
- Any 2xx of the `PUT` other than 202 is answered as 201 "created".
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from nhn_proxy.plugin import (
    BadRequest,
    Call,
    Header,
    NativeAnswer,
    PathParam,
    PluginConfig,
    RawJson,
    Reply,
    Route,
    hookimpl,
    native_answer,
    swift_next_marker,
)

SERVICE = "object_storage"
PAGE_SIZE = 10_000  # Swift's maximum listing page
MAX_CONTAINER_BYTES = 256
# No '/', space, C0/C1 control characters, DEL, or any of ' " ` < > ; \ — and not '.' / '..'.
CONTAINER_PATTERN = r"""(?!\.\.?$)[^/\\\x00-\x20\x7f-\x9f'"`<>;]+"""
_CONTAINER = re.compile(CONTAINER_PATTERN)
CONTAINER_RULE = (
    "an Object Storage container name: 1-256 bytes of UTF-8 without '/', spaces, control "
    "characters or any of ' \" ` < > ; \\, and not '.' or '..'"
)
NEEDS = frozenset({Header.TOKEN, Header.REGION, Header.STORAGE_ACCOUNT})


def container_name_problem(value: str) -> str | None:
    """Why `value` is not a legal container name, or None when it is."""
    if not _CONTAINER.fullmatch(value):
        return f"must be {CONTAINER_RULE}"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates
        return "must be valid UTF-8 text"
    if size > MAX_CONTAINER_BYTES:
        return f"must be at most {MAX_CONTAINER_BYTES} bytes of UTF-8 (is {size})"
    return None


class ContainerNameParam(PathParam):
    """A PathParam that also counts UTF-8 bytes (Swift's limit is in bytes, not characters)."""

    __slots__ = ()

    def check(self, name: str, value: str) -> str:
        super().check(name, value)
        if container_name_problem(value):
            raise BadRequest(f"{name}: not a valid value ({self.description})")
        return value


CONTAINER_NAME = ContainerNameParam(
    CONTAINER_PATTERN, CONTAINER_RULE, example="my-container", max_length=MAX_CONTAINER_BYTES
)


def _validate_new_container_name(value: str) -> None:
    problem = container_name_problem(value)
    if problem:
        raise ValidationError(problem)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return
    raise ValidationError("must not look like an IP address")


# ----------------------------------------------------------------------------- schemas


class StorageContainerCreateRequestSchema(Schema):
    name = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=MAX_CONTAINER_BYTES), _validate_new_container_name],
        metadata={
            "description": f"name of the new container: {CONTAINER_RULE}, not an IP address",
            "example": "my-new-container",
        },
    )


class StorageContainerListSchema(Schema):
    containers = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "container names", "example": ["container1", "container2"]},
    )


class StorageContainerCreatedSchema(Schema):
    status = fields.Integer(
        required=True,
        metadata={
            "description": "201 when the container was created, 202 when it already existed "
            "(the HTTP status is the same)",
            "example": 201,
        },
    )
    container = fields.String(required=True, metadata={"example": "my-new-container"})


class StorageObjectListSchema(Schema):
    objects = fields.List(
        fields.String(),
        required=True,
        metadata={
            "description": "object names; `/` in a name marks a pseudo-folder",
            "example": ["file1.txt", "folder/file3.json"],
        },
    )


# ----------------------------------------------------------------------------- translation


def listing_query_to_native(marker: str | None, limit: int = PAGE_SIZE) -> dict[str, str | int]:
    """Query of one JSON listing page; `marker` is the last name of the previous page."""
    query: dict[str, str | int] = {"format": "json", "limit": limit}
    if marker is not None:
        query["marker"] = marker
    return query


@native_answer(SERVICE)
def listing_from_native(native: Any, limit: int = PAGE_SIZE) -> tuple[list[str], str | None]:
    """One Swift JSON listing page → (names, marker of the next page or None if last)."""
    if not isinstance(native, list):
        raise TypeError("a listing is not a JSON array")
    names: list[str] = []
    for item in native:
        if not isinstance(item, dict) or not isinstance(item["name"], str):
            raise TypeError("a listing entry has no name")
        names.append(item["name"])
    return names, swift_next_marker(names, limit)


def container_created_from_native(status: int, name: str) -> tuple[dict[str, Any], int]:
    """NHN's PUT status → the public answer and its status (202 = it already existed)."""
    public_status = 202 if status == 202 else 201
    return {"status": public_status, "container": name}, public_status


def _listing_body(answer: NativeAnswer) -> Any:
    """The JSON of a listing page; an empty answer (204, or no body) is an empty list."""
    if answer.status == 204 or not answer.body.strip():
        return []
    return answer.json()


async def _all_names(
    call: Call, key: str, template: str, path: dict[str, str] | None = None
) -> RawJson:
    """`{key: [every name of the listing]}`, written."""
    limit = PAGE_SIZE  # read per call: tests shrink it to exercise paging

    async def fetch(marker: str | None) -> tuple[list[str], str | None]:
        query = listing_query_to_native(marker, limit)
        answer = await call.native(SERVICE, "GET", template, path=path, query=query)
        return listing_from_native(_listing_body(answer), limit)

    return await call.listing(fetch, service=SERVICE, key=key)


# ----------------------------------------------------------------------------- handlers
# `{account}` is filled by the core from X-NHN-Storage-Account, which every route needs.


async def list_containers(call: Call) -> RawJson:
    return await _all_names(call, "containers", "/v1/{account}")


async def create_container(call: Call) -> Reply:
    name = call.body["name"]
    answer = await call.native(
        SERVICE, "PUT", "/v1/{account}/{container}", path={"container": name}, data=b""
    )
    payload, public_status = container_created_from_native(answer.status, name)
    return Reply(payload, status=public_status)


async def list_objects(call: Call) -> RawJson:
    path = {"container": call.params["container_name"]}
    return await _all_names(call, "objects", "/v1/{account}/{container}", path)


async def delete_container(call: Call) -> None:
    path = {"container": call.params["container_name"]}
    await call.native(SERVICE, "DELETE", "/v1/{account}/{container}", path=path)


@hookimpl
def nhn_proxy_routes(config: PluginConfig) -> list[Route]:
    container = {"container_name": CONTAINER_NAME}
    common: dict[str, Any] = {
        "tags": ("storage",),
        "needs": NEEDS,
        "service_name": "Object Storage",
    }
    return [
        Route(
            "GET",
            "/storage/containers/",
            list_containers,
            summary="List containers",
            description="Every container name of the storage account (NHN "
            "`GET /v1/{account}?format=json`, all pages).",
            response=StorageContainerListSchema,
            **common,
        ),
        Route(
            "POST",
            "/storage/containers/create/",
            create_container,
            summary="Create a container",
            description="NHN `PUT /v1/{account}/{container}`. Answers 201 "
            '`{"status": 201, "container": name}` when created, and 202 '
            '`{"status": 202, "container": name}` when it already existed.',
            body=StorageContainerCreateRequestSchema,
            response=StorageContainerCreatedSchema,
            status=201,
            other_statuses=(202,),
            **common,
        ),
        Route(
            "GET",
            "/storage/containers/{container_name}/",
            list_objects,
            summary="List the objects of a container",
            description="Every object name in the container (NHN "
            "`GET /v1/{account}/{container}?format=json`, all pages).",
            params=container,
            response=StorageObjectListSchema,
            **common,
        ),
        Route(
            "DELETE",
            "/storage/containers/{container_name}/",
            delete_container,
            summary="Delete an empty container",
            description="NHN `DELETE /v1/{account}/{container}`; 409 when it still holds "
            "objects, 404 when it does not exist.",
            params=container,
            status=204,
            errors=(409,),
            **common,
        ),
    ]

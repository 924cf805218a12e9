"""Object Storage: containers and their objects through NHN's Swift-compatible API
(`/v1/{account}` on the region's object-storage endpoint): list, create and delete
containers; list a container's objects (names, or details with `?detail=true`); upload,
download, inspect and delete objects, streamed both ways.

NHN facts used (`shared/nhn-api/object-storage.md`, README §8, NHN's Object Storage API
guide): the account is the `AUTH_<object storage tenant id>` of the `X-NHN-Storage-Account`
header; `?format=json` listings are JSON arrays of objects with a `name` (and, for objects,
`hash`, `bytes`, `content_type`, `last_modified`; with a `delimiter`, pseudo-folders come as
`{"subdir": ...}`), at most 10 000 per page, continued with `marker` = the last entry; `PUT`
of a container answers 201 when created and 202 when it already existed (passed on as the
public status, design §8); `DELETE` answers 204, 409 when the container is not empty and 404
when it is missing, with Swift's tiny HTML bodies, which the core reduces to their text.
Objects: `PUT` answers 201 with the MD5 in `Etag`, refuses an `ETag` that does not match
the body with 422 and anything over 5 GiB with 413 (larger objects are uploaded in
segments); `GET` answers the bytes with `Content-Type`, `Content-Length`, `Etag`,
`Last-Modified`, `Range` → 206 with `Content-Range`, `If-None-Match` → 304; `HEAD` the same
headers; `DELETE` 204. Object names are up to 1024 bytes of UTF-8 and may hold `/`.

Container names follow NHN's rule: 1-256 bytes of UTF-8, no `/`, no spaces, no control
characters, none of ``' " ` < > ; \\``, and not `.` or `..`. A name outside that rule is a
400 before any upstream call; a legal name is percent-encoded by the core as one path segment
(`my+container@1` → `my%2Bcontainer%401`). An object name is encoded segment by segment, its
slashes kept (`docs/a b.txt` → `docs/a%20b.txt`).

Choices where the docs are silent or unconfirmed:
- An empty listing may come as `204 No Content` (plain-text mode) or `200 []` (JSON mode);
  both are answered as an empty list.
- A page shorter than the limit is the last one (Swift gives no "more" flag).
- Object listings read every page unless the caller gives `limit`: then one page of at
  most `limit` entries, continued by the caller with `marker` = the last entry. Pseudo-
  folders of a `delimiter` listing are `{"prefix": "photos/"}` entries in both modes, so a
  folder never looks like an object whose name ends with the delimiter.
- Names that look like an IP address are refused on create only (NHN's rule for new
  containers); GET/DELETE of an existing container do not second-guess its name.
- Any 2xx of the `PUT` other than 202 is answered as 201 "created".
- Uploads: the client's `Content-Length` is sent on (a chunked upload is sent chunked), and
  one over `storage.max_object_size` is refused (413) before NHN is called; a chunked body
  that passes it is cut off (413) and the native transfer aborted. `Content-MD5` (base64)
  or `ETag` (hex) become Swift's `ETag`, so NHN verifies the bytes it stored; the proxy
  also checks NHN's answer against it. Without `Content-Type` the type is guessed from
  the name's extension (as Swift does), else `application/octet-stream`.
- Downloads: an object of at most 64 KiB (one streamed piece) is read before the status
  goes out, so a body NHN breaks off is still a clean 502; a larger one is streamed, and
  if NHN breaks it off the client's connection is cut (never a short body that looks
  complete). The bytes are asked for as stored (`Accept-Encoding: identity`) and passed
  with `Content-Encoding`, if the object has one. The object's own metadata
  (`X-Object-Meta-*`) and NHN's request ids are not passed on.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import mimetypes
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from nhn_proxy.plugin import (
    BadRequest,
    Call,
    Header,
    MultiSegment,
    NativeAnswer,
    NativeStream,
    PathParam,
    PayloadTooLarge,
    PluginConfig,
    RawJson,
    Reply,
    Route,
    Stream,
    UpstreamBadResponse,
    hookimpl,
    native_answer,
    swift_next_marker,
    text,
)

SERVICE = "object_storage"
PAGE_SIZE = 10_000  # Swift's maximum listing page
MAX_CONTAINER_BYTES = 256
MAX_OBJECT_BYTES = 1024  # Swift's limit of an object name, in bytes of UTF-8
# NHN's single-object limit (5 GiB); larger objects are uploaded in segments
DEFAULT_MAX_OBJECT_SIZE = 5 * 1024**3
# No '/', space, C0/C1 control characters, DEL, or any of ' " ` < > ; \ — and not '.' / '..'.
CONTAINER_PATTERN = r"""(?!\.\.?$)[^/\\\x00-\x20\x7f-\x9f'"`<>;]+"""
_CONTAINER = re.compile(CONTAINER_PATTERN)
CONTAINER_RULE = (
    "an Object Storage container name: 1-256 bytes of UTF-8 without '/', spaces, control "
    "characters or any of ' \" ` < > ; \\, and not '.' or '..'"
)
# Any text without control characters; '/' marks pseudo-folders.
OBJECT_PATTERN = r"[^\x00-\x1f\x7f]+"
_OBJECT = re.compile(OBJECT_PATTERN)
OBJECT_RULE = (
    "an object name: 1-1024 bytes of UTF-8 without control characters; '/' separates "
    "pseudo-folders (e.g. photos/2024/a.png)"
)
NEEDS = frozenset({Header.TOKEN, Header.REGION, Header.STORAGE_ACCOUNT})
OBJECT_TEMPLATE = "/v1/{account}/{container}/{object}"
# Swift's answer headers an object download or HEAD passes on (Content-Type and
# Content-Length are set from the answer itself)
OBJECT_ANSWER_HEADERS = (
    "ETag",
    "Last-Modified",
    "Accept-Ranges",
    "Content-Range",
    "Content-Encoding",  # the bytes are passed as stored, e.g. still gzip
    "Content-Disposition",
)
# a PUT answer is a few bytes of HTML; more is not read, the connection is closed instead
SMALL_ANSWER = 65536
# the guess of a type from a name uses Python's own table only, so it does not depend on
# the machine's /etc/mime.types
_TYPES = mimetypes.MimeTypes()
_MD5_HEX = re.compile(r"[0-9a-fA-F]{32}")


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


def object_name_problem(value: str) -> str | None:
    """Why `value` is not a legal object name, or None when it is."""
    if not _OBJECT.fullmatch(value):
        return f"must be {OBJECT_RULE}"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates
        return "must be valid UTF-8 text"
    if size > MAX_OBJECT_BYTES:
        return f"must be at most {MAX_OBJECT_BYTES} bytes of UTF-8 (is {size})"
    return None


class ContainerNameParam(PathParam):
    """A PathParam that also counts UTF-8 bytes (Swift's limit is in bytes, not characters)."""

    __slots__ = ()

    def check(self, name: str, value: str) -> str:
        super().check(name, value)
        if container_name_problem(value):
            raise BadRequest(f"{name}: not a valid value ({self.description})")
        return value


class ObjectNameParam(PathParam):
    """The rest of the path (greedy), counted in UTF-8 bytes as Swift counts it."""

    __slots__ = ()

    def check(self, name: str, value: str) -> str:
        super().check(name, value)
        problem = object_name_problem(value)
        if problem:
            raise BadRequest(f"{name}: {problem}")
        return value


CONTAINER_NAME = ContainerNameParam(
    CONTAINER_PATTERN, CONTAINER_RULE, example="my-container", max_length=MAX_CONTAINER_BYTES
)
OBJECT_NAME = ObjectNameParam(
    OBJECT_PATTERN,
    OBJECT_RULE,
    example="docs/hello world.txt",
    max_length=MAX_OBJECT_BYTES,
    greedy=True,
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


# ----------------------------------------------------------------------------- settings


class StorageSettingsSchema(Schema):
    """`[storage]`: the plugin's own settings, checked at start-up."""

    max_object_size = fields.Integer(
        load_default=DEFAULT_MAX_OBJECT_SIZE,
        strict=True,
        validate=validate.Range(min=1),
        metadata={
            "description": "bytes; a larger object upload is refused with 413 (NHN's "
            "single-object limit is 5 GiB; larger objects are uploaded in segments)"
        },
    )


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


_DETAIL_ENTRY = {
    "type": "object",
    "description": "an object, with `?detail=true`",
    "properties": {
        "name": {"type": "string", "example": "photos/2024/a.png"},
        "bytes": {"type": "integer", "description": "size", "example": 2048},
        "hash": {
            "type": "string",
            "description": "MD5 of the content (hex), Swift's ETag",
            "example": "9e107d9d372bb6826bd81d3542a419d6",
        },
        "content_type": {"type": "string", "example": "image/png"},
        "last_modified": {
            "type": "string",
            "description": "as NHN gives it: ISO 8601, UTC, microseconds, no zone",
            "example": "2024-01-30T08:20:04.000000",
        },
    },
    "required": ["name", "bytes", "hash", "content_type", "last_modified"],
    "additionalProperties": False,
}
_PREFIX_ENTRY = {
    "type": "object",
    "description": "a pseudo-folder of a `delimiter` listing (in both modes)",
    "properties": {"prefix": {"type": "string", "example": "photos/2024/"}},
    "required": ["prefix"],
    "additionalProperties": False,
}


class StorageObjectListSchema(Schema):
    objects = fields.List(
        fields.Raw(
            metadata={
                "oneOf": [
                    {"type": "string", "description": "an object name (the default)"},
                    _DETAIL_ENTRY,
                    _PREFIX_ENTRY,
                ]
            }
        ),
        required=True,
        metadata={
            "description": "object names (`/` in a name marks a pseudo-folder); with "
            '`?detail=true` objects `{"name", "bytes", "hash", "content_type", '
            '"last_modified"}`; with a `delimiter`, each pseudo-folder once as '
            '`{"prefix": "photos/"}`',
            "example": ["file1.txt", "folder/file3.json"],
        },
    )


class StorageObjectListQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    detail = fields.Boolean(
        truthy={"true"},
        falsy={"false"},
        load_default=False,
        metadata={"description": "answer objects with their size, MD5, type and date"},
    )
    # (no examples: Swagger UI would fill them in and filter every "Try it out")
    prefix = fields.String(
        validate=validate.Length(min=1, max=MAX_OBJECT_BYTES),
        metadata={"description": "only names starting with this, e.g. `photos/`"},
    )
    delimiter = fields.String(
        validate=validate.Length(equal=1),
        metadata={
            "description": "one character, usually `/`: names holding it after the prefix "
            'are rolled up into one `{"prefix": ...}` pseudo-folder entry'
        },
    )
    limit = fields.Integer(
        validate=validate.Range(min=1, max=PAGE_SIZE),
        metadata={
            "description": "one page of at most this many entries (continue with `marker` = "
            "the last one); without it, every page is read"
        },
    )
    marker = fields.String(
        validate=validate.Length(min=1, max=MAX_OBJECT_BYTES),
        metadata={"description": "only entries after this name (the last one of a page)"},
    )


class StorageObjectSchema(Schema):
    name = fields.String(required=True, metadata={"example": "docs/hello world.txt"})
    bytes = fields.Integer(required=True, metadata={"description": "size stored", "example": 11})
    hash = fields.String(
        required=True,
        metadata={
            "description": "MD5 of the content (hex), as NHN computed it",
            "example": "5eb63bbbe01eeed093cb22bb8f5acdc3",
        },
    )


class StorageObjectCreatedSchema(Schema):
    object = fields.Nested(StorageObjectSchema, required=True)


def _header_parameter(name: str, description: str) -> dict[str, Any]:
    # no `example`: Swagger UI would fill it in and send it with every "Try it out"
    return {
        "in": "header",
        "name": name,
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


UPLOAD_HEADERS = (
    _header_parameter(
        "Content-MD5",
        "base64 of the body's MD5 (e.g. `XrY7u+Ae7tCTyyK7j1rNww==` for `hello world`): NHN "
        "refuses (422) a body that does not match it",
    ),
    _header_parameter(
        "ETag",
        "hex MD5 of the body (e.g. `5eb63bbbe01eeed093cb22bb8f5acdc3`), Swift's way of "
        "saying the same as Content-MD5",
    ),
)
DOWNLOAD_HEADERS = (
    _header_parameter(
        "Range",
        "one byte range, e.g. `bytes=0-99` or `bytes=-100`: answered 206 with Content-Range",
    ),
    _header_parameter(
        "If-None-Match",
        "the ETag of the copy at hand: answered 304 without a body while it is current",
    ),
)


# ----------------------------------------------------------------------------- translation


def listing_query_to_native(
    marker: str | None,
    limit: int = PAGE_SIZE,
    *,
    prefix: str | None = None,
    delimiter: str | None = None,
) -> dict[str, str | int]:
    """Query of one JSON listing page; `marker` is the last entry of the previous page."""
    query: dict[str, str | int] = {"format": "json", "limit": limit}
    if prefix is not None:
        query["prefix"] = prefix
    if delimiter is not None:
        query["delimiter"] = delimiter
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


def _object_detail(item: dict[str, Any]) -> dict[str, Any]:
    size = item["bytes"]
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError("bytes is not an integer")
    return {
        "name": text(item["name"], "name"),
        "bytes": size,
        "hash": text(item["hash"], "hash"),
        "content_type": text(item["content_type"], "content_type"),
        "last_modified": text(item["last_modified"], "last_modified"),
    }


@native_answer(SERVICE)
def object_listing_from_native(
    native: Any, limit: int = PAGE_SIZE, *, detail: bool = False
) -> tuple[list[Any], str | None]:
    """One page of a container's JSON listing → (entries, marker of the next page or None
    if last). An entry is a name, or with `detail` the object's fields; a pseudo-folder of a
    `delimiter` listing (`{"subdir": ...}`) is `{"prefix": ...}` either way. The marker is
    the last entry's name or pseudo-folder (Swift continues after either)."""
    if not isinstance(native, list):
        raise TypeError("a listing is not a JSON array")
    entries: list[Any] = []
    keys: list[str] = []
    for item in native:
        if not isinstance(item, dict):
            raise TypeError("a listing entry is not an object")
        if "subdir" in item:
            folder = text(item["subdir"], "subdir")
            entries.append({"prefix": folder})
            keys.append(folder)
            continue
        name = text(item["name"], "name")
        entries.append(_object_detail(item) if detail else name)
        keys.append(name)
    return entries, swift_next_marker(keys, limit)


def container_created_from_native(status: int, name: str) -> tuple[dict[str, Any], int]:
    """NHN's PUT status → the public answer and its status (202 = it already existed)."""
    public_status = 202 if status == 202 else 201
    return {"status": public_status, "container": name}, public_status


def _digest_of(headers: Mapping[str, str]) -> str | None:
    """The hex MD5 a caller announces, from `Content-MD5` (base64, RFC 1864) or `ETag`
    (hex, quoted or not); both must agree. Anything unreadable is a 400."""
    digests = []
    content_md5 = headers.get("Content-MD5")
    if content_md5 is not None:
        try:
            raw = base64.b64decode(content_md5.strip(), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 16:
            raise BadRequest("Content-MD5: must be the base64 of a 16-byte MD5 digest")
        digests.append(raw.hex())
    etag = headers.get("ETag")
    if etag is not None:
        value = etag.strip().removeprefix('"').removesuffix('"')
        if not _MD5_HEX.fullmatch(value):
            raise BadRequest("ETag: must be the hex MD5 of the body (32 hex digits)")
        digests.append(value.lower())
    if len(set(digests)) > 1:
        raise BadRequest("Content-MD5 and ETag name different digests")
    return digests[0] if digests else None


def upload_headers_to_native(
    headers: Mapping[str, str], object_name: str, length: int | None
) -> dict[str, str]:
    """Swift's headers of an object PUT: the type (the caller's, else guessed from the name
    as Swift does), the length when the caller announced one (chunked otherwise) and the
    `ETag` Swift checks the body against (422 when it does not match)."""
    content_type = headers.get("Content-Type", "").strip()
    if not content_type:
        content_type = _TYPES.guess_type(object_name)[0] or "application/octet-stream"
    native = {"Content-Type": content_type}
    if length is not None:
        native["Content-Length"] = str(length)
    digest = _digest_of(headers)
    if digest is not None:
        native["ETag"] = digest
    return native


def object_created_from_native(
    native_headers: Mapping[str, str], name: str, size: int, expected: str | None
) -> dict[str, Any]:
    """Swift's 201 → `{"object": {name, bytes, hash}}`; its `Etag` is the MD5 it stored,
    which must be the one the caller announced, if any."""
    etag = _by_lower_name(native_headers).get("etag")
    if not etag:
        raise UpstreamBadResponse(f"{SERVICE} answered an upload without its Etag")
    digest = etag.strip().strip('"').lower()
    if expected is not None and digest != expected:
        raise UpstreamBadResponse(
            f"{SERVICE} stored a body whose MD5 ({digest}) is not the one announced ({expected})"
        )
    return {"object": {"name": name, "bytes": size, "hash": digest}}


def object_headers_from_native(native_headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of Swift's object answer a client gets (`Content-Type` and
    `Content-Length` travel with the body)."""
    found = _by_lower_name(native_headers)
    return {name: found[name.lower()] for name in OBJECT_ANSWER_HEADERS if name.lower() in found}


def _by_lower_name(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names are case-insensitive (`Etag` is Swift's spelling of `ETag`)."""
    return {name.lower(): value for name, value in headers.items()}


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


async def _read_small(stream: NativeStream) -> None:
    """Read the rest of a short answer so its connection goes back to the pool; one that
    keeps going is cut (its connection closed) instead."""
    read = 0
    chunks = stream.chunks()
    try:
        async for chunk in chunks:
            read += len(chunk)
            if read > SMALL_ANSWER:
                break
    finally:
        await chunks.aclose()
        await stream.close()


def _object_path(call: Call) -> dict[str, str]:
    return {
        "container": call.params["container_name"],
        "object": MultiSegment(call.params["object_name"]),
    }


def _conditions(call: Call) -> dict[str, str]:
    """The caller's `Range` and `If-None-Match`, as Swift reads them; the bytes are asked
    for as stored (no compression on the way), so `Content-Length` stays theirs."""
    conditions = {"Accept-Encoding": "identity"}
    conditions.update(
        (name, call.headers[name]) for name in ("Range", "If-None-Match") if name in call.headers
    )
    return conditions


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


async def list_objects(call: Call) -> RawJson | dict[str, Any]:
    """Every entry, or with `limit` one page of them (see the module's choices)."""
    path = {"container": call.params["container_name"]}
    template = "/v1/{account}/{container}"
    options = call.query
    if options.get("detail") is False and not {"prefix", "delimiter", "limit", "marker"} & set(
        options
    ):
        return await _all_names(call, "objects", template, path)
    detail = bool(options.get("detail"))
    filters = {"prefix": options.get("prefix"), "delimiter": options.get("delimiter")}

    async def fetch(marker: str | None, limit: int = PAGE_SIZE) -> tuple[list[Any], str | None]:
        query = listing_query_to_native(marker, limit, **filters)
        answer = await call.native(SERVICE, "GET", template, path=path, query=query)
        return object_listing_from_native(_listing_body(answer), limit, detail=detail)

    if "limit" in options:
        entries, _next = await fetch(options.get("marker"), options["limit"])
        return {"objects": entries}
    first_marker = options.get("marker")

    async def every_page(marker: str | None) -> tuple[list[Any], str | None]:
        return await fetch(marker if marker is not None else first_marker)

    return await call.listing(every_page, service=SERVICE, key="objects")


async def delete_container(call: Call) -> None:
    path = {"container": call.params["container_name"]}
    await call.native(SERVICE, "DELETE", "/v1/{account}/{container}", path=path)


async def put_object(call: Call) -> dict[str, Any]:
    """Stream the body to Swift as it arrives (see the module's choices)."""
    upload = call.upload
    assert upload is not None  # Route(upload=True)
    limit = call.settings["max_object_size"]
    if upload.length is not None and upload.length > limit:
        raise PayloadTooLarge(_too_large(limit))
    name = call.params["object_name"]
    headers = upload_headers_to_native(call.headers, name, upload.length)
    try:
        stream = await call.native_stream(
            SERVICE,
            "PUT",
            OBJECT_TEMPLATE,
            path=_object_path(call),
            headers=headers,
            data=upload.chunks(limit),
        )
    except PayloadTooLarge:
        raise PayloadTooLarge(_too_large(limit)) from None
    await _read_small(stream)
    return object_created_from_native(stream.headers, name, upload.received, headers.get("ETag"))


def _too_large(limit: int) -> str:
    return (
        f"the object is larger than storage.max_object_size ({limit} bytes); NHN keeps at "
        "most 5 GiB in one object: upload larger files in segments (Swift's DLO/SLO "
        "multipart upload)"
    )


async def get_object(call: Call) -> Stream | Reply:
    """The bytes, streamed as NHN sends them (206 for a range), or 304."""
    stream = await call.native_stream(
        SERVICE, "GET", OBJECT_TEMPLATE, path=_object_path(call), headers=_conditions(call)
    )
    headers = object_headers_from_native(stream.headers)
    if stream.status == 304:
        await stream.close()
        return Reply(None, status=304, headers=headers)
    length = stream.content_length
    if length is not None and length <= SMALL_ANSWER:
        # no larger than one streamed piece: read before the status is sent, so a body NHN
        # breaks off is still a clean 502 (a larger one can only be cut off mid-way)
        body = b"".join([chunk async for chunk in stream.chunks()])
        return Stream(
            _once(body),
            stream.content_type,
            status=stream.status,
            headers=headers,
            length=len(body),
        )
    return Stream(
        stream.chunks(),
        stream.content_type,
        status=stream.status,
        headers=headers,
        length=length,
        close=stream.close,
    )


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def head_object(call: Call) -> Reply:
    """The headers of a download, without the bytes."""
    condition = {"If-None-Match": call.headers["If-None-Match"]} if call.headers else None
    stream = await call.native_stream(
        SERVICE, "HEAD", OBJECT_TEMPLATE, path=_object_path(call), headers=condition
    )
    await _read_small(stream)  # a HEAD answer has no body: the connection is reused
    headers = object_headers_from_native(stream.headers)
    if stream.status != 304:
        headers["Content-Type"] = stream.content_type
        if "Content-Length" in stream.headers:
            headers["Content-Length"] = stream.headers["Content-Length"]
    return Reply(None, status=stream.status, headers=headers)


async def delete_object(call: Call) -> None:
    await call.native(SERVICE, "DELETE", OBJECT_TEMPLATE, path=_object_path(call))


@hookimpl
def nhn_proxy_settings() -> dict[str, type[Schema]]:
    return {"storage": StorageSettingsSchema}


@hookimpl
def nhn_proxy_routes(config: PluginConfig) -> list[Route]:
    container = {"container_name": CONTAINER_NAME}
    an_object = {"container_name": CONTAINER_NAME, "object_name": OBJECT_NAME}
    object_path = "/storage/containers/{container_name}/objects/{object_name}"
    common: dict[str, Any] = {
        "tags": ("storage",),
        "needs": NEEDS,
        "service_name": "Object Storage",
    }
    limit = config.section("storage").get("max_object_size", DEFAULT_MAX_OBJECT_SIZE)
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
            "`GET /v1/{account}/{container}?format=json`, all pages); with `detail=true` "
            "each object's name, bytes, hash, content_type and last_modified. `prefix`, "
            "`delimiter` and `marker` are passed to NHN; with `limit`, one page of at most "
            "that many entries is answered (continue with `marker` = its last entry).",
            params=container,
            query=StorageObjectListQuerySchema,
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
        Route(
            "PUT",
            object_path,
            put_object,
            summary="Upload an object",
            description="The request body is the object's content, streamed to NHN "
            "(`PUT /v1/{account}/{container}/{object}`) as it arrives, sized or chunked; "
            "an existing object of that name is replaced. `Content-Type` is kept (guessed "
            "from the name when not sent). `Content-MD5` or `ETag` make NHN check the "
            f"bytes (422 when they differ). Larger than {limit} bytes "
            "(`storage.max_object_size`): 413, use a segmented upload. "
            "Example: `curl -T file.bin -H 'X-NHN-Token: ...' ...`.",
            params=an_object,
            upload=True,
            request_headers=("Content-Type", "Content-MD5", "ETag"),
            extra_parameters=UPLOAD_HEADERS,
            response=StorageObjectCreatedSchema,
            status=201,
            errors=(404, 422),
            **common,
        ),
        Route(
            "GET",
            object_path,
            get_object,
            summary="Download an object",
            description="The object's bytes, streamed from NHN "
            "(`GET /v1/{account}/{container}/{object}`) with its `Content-Type`, "
            "`Content-Length`, `ETag` and `Last-Modified`. `Range: bytes=a-b` answers 206 "
            "with `Content-Range` (416 past the end); `If-None-Match: <ETag>` answers 304 "
            "while the object is unchanged.",
            params=an_object,
            request_headers=("Range", "If-None-Match"),
            extra_parameters=DOWNLOAD_HEADERS,
            # the object's own type (`Content-Type` as it was uploaded) and bytes: no schema
            media_type="*/*",
            media_schema={},
            other_statuses=(206,),
            empty_statuses=(304,),
            errors=(416,),
            **common,
        ),
        Route(
            "HEAD",
            object_path,
            head_object,
            summary="An object's headers",
            description="What a download would answer, without the bytes: `Content-Type`, "
            "`Content-Length`, `ETag`, `Last-Modified` (NHN "
            "`HEAD /v1/{account}/{container}/{object}`); 304 with `If-None-Match`.",
            params=an_object,
            request_headers=("If-None-Match",),
            extra_parameters=DOWNLOAD_HEADERS[1:],
            empty_statuses=(304,),
            **common,
        ),
        Route(
            "DELETE",
            object_path,
            delete_object,
            summary="Delete an object",
            description="NHN `DELETE /v1/{account}/{container}/{object}`; 404 when it does "
            "not exist. A segmented object's segments stay (delete them too).",
            params=an_object,
            status=204,
            **common,
        ),
    ]

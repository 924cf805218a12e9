"""Object Storage's handlers (Swift v1): account, container and object operations with
Swift's listing rules (plain text by default, JSON/XML on request, prefix/marker/end_marker/
delimiter/limit, 204 for an empty plain listing) and Swift's HTML error pages.

Objects stream both ways: a PUT body is written to the object's blob as it arrives (a
temporary file past 1 MiB) and a GET reads it back piece by piece. As Swift does, a PUT
needs `Content-Length` or chunked transfer encoding (411), refuses a body over 5 GiB (413,
announced or reached), stores nothing when the body ends early (the client disconnected
before its `Content-Length`, or a chunked body without its last chunk: Swift's 499 Client
Disconnect) and checks an `ETag` against the body's MD5 (422). A GET honours
`If-None-Match` (304) and one `bytes=` range (206 with `Content-Range`, 416 with
`bytes */size` when it starts past the end); a malformed `Range`, or several ranges, is
ignored and the whole object answered (RFC 9110 lets a server ignore Range; Swift would
answer several ranges as multipart/byteranges).

A token may only reach its own account (the app checks the scope before dispatching).
"""

from __future__ import annotations

import json
import mimetypes
import re
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape, quoteattr

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError

from nhn_proxy.emulator.base import Ctx, http_date, iso_micro
from nhn_proxy.emulator.errors import ApiError
from nhn_proxy.emulator.object_storage.models import (
    MAX_CONTAINER_NAME,
    MAX_FILE_SIZE,
    MAX_LISTING,
    MAX_OBJECT_NAME,
    READ_CHUNK,
    SPOOL_BYTES,
    Account,
    Blob,
    BlobWriter,
    Container,
    StoredObject,
)

_POLICIES = ("Standard", "Economy")
# Container settings a PUT/POST may set and GET/HEAD echo back to the owner.
_CONTAINER_HEADERS = re.compile(
    r"^x-(container-(meta-.+|read|write|view|ip-acl-.+|object-.+|rfc-compliant-etags|worm-.+)"
    r"|history-location|versions-retention|versions-location)$",
    re.IGNORECASE,
)
_BAD_CONTAINER_CHARS = set("'\"`<>; \\")
_IP_LIKE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def _account(ctx: Ctx) -> Account:
    return ctx.regional.object_storage.account(ctx.match["account"], ctx.now)


def _container_or_404(ctx: Ctx) -> Container:
    container = _account(ctx).containers.get(ctx.match["container"])
    if container is None:
        raise ApiError(404)
    return container


def _object_or_404(ctx: Ctx, container: Container) -> StoredObject:
    stored = container.live_objects(ctx.now).get(ctx.match["object"])
    if stored is None:
        raise ApiError(404)
    return stored


def _timestamp(ts: float) -> str:
    return f"{ts:016.5f}"


# -- listings -----------------------------------------------------------------------------------


def _listing_format(ctx: Ctx) -> str:
    wanted = ctx.query.get("format", "").lower()
    if wanted in ("json", "xml", "plain"):
        return wanted
    accept = ctx.request.headers.get("Accept", "").lower()
    if "application/json" in accept:
        return "json"
    if "application/xml" in accept or "text/xml" in accept:
        return "xml"
    return "plain"


def _select(ctx: Ctx, names: list[str]) -> list[tuple[str, bool]]:
    """Apply Swift's listing parameters; returns (name, is_subdir) in listing order."""
    query = ctx.query
    limit_text = query.get("limit")
    limit = MAX_LISTING
    if limit_text is not None:
        if not limit_text.isdigit():
            raise ApiError(412, body="Value of limit must be a positive integer")
        limit = int(limit_text)
        if limit > MAX_LISTING:
            raise ApiError(412, body=f"Maximum limit is {MAX_LISTING}")
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    if len(delimiter) > 1:
        raise ApiError(412, body="Bad delimiter")
    marker = query.get("marker", "")
    end_marker = query.get("end_marker", "")
    reverse = query.get("reverse", "").lower() in ("true", "1", "yes", "on")
    ordered = sorted(names, key=lambda n: n.encode(), reverse=reverse)
    result: list[tuple[str, bool]] = []
    seen_subdirs: set[str] = set()
    for name in ordered:
        encoded = name.encode()
        if prefix and not name.startswith(prefix):
            continue
        if marker and (encoded <= marker.encode() if not reverse else encoded >= marker.encode()):
            continue
        if end_marker and (
            encoded >= end_marker.encode() if not reverse else encoded <= end_marker.encode()
        ):
            continue
        if delimiter:
            cut = name.find(delimiter, len(prefix))
            if cut >= 0:
                subdir = name[: cut + len(delimiter)]
                # Swift never repeats the pseudo-folder a page ended on (the marker)
                if subdir not in seen_subdirs and subdir != marker:
                    seen_subdirs.add(subdir)
                    result.append((subdir, True))
                if len(result) >= limit:
                    break
                continue
        result.append((name, False))
        if len(result) >= limit:
            break
    return result


def _listing_response(
    ctx: Ctx,
    kind: str,
    owner: str,
    entries: list[tuple[str, bool]],
    describe: Any,
    headers: dict[str, str],
) -> web.Response:
    fmt = _listing_format(ctx)
    if fmt == "json":
        items = [{"subdir": name} if subdir else describe(name) for name, subdir in entries]
        return web.Response(
            text=json.dumps(items),
            content_type="application/json",
            charset="utf-8",
            headers=headers,
        )
    if fmt == "xml":
        parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<{kind} name={quoteattr(owner)}>']
        child = "container" if kind == "account" else "object"
        for name, subdir in entries:
            if subdir:
                parts.append(f"<subdir name={quoteattr(name)}><name>{escape(name)}</name></subdir>")
                continue
            fields = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in describe(name).items())
            parts.append(f"<{child}>{fields}</{child}>")
        parts.append(f"</{kind}>")
        return web.Response(
            text="".join(parts), content_type="application/xml", charset="utf-8", headers=headers
        )
    if not entries:
        # Swift's listing middleware turns an empty plain-text listing into 204.
        return web.Response(status=204, headers=headers)
    text = "".join(name + "\n" for name, _ in entries)
    return web.Response(text=text, content_type="text/plain", charset="utf-8", headers=headers)


# -- account --------------------------------------------------------------------------------------


def _account_headers(ctx: Ctx, account: Account) -> dict[str, str]:
    objects = sum(len(c.live_objects(ctx.now)) for c in account.containers.values())
    headers = {
        "X-Account-Container-Count": str(len(account.containers)),
        "X-Account-Object-Count": str(objects),
        "X-Account-Bytes-Used": str(sum(c.bytes_used() for c in account.containers.values())),
        "X-Timestamp": _timestamp(account.created),
    }
    headers.update(account.meta)
    return headers


async def list_containers(ctx: Ctx) -> web.StreamResponse:
    account = _account(ctx)
    headers = _account_headers(ctx, account)
    entries = _select(ctx, list(account.containers))

    def describe(name: str) -> dict[str, Any]:
        container = account.containers[name]
        objects = container.live_objects(ctx.now)
        latest = max([container.created, *(o.modified for o in objects.values())])
        return {
            "name": name,
            "count": len(objects),
            "bytes": container.bytes_used(),
            "last_modified": iso_micro(latest),
        }

    return _listing_response(ctx, "account", ctx.match["account"], entries, describe, headers)


async def head_account(ctx: Ctx) -> web.StreamResponse:
    # NHN's API guide ("Query the Storage Account") answers a valid HEAD with 200, where
    # upstream Swift's account server says 204; the usage is in the headers, with no body.
    return web.Response(status=200, headers=_account_headers(ctx, _account(ctx)))


async def post_account(ctx: Ctx) -> web.StreamResponse:
    account = _account(ctx)
    for name, value in ctx.request.headers.items():
        if name.lower().startswith("x-account-meta-"):
            key = "X-Account-Meta-" + name[len("x-account-meta-") :].title()
            if value:
                account.meta[key] = value
            else:
                account.meta.pop(key, None)
    return web.Response(status=204)


# -- containers -----------------------------------------------------------------------------------


def _container_headers(ctx: Ctx, container: Container) -> dict[str, str]:
    objects = container.live_objects(ctx.now)
    headers = {
        "X-Container-Object-Count": str(len(objects)),
        "X-Container-Bytes-Used": str(container.bytes_used()),
        "X-Timestamp": _timestamp(container.created),
        "X-Storage-Policy": container.policy,
    }
    headers.update(container.headers)
    return headers


def _apply_container_headers(ctx: Ctx, container: Container) -> None:
    for name, value in ctx.request.headers.items():
        if not _CONTAINER_HEADERS.match(name):
            continue
        key = "-".join(part.capitalize() for part in name.split("-"))
        if value.strip():
            container.headers[key] = value.strip()
        else:
            # An empty value removes the setting (e.g. making a container private again).
            container.headers.pop(key, None)


def _check_container_name(name: str) -> None:
    if len(name.encode()) > MAX_CONTAINER_NAME:
        raise ApiError(
            400,
            body=f"Container name length of {len(name.encode())} longer than {MAX_CONTAINER_NAME}",
        )
    # NHN's naming rules for containers.
    if name in (".", "..") or _BAD_CONTAINER_CHARS & set(name) or _IP_LIKE.match(name):
        raise ApiError(400, body=f"Invalid container name: {name}")


async def put_container(ctx: Ctx) -> web.StreamResponse:
    name = ctx.match["container"]
    _check_container_name(name)
    account = _account(ctx)
    policy = ctx.request.headers.get("X-Storage-Policy")
    if policy is not None and policy not in _POLICIES:
        raise ApiError(400, body=f"Invalid X-Storage-Policy '{policy}'")
    container = account.containers.get(name)
    status = 202
    if container is None:
        container = Container(name=name, created=ctx.now, policy=policy or "Standard")
        account.containers[name] = container
        status = 201
    elif policy is not None and policy != container.policy:
        raise ApiError(409, body="Storage Policy cannot be changed.")
    _apply_container_headers(ctx, container)
    return web.Response(status=status, headers={"Content-Type": "text/html; charset=UTF-8"})


async def list_objects(ctx: Ctx) -> web.StreamResponse:
    container = _container_or_404(ctx)
    objects = container.live_objects(ctx.now)
    path = ctx.query.get("path")
    names = list(objects)
    if path is not None:
        # ``path=x`` is prefix "x/" with delimiter "/" in one parameter.
        directory = path.rstrip("/") + "/" if path else ""
        names = [n for n in names if n.startswith(directory) and "/" not in n[len(directory) :]]
    entries = _select(ctx, names)

    def describe(name: str) -> dict[str, Any]:
        stored = objects[name]
        return {
            "name": name,
            "hash": stored.etag,
            "bytes": stored.size,
            "content_type": stored.content_type,
            "last_modified": iso_micro(stored.modified),
        }

    return _listing_response(
        ctx, "container", container.name, entries, describe, _container_headers(ctx, container)
    )


async def head_container(ctx: Ctx) -> web.StreamResponse:
    return web.Response(status=204, headers=_container_headers(ctx, _container_or_404(ctx)))


async def post_container(ctx: Ctx) -> web.StreamResponse:
    _apply_container_headers(ctx, _container_or_404(ctx))
    return web.Response(status=204)


async def delete_container(ctx: Ctx) -> web.StreamResponse:
    container = _container_or_404(ctx)
    if container.live_objects(ctx.now):
        raise ApiError(409)
    del _account(ctx).containers[container.name]
    return web.Response(status=204)


# -- objects --------------------------------------------------------------------------------------

_CLIENT_DISCONNECT = (
    "<html><h1>Client Disconnect</h1><p>The client was disconnected during request.</p></html>"
)
_RANGE_NOT_SATISFIABLE = (
    "<html><h1>Requested Range Not Satisfiable</h1><p>The Range requested is not "
    "available.</p></html>"
)


def _object_headers(stored: StoredObject) -> dict[str, str]:
    headers = {
        "Etag": stored.etag,
        "Last-Modified": http_date(stored.modified),
        "X-Timestamp": _timestamp(stored.modified),
        "Accept-Ranges": "bytes",
    }
    headers.update(stored.meta)
    if stored.delete_at is not None:
        headers["X-Delete-At"] = str(stored.delete_at)
    return headers


def _expiry(ctx: Ctx, current: int | None) -> int | None:
    headers = ctx.request.headers
    if "X-Delete-After" in headers:
        value = headers["X-Delete-After"]
        if not value.isdigit():
            raise ApiError(400, body="Non-integer X-Delete-After")
        return int(ctx.now) + int(value)
    if "X-Delete-At" in headers:
        value = headers["X-Delete-At"]
        if not value.isdigit():
            raise ApiError(400, body="Non-integer X-Delete-At")
        if int(value) <= ctx.now:
            raise ApiError(400, body="X-Delete-At in past")
        return int(value)
    return current


def _object_meta(ctx: Ctx) -> dict[str, str]:
    meta = {}
    for name, value in ctx.request.headers.items():
        if name.lower().startswith("x-object-meta-") and value:
            meta["X-Object-Meta-" + name[len("x-object-meta-") :].title()] = value
    return meta


def _copy_source(ctx: Ctx, source: str) -> StoredObject:
    source = unquote(source).lstrip("/")
    container_name, _, object_name = source.partition("/")
    if not container_name or not object_name:
        raise ApiError(
            412, body="X-Copy-From header must be of the form <container name>/<object name>"
        )
    container = _account(ctx).containers.get(container_name)
    stored = container.live_objects(ctx.now).get(object_name) if container else None
    if stored is None:
        raise ApiError(404)
    return stored


def _check_object_name(name: str) -> None:
    if len(name.encode()) > MAX_OBJECT_NAME:
        raise ApiError(
            400, body=f"Object name length of {len(name.encode())} longer than {MAX_OBJECT_NAME}"
        )


def _store(
    ctx: Ctx, container: Container, name: str, blob: Blob, base: StoredObject | None
) -> web.Response:
    """Keep `blob` as object `name` (a copy passes its source as `base`)."""
    _check_object_name(name)
    wanted = ctx.request.headers.get("ETag")
    if wanted is not None and wanted.strip().strip('"').lower() != blob.etag:
        raise ApiError(422)
    content_type = ctx.request.headers.get("Content-Type")
    if not content_type:
        content_type = (base.content_type if base else None) or (
            mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
    fresh = ctx.request.headers.get("X-Fresh-Metadata", "").lower() == "true"
    meta = dict(base.meta) if base is not None and not fresh else {}
    meta.update(_object_meta(ctx))
    stored = StoredObject(blob, content_type, ctx.now, meta, _expiry(ctx, None))
    container.objects[name] = stored
    headers = {"Etag": blob.etag, "Last-Modified": http_date(stored.modified)}
    return web.Response(status=201, headers=headers, content_type="text/html", charset="UTF-8")


async def _receive(ctx: Ctx) -> Blob:
    """The request body as a blob, written as it arrives. A body over Swift's limit is a
    413; one that ends before it should (the client went away mid-body, or a chunked body
    lost its last chunk) leaves nothing behind and is Swift's 499 Client Disconnect."""
    request = ctx.request
    announced = request.content_length
    writer = BlobWriter()
    try:
        async for piece in request.content.iter_chunked(READ_CHUNK):
            writer.write(piece)
            if writer.size > MAX_FILE_SIZE:
                raise ApiError(413)
        if announced is not None and writer.size != announced:
            raise ApiError(499, body=_CLIENT_DISCONNECT)
    except ApiError:
        writer.discard()
        raise
    except (OSError, HttpProcessingError, ClientPayloadError):
        writer.discard()
        raise ApiError(499, body=_CLIENT_DISCONNECT) from None
    except BaseException:  # cancelled: nothing of a half body may stay
        writer.discard()
        raise
    return writer.finish()


async def put_object(ctx: Ctx) -> web.StreamResponse:
    container = _container_or_404(ctx)
    name = ctx.match["object"]
    headers = ctx.request.headers
    copy_from = headers.get("X-Copy-From")
    if copy_from:
        source = _copy_source(ctx, copy_from)
        return _store(ctx, container, name, source.blob, source)
    chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
    if "Content-Length" not in headers and not chunked:
        raise ApiError(411)
    if ctx.request.content_length is not None and ctx.request.content_length > MAX_FILE_SIZE:
        raise ApiError(413)
    _check_object_name(name)
    blob = await _receive(ctx)
    # the container may have gone while the body arrived
    container = _container_or_404(ctx)
    return _store(ctx, container, name, blob, None)


async def copy_object(ctx: Ctx) -> web.StreamResponse:
    container = _container_or_404(ctx)
    source = _object_or_404(ctx, container)
    destination = ctx.request.headers.get("Destination", "")
    target_container_name, _, target_name = unquote(destination).lstrip("/").partition("/")
    if not target_container_name or not target_name:
        raise ApiError(
            412, body="Destination header must be of the form <container name>/<object name>"
        )
    target = _account(ctx).containers.get(target_container_name)
    if target is None:
        raise ApiError(404)
    return _store(ctx, target, target_name, source.blob, source)


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _range(header: str, size: int) -> tuple[int, int] | bool | None:
    """One ``bytes=`` range as (start, end inclusive); False when unsatisfiable (416); None
    when the header is to be ignored (malformed, several ranges)."""
    match = _RANGE.fullmatch(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # the last `last` bytes
        length = int(last)
        return (max(size - length, 0), size - 1) if length and size else False
    start = int(first)
    if last and int(last) < start:
        return None  # "bytes=5-2" is not a range at all
    end = min(int(last), size - 1) if last else size - 1
    return (start, end) if start < size else False


def _none_match(header: str | None, etag: str) -> bool:
    """`If-None-Match` names the object's current version (or `*`)."""
    if header is None:
        return False
    for item in header.split(","):
        tag = item.strip().removeprefix("W/").strip('"')
        if tag == "*" or tag == etag:
            return True
    return False


async def get_object(ctx: Ctx) -> web.StreamResponse:
    """GET and HEAD of an object: the bytes (streamed from a large blob), a range of them,
    or 304 when the caller has this version already."""
    stored = _object_or_404(ctx, _container_or_404(ctx))
    request = ctx.request
    headers = _object_headers(stored)
    if _none_match(request.headers.get("If-None-Match"), stored.etag):
        return web.Response(status=304, headers=headers)
    size = stored.size
    start, end, status = 0, size - 1, 200
    range_header = request.headers.get("Range")
    if range_header and request.method == "GET":
        selected = _range(range_header, size)
        if selected is False:
            headers["Content-Range"] = f"bytes */{size}"
            return web.Response(
                status=416,
                headers=headers,
                text=_RANGE_NOT_SATISFIABLE,
                content_type="text/html",
                charset="UTF-8",
            )
        if isinstance(selected, tuple):
            start, end = selected
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Type"] = stored.content_type
    length = end - start + 1
    if request.method == "HEAD":
        headers["Content-Length"] = str(length)
        return web.Response(status=status, headers=headers)
    if size <= SPOOL_BYTES:  # held in memory anyway: one plain answer
        return web.Response(
            status=status, headers=headers, body=b"".join(stored.blob.read(start, end))
        )
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = length
    try:
        await response.prepare(request)
        for piece in stored.blob.read(start, end):
            await response.write(piece)
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away: nothing left to tell it
    return response


async def post_object(ctx: Ctx) -> web.StreamResponse:
    stored = _object_or_404(ctx, _container_or_404(ctx))
    # A POST replaces all user metadata of the object.
    stored.meta = _object_meta(ctx)
    stored.delete_at = _expiry(ctx, None)
    if ctx.request.headers.get("Content-Type"):
        stored.content_type = ctx.request.headers["Content-Type"]
    return web.Response(status=202, content_type="text/html", charset="UTF-8")


async def delete_object(ctx: Ctx) -> web.StreamResponse:
    container = _container_or_404(ctx)
    _object_or_404(ctx, container)
    del container.objects[ctx.match["object"]]
    return web.Response(status=204)

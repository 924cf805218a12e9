"""The static NHN stand-in: nginx configurations (the upstream and the pass-through hop) and,
when nginx is absent, a minimal aiohttp app serving the same canned files.

`python -m benchmarks.upstream --data DIR --port P` runs the aiohttp fallback; it reads
`DIR/routes.json` (written by `write_routes`). `--transfer PATH --blob FILE` serves Swift's
object upload and download at PATH instead (the streaming rows).

Listings that NHN pages by `marker` (Nova's `servers`, Glance's `images`: a canned GET file
whose object holds such a list, on a route that takes any query) honour the marker as NHN
does: without one the canned page; with one the items *after* it, so the page after the
last item is empty and a pager that reads until a short page stops there instead of reading
the same page again. An unknown marker is NHN's 400. The aiohttp fallback slices the page
for any marker; nginx, which cannot compute, serves the one boundary a pager reaches — the
last item's id, answered with an empty page — and 400 for any other marker.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.fixtures import UpstreamRoute

NOT_FOUND = '{"itemNotFound":{"code":404,"message":"not served by the benchmark upstream"}}'
BAD_MARKER = '{"badRequest":{"code":400,"message":"marker not found"}}'
# the list keys of the native listings that page by marker (Nova servers, Glance images)
LISTING_KEYS = ("servers", "images")
# the links that announce a next page; a page after a marker is the last one served
NEXT_LINK_KEYS = ("servers_links", "next")

_COMMON = """\
worker_processes 1;
daemon off;
master_process on;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
{user}
events {{
    worker_connections 4096;
    multi_accept on;
}}

http {{
    access_log off;
    server_tokens off;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    types {{ application/json json; }}
    default_type application/json;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    open_file_cache max=64 inactive=60s;
{body}
}}
"""


def _quoted(text: str) -> str:
    if any(char in text for char in "'$\\\n"):
        raise ValueError("canned inline bodies must not contain quotes, $, backslashes")
    return f"'{text}'"


def _prepare(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (work / sub).mkdir(exist_ok=True)
        (work / sub).chmod(0o777)


def _user_line() -> str:
    """As root, nginx hands its workers to an unprivileged user: name one that exists
    (nginx's built-in default group "nobody" is missing on Debian, which has "nogroup")."""
    import grp
    import os
    import pwd

    if os.geteuid() != 0:
        return ""  # nginx ignores `user` when not started as root
    try:
        entry = pwd.getpwnam("nobody")
        return f"user nobody {grp.getgrgid(entry.pw_gid).gr_name};"
    except KeyError:
        return "user root;"


def _listing(data_dir: Path, route: UpstreamRoute) -> tuple[dict[str, Any], str] | None:
    """The canned document and its list key when `route` serves a listing paged by marker
    (a GET file answering any query whose object holds a list of items with ids)."""
    if route.method != "GET" or route.file is None or route.marker is not None:
        return None
    try:
        document = json.loads((data_dir / route.file).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict):
        return None
    for key in LISTING_KEYS:
        items = document.get(key)
        if isinstance(items, list) and all(
            isinstance(item, dict) and isinstance(item.get("id"), str) for item in items
        ):
            return document, key
    return None


def page_after(document: dict[str, Any], key: str, marker: str) -> dict[str, Any] | None:
    """The page after `marker`: every canned item after it (the static upstream ignores
    `limit`), with no next link; None when no item has that id (NHN's 400)."""
    items = document[key]
    ids = [item["id"] for item in items]
    if marker not in ids:
        return None
    page = {name: value for name, value in document.items() if name not in NEXT_LINK_KEYS}
    page[key] = items[ids.index(marker) + 1 :]
    return page


def _after_last_file(
    data_dir: Path, route: UpstreamRoute, document: dict[str, Any], key: str
) -> tuple[str, str] | None:
    """Write the (empty) page after the listing's last item; (its file name, the last id),
    or None for an empty listing (every marker is then unknown)."""
    if not document[key]:
        return None
    last = document[key][-1]["id"]
    if any(char in last for char in '"\\$ \n'):
        raise ValueError(f"listing id {last!r} cannot be a map key")
    name = f"{Path(route.file or '').stem}.after-last.json"
    page = page_after(document, key, last)
    (data_dir / name).write_text(json.dumps(page, separators=(",", ":")))
    return name, last


def upstream_conf(work: Path, data_dir: Path, port: int, routes: tuple[UpstreamRoute, ...]) -> str:
    """nginx serving the canned answers: GETs from files, inline answers with `return`."""
    _prepare(work)
    by_path: dict[str, list[UpstreamRoute]] = defaultdict(list)
    for route in routes:
        by_path[route.path].append(route)
    maps: list[str] = []
    locations: list[str] = []
    for number, (path, group) in enumerate(by_path.items()):
        inline = [route for route in group if route.body is not None]
        if inline:  # POST-only paths (the benchmark never sends another method there)
            route = inline[0]
            locations.append(
                f"        location = {path} {{\n"
                f"            return {route.status} {_quoted(route.body or '')};\n"
                "        }"
            )
            continue
        split = {route.marker: route.file for route in group}
        listing = _listing(data_dir, group[0]) if len(group) == 1 else None
        if listing is not None:
            variable = f"$bench_file_{number}"
            after = _after_last_file(data_dir, group[0], *listing)
            entries = [f'        "" /{group[0].file};']
            if after is not None:
                entries.append(f'        "{after[1]}" /{after[0]};')
            maps.append(
                f"    map $arg_marker {variable} {{\n"
                + "\n".join(entries)
                + '\n        default "";\n    }'
            )
            locations.append(
                f"        location = {path} {{\n"
                f'            if ({variable} = "") {{\n'
                f"                return 400 {_quoted(BAD_MARKER)};\n"
                "            }\n"
                f"            try_files {variable} =404;\n"
                "        }"
            )
            continue
        if None in split:
            target = f"/{split[None]}"
        else:
            variable = f"$bench_file_{number}"
            maps.append(
                f"    map $arg_marker {variable} {{\n"
                f'        "" /{split[False]};\n'
                f"        default /{split[True]};\n"
                "    }"
            )
            target = variable
        locations.append(
            f"        location = {path} {{\n            try_files {target} =404;\n        }}"
        )
    body = "\n".join(
        [
            *maps,
            "    server {",
            f"        listen 127.0.0.1:{port} backlog=4096;",
            f"        root {data_dir};",
            *locations,
            "        location / {",
            f"            return 404 {_quoted(NOT_FOUND)};",
            "        }",
            "    }",
        ]
    )
    return _COMMON.format(work=work, user=_user_line(), body=body)


def hop_conf(work: Path, port: int, upstream_port: int) -> str:
    """nginx as a pure pass-through hop (`proxy_pass`, keep-alive upstream connections)."""
    _prepare(work)
    body = f"""\
    upstream nhn_upstream {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://nhn_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
            proxy_buffer_size 64k;
            proxy_buffers 64 64k;
            proxy_busy_buffers_size 128k;
            proxy_max_temp_file_size 0;
        }}
    }}"""
    return _COMMON.format(work=work, user=_user_line(), body=body)


def write_routes(data_dir: Path, routes: tuple[UpstreamRoute, ...]) -> Path:
    path = data_dir / "routes.json"
    path.write_text(json.dumps([dataclasses.asdict(route) for route in routes]))
    return path


# ------------------------------------------------------------------- aiohttp fallback


def aiohttp_app(data_dir: Path):
    from aiohttp import web

    routes = [UpstreamRoute(**item) for item in json.loads((data_dir / "routes.json").read_text())]
    bodies: dict[tuple[str, str], list[tuple[bool | None, int, bytes]]] = defaultdict(list)
    listings: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
    for route in routes:
        listing = _listing(data_dir, route)
        if listing is not None:
            listings[(route.method, route.path)] = listing
        payload = (
            (data_dir / route.file).read_bytes()
            if route.file is not None
            else (route.body or "").encode()
        )
        bodies[(route.method, route.path)].append((route.marker, route.status, payload))

    async def handle(request: web.Request) -> web.Response:
        if request.can_read_body:
            await request.read()
        marker_value = request.query.get("marker", "")
        listing = listings.get((request.method, request.path))
        if listing is not None and marker_value:
            page = page_after(*listing, marker_value)
            if page is None:
                return web.Response(text=BAD_MARKER, status=400, content_type="application/json")
            return web.json_response(page)
        has_marker = bool(marker_value)
        for marker, status, payload in bodies.get((request.method, request.path), ()):
            if marker is None or marker == has_marker:
                return web.Response(body=payload, status=status, content_type="application/json")
        return web.Response(body=NOT_FOUND.encode(), status=404, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


# ------------------------------------------------------------------- object transfers

# Swift answers an upload with the MD5 it stored; the stand-in does not hash (its CPU is
# part of the floor) and names one fixed digest, which the proxy passes on unchecked
# (the benchmark's uploads announce none)
TRANSFER_ETAG = "0f343b0931126a20f133d67c2b018a3b"


def transfer_app(path: str, blob: Path):
    """Swift's object PUT and GET at `path`, as cheaply as Python serves them: a PUT is
    read to its end and counted (a body short of its Content-Length is a 400, so a cut
    transfer never counts), then answered 201 like Swift; a GET sends `blob` with
    sendfile. nginx cannot stand in here: it answers a PUT before reading its body."""
    from aiohttp import web

    async def put(request: web.Request) -> web.Response:
        received = 0
        async for chunk in request.content.iter_chunked(1 << 20):
            received += len(chunk)
        if request.content_length is not None and received != request.content_length:
            return web.Response(status=400, text="short body")
        return web.Response(
            status=201,
            headers={"Etag": TRANSFER_ETAG, "Content-Type": "text/html; charset=UTF-8"},
        )

    async def get(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(
            blob, headers={"Content-Type": "application/octet-stream", "Etag": TRANSFER_ETAG}
        )

    app = web.Application()
    app.router.add_put(path, put)
    app.router.add_get(path, get, allow_head=False)
    return app


def write_blob(path: Path, size: int) -> Path:
    """A file of `size` zero bytes that takes no disk space (sparse)."""
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def main() -> None:
    from aiohttp import web

    parser = argparse.ArgumentParser(description="static NHN stand-in (aiohttp fallback)")
    parser.add_argument("--data", type=Path, help="canned answers (routes.json)")
    parser.add_argument("--transfer", help="serve object PUT/GET at this path instead")
    parser.add_argument("--blob", type=Path, help="the file a transfer GET sends")
    parser.add_argument("--port", required=True, type=int)
    args = parser.parse_args()
    if args.transfer:
        if args.blob is None:
            parser.error("--transfer needs --blob")
        app = transfer_app(args.transfer, args.blob)
    elif args.data is not None:
        app = aiohttp_app(args.data)
    else:
        parser.error("give --data or --transfer")
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()

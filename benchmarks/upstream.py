"""The static NHN stand-in: nginx configurations (the upstream and the pass-through hop) and,
when nginx is absent, a minimal aiohttp app serving the same canned files.

`python -m benchmarks.upstream --data DIR --port P` runs the aiohttp fallback; it reads
`DIR/routes.json` (written by `write_routes`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import defaultdict
from pathlib import Path

from benchmarks.fixtures import UpstreamRoute

NOT_FOUND = '{"itemNotFound":{"code":404,"message":"not served by the benchmark upstream"}}'

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
    for route in routes:
        payload = (
            (data_dir / route.file).read_bytes()
            if route.file is not None
            else (route.body or "").encode()
        )
        bodies[(route.method, route.path)].append((route.marker, route.status, payload))

    async def handle(request: web.Request) -> web.Response:
        if request.can_read_body:
            await request.read()
        has_marker = bool(request.query.get("marker"))
        for marker, status, payload in bodies.get((request.method, request.path), ()):
            if marker is None or marker == has_marker:
                return web.Response(body=payload, status=status, content_type="application/json")
        return web.Response(body=NOT_FOUND.encode(), status=404, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def main() -> None:
    from aiohttp import web

    parser = argparse.ArgumentParser(description="static NHN stand-in (aiohttp fallback)")
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    args = parser.parse_args()
    web.run_app(
        aiohttp_app(args.data),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()

"""The `nhn-proxy` command: serve (one process, or `--workers N` under a supervisor),
emulator, openapi, plugins.

The CLI is the one part of the core that reaches the embedded emulator, and only through
its package root `nhn_proxy.emulator` (`create_app`, `endpoints`, `options_from_settings`
and the demo account), imported when a command needs it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection

from aiohttp import web

from nhn_proxy import __version__
from nhn_proxy.hookspecs import DemoAccount
from nhn_proxy.keys import OPENAPI
from nhn_proxy.logs import setup_logging, tag_log_lines
from nhn_proxy.openapi import use_examples
from nhn_proxy.plugin_manager import PluginError
from nhn_proxy.server import (
    EventLoop,
    ProxyRunner,
    StartError,
    Supervisor,
    check_port_free,
    check_workers,
    choose_event_loop,
    tune_gc,
)
from nhn_proxy.settings import Settings, SettingsError, load_settings

logger = logging.getLogger("nhn_proxy")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nhn-proxy", description="NHN Cloud behind one small REST API for web front ends."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the proxy")
    serve.add_argument("--config", help="settings file (TOML); default: $NHN_PROXY_CONFIG")
    serve.add_argument("--host", help="address to listen on (default from settings)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8900)")
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes sharing the port (SO_REUSEPORT; default from settings: 1); "
        "more than 1 needs tasks.redis_url",
    )
    serve.add_argument(
        "--emulator",
        action="store_true",
        help="also run the embedded NHN Cloud emulator and point every endpoint at it",
    )

    emulator = commands.add_parser("emulator", help="run the NHN Cloud emulator alone")
    emulator.add_argument("--config", help="settings file (TOML)")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=9000)

    openapi = commands.add_parser("openapi", help="print the OpenAPI document as JSON")
    openapi.add_argument("--config", help="describe what this settings file serves")

    plugins = commands.add_parser(
        "plugins", help="list the loaded plugins: version, origin, routes, watched operations"
    )
    plugins.add_argument("--config", help="settings file (TOML), e.g. with plugins.disabled")
    plugins.add_argument("--json", action="store_true", help="print them as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        overrides: dict = {}
        if getattr(args, "host", None) and args.command == "serve":
            overrides.setdefault("server", {})["host"] = args.host
        if getattr(args, "port", None) is not None and args.command == "serve":
            overrides.setdefault("server", {})["port"] = args.port
        if getattr(args, "workers", None) is not None:
            overrides.setdefault("server", {})["workers"] = args.workers
        settings = load_settings(args.config, overrides=overrides)
        setup_logging(settings.logging)
        for note in settings.deprecations:
            logger.warning(note)
        if args.command == "openapi":
            return print_openapi(settings)
        if args.command == "plugins":
            return print_plugins(settings, as_json=args.json)
        if args.command == "emulator":
            return run_emulator(settings, args.host, args.port)
        return serve(settings, with_emulator=args.emulator)
    except (SettingsError, PluginError) as exc:
        print(f"nhn-proxy: {exc}", file=sys.stderr)
        return 2


def print_openapi(settings: Settings) -> int:
    from nhn_proxy.app import create_app

    app = create_app(settings)
    json.dump(app[OPENAPI], sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def print_plugins(settings: Settings, *, as_json: bool = False) -> int:
    """What `nhn-proxy plugins` shows: each loaded plugin and the disabled ones."""
    from nhn_proxy.app import PLUGINS, ROUTES, create_app

    app = create_app(settings)
    plugins = app[PLUGINS]
    infos = plugins.describe(app[ROUTES])
    if as_json:
        listing = {
            "plugins": [dataclasses.asdict(info) for info in infos],
            "disabled": list(plugins.disabled),
        }
        json.dump(listing, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for info in infos:
        print(f"{info.name} {info.version}  ({info.source})")
        for route in info.routes:
            print(f"    {route}")
        if info.operations:
            print(f"    watches: {', '.join(info.operations)}")
    if plugins.disabled:
        print(f"disabled: {', '.join(plugins.disabled)}")
    return 0


def serve(settings: Settings, *, with_emulator: bool = False) -> int:
    """Run the proxy until SIGTERM/SIGINT: in this process, or as `server.workers` forked
    processes on one port."""
    loop = choose_event_loop(settings.server.event_loop)
    if settings.server.workers > 1:
        return serve_workers(settings, loop, with_emulator=with_emulator)
    with asyncio.Runner(loop_factory=loop.factory) as runner:
        runner.run(_serve(settings, loop, with_emulator=with_emulator))
    return 0


async def _serve(settings: Settings, loop: EventLoop, *, with_emulator: bool) -> None:
    runners: list[web.AppRunner] = []
    try:
        if with_emulator:
            emulator_runner, base_url = await _start_emulator(settings, "127.0.0.1", 0)
            runners.append(emulator_runner)
            settings = with_endpoints(settings, emulator_endpoints(base_url))
        runner, port = await _start_proxy(settings, demo=with_emulator, runners=runners)
        print(_banner(settings, port, with_emulator, loop, [os.getpid()]), flush=True)
        await _stop_signal().wait()
    finally:
        for runner in runners:
            await runner.cleanup()


async def _start_proxy(
    settings: Settings, *, demo: bool, runners: list[web.AppRunner], reuse_port: bool = False
) -> tuple[web.AppRunner, int]:
    """Build the app and listen; the runner goes first in `runners` (it stops before the
    others). Returns it and the bound port."""
    from nhn_proxy.app import create_app

    app = create_app(settings)
    if demo:
        use_demo_examples(app, settings)
    runner = ProxyRunner(app, access_log=None, shutdown_timeout=settings.server.shutdown_timeout)
    await runner.setup()
    tune_gc()
    runners.insert(0, runner)
    site = web.TCPSite(
        runner, settings.server.host, settings.server.port, reuse_port=reuse_port or None
    )
    await site.start()
    return runner, _bound_port(site)


# -- several workers -------------------------------------------------------------------------

STOP_MARGIN = 5.0  # seconds a worker may take past server.shutdown_timeout before it is killed


def serve_workers(settings: Settings, loop: EventLoop, *, with_emulator: bool) -> int:
    """`server.workers` processes on one port under a supervisor (this process). With
    `--emulator`, one emulator process serves them all: each worker having its own would
    mean as many clouds."""
    check_workers(settings)
    check_port_free(settings.server.host, settings.server.port)
    stop_timeout = settings.server.shutdown_timeout + STOP_MARGIN
    with Supervisor(stop_timeout=stop_timeout) as supervisor:
        try:
            if with_emulator:
                base_url = supervisor.start_helper(
                    "the embedded emulator", functools.partial(_emulator_process, settings, loop)
                )
                if base_url is None:  # stopped while it started
                    return 0
                settings = with_endpoints(settings, emulator_endpoints(base_url))

            def announce(pids: list[int]) -> None:
                port = settings.server.port
                print(_banner(settings, port, with_emulator, loop, pids), flush=True)

            worker = functools.partial(_worker_process, settings, loop, with_emulator)
            return supervisor.run(settings.server.workers, worker, announce)
        except StartError as exc:
            print(f"nhn-proxy: {exc}", file=sys.stderr, flush=True)
            return exc.code


def _worker_process(
    settings: Settings, loop: EventLoop, demo: bool, index: int, channel: Connection
) -> int:
    """One worker (a forked child): the same server as `--workers 1`, on a SO_REUSEPORT
    socket, its log lines tagged with its number and pid."""
    setup_logging(settings.logging)
    tag_log_lines(worker=index, pid=os.getpid())
    try:
        with asyncio.Runner(loop_factory=loop.factory) as runner:
            runner.run(_serve_worker(settings, demo=demo, channel=channel))
    except (SettingsError, PluginError) as exc:
        channel.send(("error", 2, str(exc)))
        return 2
    return 0


async def _serve_worker(settings: Settings, *, demo: bool, channel: Connection) -> None:
    stop = _stop_signal((signal.SIGTERM,))  # before "ready": a stop then is graceful too
    runners: list[web.AppRunner] = []
    try:
        await _start_proxy(settings, demo=demo, runners=runners, reuse_port=True)
        channel.send(("ready", None))
        await stop.wait()
    finally:
        for runner in runners:
            await runner.cleanup()


def _emulator_process(settings: Settings, loop: EventLoop, channel: Connection) -> int:
    """The one emulator of all workers (a forked child) on a free loopback port."""
    setup_logging(settings.logging)
    tag_log_lines(process="emulator", pid=os.getpid())

    async def run() -> None:
        stop = _stop_signal((signal.SIGTERM,))
        runner, base_url = await _start_emulator(settings, "127.0.0.1", 0)
        try:
            channel.send(("ready", base_url))
            await stop.wait()
        finally:
            await runner.cleanup()

    with asyncio.Runner(loop_factory=loop.factory) as runner:
        runner.run(run())
    return 0


def with_endpoints(settings: Settings, endpoints: dict[str, str]) -> Settings:
    """The same settings with every upstream endpoint replaced."""
    upstream = dataclasses.replace(settings.upstream, endpoints=dict(endpoints))
    return dataclasses.replace(settings, upstream=upstream)


def use_demo_examples(app: web.Application, settings: Settings) -> None:
    """Pre-fill Swagger UI with the emulator's demo account: the NHN headers here, request
    fields from the plugins (`nhn_proxy_demo_examples`)."""
    from nhn_proxy.app import PLUGINS
    from nhn_proxy.emulator import demo_account

    demo = DemoAccount(**demo_account(), region=settings.regions.allowed[0])
    use_examples(
        app,
        headers={
            "X-NHN-Region": demo.region,
            "X-NHN-Tenant-ID": demo.tenant_id,
            "X-NHN-Storage-Account": demo.storage_account,
        },
        properties=app[PLUGINS].demo_examples(demo),
    )


def emulator_endpoints(base_url: str) -> dict[str, str]:
    from nhn_proxy.emulator import endpoints

    return endpoints(base_url)


async def _start_emulator(settings: Settings, host: str, port: int) -> tuple[web.AppRunner, str]:
    from nhn_proxy.emulator import create_app as create_emulator_app
    from nhn_proxy.emulator import options_from_settings

    options = options_from_settings(settings.raw)
    runner = web.AppRunner(create_emulator_app(options), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, f"http://{host}:{_bound_port(site)}"


def _bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp keeps the asyncio server here; the port may have been 0
    assert server is not None and server.sockets
    return server.sockets[0].getsockname()[1]


def _stop_signal(
    signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM),
) -> asyncio.Event:
    """An event the running loop sets on any of `signals`."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    return stop


def _banner(
    settings: Settings, port: int, with_emulator: bool, loop: EventLoop, pids: list[int]
) -> str:
    host = settings.server.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if len(pids) == 1:
        processes = f"1 (pid {pids[0]})"
    else:
        processes = f"{len(pids)} workers (pids {', '.join(map(str, pids))}) on one port"
    lines = [
        f"nhn-cloud-proxy {__version__} listening on http://{shown}:{port}/api/nhn",
        f"  Swagger UI:   http://{shown}:{port}/swagger/",
        f"  OpenAPI JSON: http://{shown}:{port}/api/docs/openapi.json",
        f"  Processes:    {processes}, event loop: {loop.name}",
    ]
    if with_emulator:
        from nhn_proxy.emulator import demo_account

        demo = DemoAccount(**demo_account(), region=settings.regions.allowed[0])
        lines += [
            "  Upstream: the embedded NHN Cloud emulator (offline demo, no account needed)",
            f"  Demo login:   username {demo.username}  password {demo.password}",
            f"                tenant_id {demo.tenant_id} (Compute, Network, NKS)",
            f"                tenant_id {demo.storage_tenant_id} (Object Storage,"
            f" account {demo.storage_account})",
            f"  Try: curl -s -X POST http://{shown}:{port}/api/nhn/token/ "
            "-H 'Content-Type: application/json' "
            f'-d \'{{"tenant_id": "{demo.tenant_id}", "username": "{demo.username}", '
            f'"password": "{demo.password}"}}\'',
        ]
    return "\n".join(lines)


def run_emulator(settings: Settings, host: str, port: int) -> int:
    loop = choose_event_loop(settings.server.event_loop)
    with asyncio.Runner(loop_factory=loop.factory) as runner:
        runner.run(_run_emulator(settings, host, port, loop))
    return 0


async def _run_emulator(settings: Settings, host: str, port: int, loop: EventLoop) -> None:
    runner, base_url = await _start_emulator(settings, host, port)
    try:
        shown = base_url.replace("0.0.0.0", "127.0.0.1")
        block = "\n".join(
            f'{service} = "{template}"' for service, template in emulator_endpoints(shown).items()
        )
        print(
            f"NHN Cloud emulator listening on {base_url} (event loop: {loop.name})\n"
            f"Paste into your settings file:\n\n[upstream.endpoints]\n{block}\n",
            flush=True,
        )
        await _stop_signal().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

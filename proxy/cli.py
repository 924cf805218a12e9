"""The `nhn-proxy` command: serve, emulator, openapi."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from proxy import __version__
from proxy.keys import OPENAPI
from proxy.logs import setup_logging
from proxy.openapi import use_examples
from proxy.plugins import PluginError
from proxy.server import ProxyRunner
from proxy.settings import Settings, SettingsError, load_settings

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        overrides: dict = {}
        if getattr(args, "host", None) and args.command == "serve":
            overrides.setdefault("server", {})["host"] = args.host
        if getattr(args, "port", None) is not None and args.command == "serve":
            overrides.setdefault("server", {})["port"] = args.port
        settings = load_settings(args.config, overrides=overrides)
        setup_logging(settings.logging)
        if args.command == "openapi":
            return print_openapi(settings)
        if args.command == "emulator":
            return run_emulator(settings, args.host, args.port)
        return serve(settings, with_emulator=args.emulator)
    except (SettingsError, PluginError) as exc:
        print(f"nhn-proxy: {exc}", file=sys.stderr)
        return 2


def print_openapi(settings: Settings) -> int:
    from proxy.app import create_app

    app = create_app(settings)
    json.dump(app[OPENAPI], sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def serve(settings: Settings, *, with_emulator: bool = False) -> int:
    asyncio.run(_serve(settings, with_emulator=with_emulator))
    return 0


async def _serve(settings: Settings, *, with_emulator: bool) -> None:
    from proxy.app import create_app

    runners: list[web.AppRunner] = []
    try:
        if with_emulator:
            emulator_runner, base_url = await _start_emulator(settings, "127.0.0.1", 0)
            runners.append(emulator_runner)
            settings = with_endpoints(settings, emulator_endpoints(base_url))
        app = create_app(settings)
        if with_emulator:
            use_demo_examples(app, settings)
        runner = ProxyRunner(
            app,
            access_log=None,
            shutdown_timeout=settings.server.shutdown_timeout,
        )
        await runner.setup()
        runners.insert(0, runner)  # the proxy stops first, then its emulator
        site = web.TCPSite(runner, settings.server.host, settings.server.port)
        await site.start()
        print(_banner(settings, _bound_port(site), with_emulator), flush=True)
        await _wait_for_stop_signal()
    finally:
        for runner in runners:
            await runner.cleanup()


def with_endpoints(settings: Settings, endpoints: dict[str, str]) -> Settings:
    """The same settings with every upstream endpoint replaced."""
    upstream = dataclasses.replace(settings.upstream, endpoints=dict(endpoints))
    return dataclasses.replace(settings, upstream=upstream)


def use_demo_examples(app: web.Application, settings: Settings) -> None:
    """Pre-fill Swagger UI with the emulator's demo tenant, account and user."""
    from emulator import DEMO_PASSWORD, DEMO_STORAGE_TENANT_ID, DEMO_TENANT_ID, DEMO_USERNAME
    from emulator.compute import DEMO_KEYPAIR

    use_examples(
        app,
        headers={
            "X-NHN-Region": settings.regions.allowed[0],
            "X-NHN-Tenant-ID": DEMO_TENANT_ID,
            "X-NHN-Storage-Account": f"AUTH_{DEMO_STORAGE_TENANT_ID}",
        },
        properties={
            "TokenRequest": {
                "tenant_id": DEMO_TENANT_ID,
                "username": DEMO_USERNAME,
                "password": DEMO_PASSWORD,
            },
            "InstanceCreate": {"keypair_name": DEMO_KEYPAIR},
            "ClusterCreate": {"keypair_name": DEMO_KEYPAIR},
        },
    )


def emulator_endpoints(base_url: str) -> dict[str, str]:
    from emulator import endpoints

    return endpoints(base_url)


def emulator_options(settings: Settings):
    from emulator import EmulatorOptions

    return EmulatorOptions(
        regions=settings.regions.allowed,
        nks_regions=settings.regions.nks,
        build_delay=settings.emulator.build_delay,
        cluster_delay=settings.emulator.cluster_delay,
        token_lifetime=settings.emulator.token_lifetime,
    )


async def _start_emulator(settings: Settings, host: str, port: int) -> tuple[web.AppRunner, str]:
    from emulator import create_app as create_emulator_app

    runner = web.AppRunner(create_emulator_app(emulator_options(settings)), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, f"http://{host}:{_bound_port(site)}"


def _bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp keeps the asyncio server here; the port may have been 0
    assert server is not None and server.sockets
    return server.sockets[0].getsockname()[1]


async def _wait_for_stop_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def _banner(settings: Settings, port: int, with_emulator: bool) -> str:
    host = settings.server.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    lines = [
        f"nhn-cloud-proxy {__version__} listening on http://{shown}:{port}/api/nhn",
        f"  Swagger UI:   http://{shown}:{port}/swagger/",
        f"  OpenAPI JSON: http://{shown}:{port}/api/docs/openapi.json",
    ]
    if with_emulator:
        from emulator import (
            DEMO_PASSWORD,
            DEMO_STORAGE_TENANT_ID,
            DEMO_TENANT_ID,
            DEMO_USERNAME,
        )

        lines += [
            "  Upstream: the embedded NHN Cloud emulator (offline demo, no account needed)",
            f"  Demo login:   username {DEMO_USERNAME}  password {DEMO_PASSWORD}",
            f"                tenant_id {DEMO_TENANT_ID} (Compute, Network, NKS)",
            f"                tenant_id {DEMO_STORAGE_TENANT_ID} (Object Storage,"
            f" account AUTH_{DEMO_STORAGE_TENANT_ID})",
            f"  Try: curl -s -X POST http://{shown}:{port}/api/nhn/token/ "
            "-H 'Content-Type: application/json' "
            f'-d \'{{"tenant_id": "{DEMO_TENANT_ID}", "username": "{DEMO_USERNAME}", '
            f'"password": "{DEMO_PASSWORD}"}}\'',
        ]
    return "\n".join(lines)


def run_emulator(settings: Settings, host: str, port: int) -> int:
    asyncio.run(_run_emulator(settings, host, port))
    return 0


async def _run_emulator(settings: Settings, host: str, port: int) -> None:
    runner, base_url = await _start_emulator(settings, host, port)
    try:
        shown = base_url.replace("0.0.0.0", "127.0.0.1")
        block = "\n".join(
            f'{service} = "{template}"' for service, template in emulator_endpoints(shown).items()
        )
        print(
            f"NHN Cloud emulator listening on {base_url}\n"
            f"Paste into your settings file:\n\n[upstream.endpoints]\n{block}\n",
            flush=True,
        )
        await _wait_for_stop_signal()
    finally:
        await runner.cleanup()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

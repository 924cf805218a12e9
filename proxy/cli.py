"""The `nhn-proxy` command: serve, emulator, openapi."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from aiohttp import web

from proxy import __version__
from proxy.keys import OPENAPI
from proxy.logs import setup_logging
from proxy.plugins import PluginError
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
    from proxy.app import create_app

    if with_emulator:
        raise SettingsError("the embedded emulator is not available yet")
    app = create_app(settings)
    web.run_app(
        app,
        host=settings.server.host,
        port=settings.server.port,
        access_log=None,
        shutdown_timeout=settings.server.shutdown_timeout,
        print=lambda text: logger.info(text.strip()),
    )
    return 0


def run_emulator(settings: Settings, host: str, port: int) -> int:
    raise SettingsError("the emulator is not available yet")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Settings: `config/default.toml`, overridden by a TOML file, then by environment variables.

Everything is checked once, at start-up, so that a typo fails loudly with one clear line
instead of surfacing as a strange answer at request time.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "NHN_PROXY_"
CONFIG_ENV = "NHN_PROXY_CONFIG"
# keys that moved, kept working for one release with a warning: old → new (dotted)
RENAMED = {"regions.nks": "kubernetes.regions"}
_REGION = re.compile(r"[a-z]{2}[0-9]{1,2}")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
EVENT_LOOPS = ("auto", "uvloop", "asyncio")


class SettingsError(Exception):
    """A settings file or value is unusable; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str
    port: int
    max_body_size: int
    shutdown_timeout: float
    workers: int = 1
    event_loop: str = "auto"


@dataclass(frozen=True, slots=True)
class CorsSettings:
    allow_origins: tuple[str, ...]
    max_age: int


@dataclass(frozen=True, slots=True)
class RegionSettings:
    allowed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    timeout: float
    connect_timeout: float
    pool_size: int
    pool_size_per_host: int
    max_pages: int
    max_body_size: int
    endpoints: Mapping[str, str]
    retries: int = 2
    retry_backoff: float = 0.1
    retry_backoff_max: float = 1.0
    breaker_failures: int = 5
    breaker_open_seconds: float = 10.0
    read_budget: int = 33554432
    listing_concurrency: int = 8


@dataclass(frozen=True, slots=True)
class PluginSettings:
    disabled: tuple[str, ...]
    trace: bool


@dataclass(frozen=True, slots=True)
class TaskSettings:
    redis_url: str
    key_prefix: str = "nhn-proxy"
    retention: float = 86400
    deadline: float = 3600
    poll_initial: float = 2.0
    poll_max: float = 30.0
    lease_ttl: float = 15.0
    sweep_interval: float = 5.0


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    level: str
    format: str


@dataclass(frozen=True, slots=True)
class EmulatorSettings:
    build_delay: float
    cluster_delay: float
    token_lifetime: float


@dataclass(frozen=True, slots=True)
class Settings:
    server: ServerSettings
    cors: CorsSettings
    regions: RegionSettings
    upstream: UpstreamSettings
    plugins: PluginSettings
    tasks: TaskSettings
    logging: LoggingSettings
    emulator: EmulatorSettings
    # every section as merged, including the plugins' own sections (`nhn_proxy_settings`)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # what the operator should change: deprecated keys that were used (logged at start-up)
    deprecations: tuple[str, ...] = ()

    def section(self, name: str) -> Mapping[str, Any]:
        """A plugin's own settings table (`[name]`), empty when absent."""
        value = self.raw.get(name, {})
        return value if isinstance(value, Mapping) else {}


def default_values() -> dict[str, Any]:
    """The parsed `config/default.toml` shipped with the package."""
    text = resources.files("nhn_proxy.config").joinpath("default.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults, then the file (`path` or `$NHN_PROXY_CONFIG`), then env vars, then overrides."""
    environ = os.environ if environ is None else environ
    defaults = default_values()
    values = copy.deepcopy(defaults)
    path = path or environ.get(CONFIG_ENV) or None
    deprecations: list[str] = []
    if path:
        source = _renamed(_read_file(Path(path)), str(path), deprecations)
        _merge(values, source, defaults, where=str(path))
    _apply_environment(values, defaults, environ, deprecations)
    if overrides:
        _merge(values, _renamed(overrides, "overrides", deprecations), defaults, where="overrides")
    settings = build_settings(values)
    return dataclasses.replace(settings, deprecations=tuple(deprecations))


def _renamed(source: Mapping[str, Any], where: str, notes: list[str]) -> dict[str, Any]:
    """`source` with every key of `RENAMED` moved to its new place (the new key wins when
    both are given), and a note for the operator about each."""
    source = copy.deepcopy(dict(source))
    for old, new in RENAMED.items():
        old_section, old_key = old.split(".")
        table = source.get(old_section)
        if not isinstance(table, dict) or old_key not in table:
            continue
        value = table.pop(old_key)
        new_section, new_key = new.split(".")
        target = source.setdefault(new_section, {})
        if isinstance(target, dict) and new_key not in target:
            target[new_key] = value
        notes.append(f"{where}: {old} is deprecated and will be removed; use {new}")
    return source


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"settings file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"settings file {path} cannot be read: {exc.strerror}") from None


def _merge(
    target: dict[str, Any],
    source: Mapping[str, Any],
    defaults: Mapping[str, Any],
    *,
    where: str,
    prefix: str = "",
) -> None:
    """Deep-merge `source` into `target`; unknown keys inside known sections are typos."""
    for key, value in source.items():
        dotted = f"{prefix}{key}"
        if key not in defaults:
            if prefix:  # a key the section does not have
                raise SettingsError(f"{where}: unknown setting {dotted}")
            target[key] = copy.deepcopy(value)  # a plugin's own section
            continue
        if isinstance(defaults[key], dict):
            if not isinstance(value, Mapping):
                raise SettingsError(f"{where}: {dotted} must be a table")
            _merge(target[key], value, defaults[key], where=where, prefix=f"{dotted}.")
        else:
            target[key] = copy.deepcopy(value)


def _apply_environment(
    values: dict[str, Any],
    defaults: Mapping[str, Any],
    environ: Mapping[str, str],
    notes: list[str],
) -> None:
    for old, new in RENAMED.items():
        old_name = ENV_PREFIX + old.replace(".", "_").upper()
        new_name = ENV_PREFIX + new.replace(".", "_").upper()
        if old_name in environ:
            notes.append(f"{old_name} is deprecated and will be removed; use {new_name}")
            if new_name not in environ:
                environ = {**environ, new_name: environ[old_name]}
    for keys, default in _leaves(defaults):
        name = ENV_PREFIX + "_".join(keys).upper()
        if name not in environ:
            continue
        raw = environ[name]
        table = values
        for key in keys[:-1]:
            table = table[key]
        table[keys[-1]] = _from_env(name, raw, default)


def _leaves(table: Mapping[str, Any], prefix: tuple[str, ...] = ()):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def _from_env(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return lowered in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, list):
            return [item.strip() for item in raw.split(",") if item.strip()]
    except ValueError:
        raise SettingsError(f"environment variable {name}={raw!r} is not a valid value") from None
    return raw


def build_settings(values: Mapping[str, Any]) -> Settings:
    """Check merged values and turn them into typed settings."""
    server = values["server"]
    upstream = values["upstream"]
    regions = values["regions"]
    allowed = tuple(_region_list(regions["allowed"], "regions.allowed"))
    if not allowed:
        raise SettingsError("regions.allowed must name at least one region")
    endpoints = dict(upstream["endpoints"])
    for service, template in endpoints.items():
        check_endpoint_template(service, template)
    origins = tuple(_string_list(values["cors"]["allow_origins"], "cors.allow_origins"))
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
            raise SettingsError(
                f"cors.allow_origins: {origin!r} is not an origin like http://host:port"
            )
    level = str(values["logging"]["level"]).upper()
    if level not in _LOG_LEVELS:
        raise SettingsError(f"logging.level must be one of {', '.join(_LOG_LEVELS)}")
    log_format = values["logging"]["format"]
    if log_format not in ("text", "json"):
        raise SettingsError('logging.format must be "text" or "json"')
    event_loop = server["event_loop"]
    if event_loop not in EVENT_LOOPS:
        raise SettingsError('server.event_loop must be "auto", "uvloop" or "asyncio"')
    return Settings(
        server=ServerSettings(
            host=_string(server["host"], "server.host"),
            port=_number(server["port"], "server.port", int, 0, 65535),
            max_body_size=_number(server["max_body_size"], "server.max_body_size", int, 1),
            shutdown_timeout=_number(server["shutdown_timeout"], "server.shutdown_timeout", float),
            workers=_number(server["workers"], "server.workers", int, 1),
            event_loop=event_loop,
        ),
        cors=CorsSettings(
            allow_origins=origins,
            max_age=_number(values["cors"]["max_age"], "cors.max_age", int),
        ),
        regions=RegionSettings(allowed=allowed),
        upstream=UpstreamSettings(
            timeout=_number(upstream["timeout"], "upstream.timeout", float, 0.001),
            connect_timeout=_number(
                upstream["connect_timeout"], "upstream.connect_timeout", float, 0.001
            ),
            pool_size=_number(upstream["pool_size"], "upstream.pool_size", int, 1),
            pool_size_per_host=_number(
                upstream["pool_size_per_host"], "upstream.pool_size_per_host", int, 1
            ),
            max_pages=_number(upstream["max_pages"], "upstream.max_pages", int, 1),
            max_body_size=_number(upstream["max_body_size"], "upstream.max_body_size", int, 1),
            read_budget=_number(upstream["read_budget"], "upstream.read_budget", int, 1),
            listing_concurrency=_number(
                upstream["listing_concurrency"], "upstream.listing_concurrency", int, 1
            ),
            endpoints=endpoints,
            retries=_number(upstream["retries"], "upstream.retries", int, 0, 10),
            retry_backoff=_number(upstream["retry_backoff"], "upstream.retry_backoff", float),
            retry_backoff_max=_number(
                upstream["retry_backoff_max"], "upstream.retry_backoff_max", float
            ),
            breaker_failures=_number(
                upstream["breaker_failures"], "upstream.breaker_failures", int, 0
            ),
            breaker_open_seconds=_number(
                upstream["breaker_open_seconds"], "upstream.breaker_open_seconds", float, 0.001
            ),
        ),
        plugins=PluginSettings(
            disabled=tuple(_string_list(values["plugins"]["disabled"], "plugins.disabled")),
            trace=bool(values["plugins"]["trace"]),
        ),
        tasks=_task_settings(values["tasks"]),
        logging=LoggingSettings(level=level, format=log_format),
        emulator=EmulatorSettings(
            build_delay=_number(values["emulator"]["build_delay"], "emulator.build_delay", float),
            cluster_delay=_number(
                values["emulator"]["cluster_delay"], "emulator.cluster_delay", float
            ),
            token_lifetime=_number(
                values["emulator"]["token_lifetime"], "emulator.token_lifetime", float, 1
            ),
        ),
        raw=copy.deepcopy(dict(values)),
    )


def _task_settings(tasks: Mapping[str, Any]) -> TaskSettings:
    redis_url = _string(tasks["redis_url"], "tasks.redis_url")
    if redis_url and not re.match(r"(redis|rediss|unix)://", redis_url):
        raise SettingsError("tasks.redis_url must start with redis://, rediss:// or unix://")
    settings = TaskSettings(
        redis_url=redis_url,
        key_prefix=_string(tasks["key_prefix"], "tasks.key_prefix"),
        retention=_number(tasks["retention"], "tasks.retention", float, 1),
        deadline=_number(tasks["deadline"], "tasks.deadline", float, 0.001),
        poll_initial=_number(tasks["poll_initial"], "tasks.poll_initial", float, 0.001),
        poll_max=_number(tasks["poll_max"], "tasks.poll_max", float, 0.001),
        lease_ttl=_number(tasks["lease_ttl"], "tasks.lease_ttl", float, 0.1),
        sweep_interval=_number(tasks["sweep_interval"], "tasks.sweep_interval", float, 0.01),
    )
    if settings.poll_max < settings.poll_initial:
        raise SettingsError("tasks.poll_max must not be smaller than tasks.poll_initial")
    return settings


def check_endpoint_template(service: str, template: Any) -> None:
    """An endpoint is an absolute http(s) base URL whose only placeholder is `{region}`."""
    if not isinstance(template, str) or not template:
        raise SettingsError(f"upstream.endpoints.{service} must be a non-empty string")
    leftover = template.replace("{region}", "")
    if "{" in leftover or "}" in leftover:
        raise SettingsError(
            f"upstream.endpoints.{service}: the only placeholder allowed is {{region}}"
        )
    parts = urlsplit(template.replace("{region}", "kr1"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            f"upstream.endpoints.{service}: {template!r} is not an absolute http(s) URL"
        )
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise SettingsError(
            f"upstream.endpoints.{service}: no query, fragment or user info allowed"
        )


def _region_list(value: Any, name: str) -> list[str]:
    regions = [item.lower() for item in _string_list(value, name)]
    for region in regions:
        if not _REGION.fullmatch(region):
            raise SettingsError(f"{name}: {region!r} is not a region code like kr1")
    return regions


def _string_list(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SettingsError(f"{name} must be a list of strings")
    return list(value)


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise SettingsError(f"{name} must be a string")
    return value


def _number(value: Any, name: str, kind: type, minimum: float = 0, maximum: float | None = None):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingsError(f"{name} must be a number")
    if kind is int and not isinstance(value, int):
        raise SettingsError(f"{name} must be a whole number")
    if value < minimum or (maximum is not None and value > maximum):
        raise SettingsError(f"{name}={value} is out of range")
    return kind(value)

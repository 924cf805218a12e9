"""`nhn-proxy plugins`: every loaded plugin with its version, origin, routes and watched
operations, as text or JSON, and the ones the settings disable."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nhn_proxy.cli import main

ROOT = Path(__file__).resolve().parents[2]
BUILTINS = ("token", "compute", "network", "kubernetes", "storage", "volume")
# the first path segment of a 0.1.0 route → the built-in plugin serving it
OWNER = {
    "token": "token",
    "compute": "compute",
    "vpc": "network",
    "subnet": "network",
    "floatingip": "network",
    "nks": "kubernetes",
    "storage": "storage",
}


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No settings file or NHN_PROXY_* variable of the developer; the root logger as the
    command found it (it sets up logging)."""
    for key in list(os.environ):
        if key.startswith("NHN_PROXY_"):
            monkeypatch.delenv(key)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["plugins", *args]) == 0
    return capsys.readouterr().out


def parse(text: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The text listing read back: plugins by name (header, routes, operations) and the
    disabled names."""
    plugins: dict[str, dict[str, Any]] = {}
    disabled: list[str] = []
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        if line.startswith("disabled: "):
            disabled = line.removeprefix("disabled: ").split(", ")
        elif line.startswith("    watches: "):
            assert current is not None, line
            current["operations"] = line.removeprefix("    watches: ").split(", ")
        elif line.startswith("    "):
            assert current is not None, line
            current["routes"].append(line.strip())
        else:
            name, version, source = line.split(" ", 2)
            current = {"name": name, "version": version, "source": source.strip()[1:-1]}
            current.update(routes=[], operations=[])
            plugins[name] = current
    return plugins, disabled


def test_lists_the_builtins_with_version_origin_routes_and_watches(capsys) -> None:
    text = run(capsys)
    lines = text.splitlines()
    for name in BUILTINS:
        assert f"{name} 0.1.0  (nhn_proxy.plugins.{name} (nhn-cloud-proxy))" in lines, text
    assert "    POST /api/nhn/compute/instances/create/" in lines
    assert (
        "    watches: compute.instance.create, compute.instance.delete, "
        "compute.instance.resize, compute.volume.attach"
    ) in lines
    assert "    watches: volume.create" in lines
    assert (
        "    watches: nks.cluster.create, nks.cluster.delete, nks.cluster.resize, "
        "nks.nodegroup.create, nks.nodegroup.delete"
    ) in lines
    assert not any(line.startswith("disabled") for line in lines)

    plugins, disabled = parse(text)
    assert disabled == []
    assert plugins["token"]["routes"] == ["POST /api/nhn/token/"]
    assert plugins["token"]["operations"] == [] and plugins["network"]["operations"] == []
    # every public route of 0.1.0 (but the core's task routes) under the plugin serving it
    document = json.loads((ROOT / "tests/data/openapi-0.1.0.json").read_text())
    for path, operations in document["paths"].items():
        segment = path.removeprefix("/api/nhn/").split("/", 1)[0]
        for method in operations:
            route = f"{method.upper()} {path}"
            owners = [name for name, plugin in plugins.items() if route in plugin["routes"]]
            assert owners == ([OWNER[segment]] if segment != "tasks" else []), route


def test_json_says_the_same(capsys) -> None:
    plugins, disabled = parse(run(capsys))
    listing = json.loads(run(capsys, "--json"))
    assert listing["disabled"] == disabled == []
    assert {plugin["name"]: plugin for plugin in listing["plugins"]} == plugins
    compute = next(plugin for plugin in listing["plugins"] if plugin["name"] == "compute")
    assert compute["version"] == "0.1.0"
    assert compute["source"] == "nhn_proxy.plugins.compute (nhn-cloud-proxy)"
    assert compute["operations"] == [
        "compute.instance.create",
        "compute.instance.delete",
        "compute.instance.resize",
        "compute.volume.attach",
    ]


def test_a_disabled_plugin_is_not_listed_and_said_disabled(capsys, tmp_path: Path) -> None:
    config = tmp_path / "proxy.toml"
    config.write_text('[plugins]\ndisabled = ["storage"]\n')
    text = run(capsys, "--config", str(config))
    plugins, disabled = parse(text)
    assert "storage" not in plugins
    assert set(BUILTINS) - {"storage"} <= set(plugins)
    assert not any("/api/nhn/storage/" in route for p in plugins.values() for route in p["routes"])
    assert disabled == ["storage"]
    assert text.splitlines()[-1] == "disabled: storage"

    listing = json.loads(run(capsys, "--config", str(config), "--json"))
    assert listing["disabled"] == ["storage"]
    assert "storage" not in {plugin["name"] for plugin in listing["plugins"]}

"""The example third-party plugin (`examples/nhn-proxy-example-plugin`) installed by pip into
a virtual environment of its own, next to the project: `nhn-proxy plugins` lists it, a real
`serve --emulator` process serves, checks and documents its route, and its own tests pass
there on the proxy's test kit.

No network: the new environment sees the project (its editable install) and every
dependency through a `.pth` file adding the project's site-packages, and pip builds the
example with `--no-build-isolation --no-index`, so with that environment's setuptools. The
venv is made `--without-pip`: Python's bundled pip would bring its own setuptools (65.5
with Python 3.11, which cannot build a wheel without the `wheel` package) ahead of the
project's; pip and setuptools then both come from the project.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from nhn_proxy.emulator import DEMO_PASSWORD, DEMO_TENANT_ID, DEMO_USERNAME
from tests.helpers import free_port, unavailable

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "nhn-proxy-example-plugin"
PATH = "/api/nhn/compute/availability-zones/"
ROUTE = f"GET {PATH}"
STEP_TIMEOUT = 60.0
START_TIMEOUT = 15.0


@dataclass(frozen=True)
class PluginVenv:
    """A virtual environment holding the project (through a .pth) and the example plugin."""

    python: Path
    example: Path  # the copy pip installed from (pip builds in place: the checkout stays clean)
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.example.parent,  # not the checkout: nothing of it by accident on sys.path
            timeout=STEP_TIMEOUT,
        )


def setuptools_builds_wheels() -> bool:
    """setuptools >= 70.1 builds wheels itself; older ones need the `wheel` package."""
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return False
    major, minor = (int(part) for part in version.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def clean_environment() -> dict[str, str]:
    """The caller's environment without our settings, pip's configuration or a Python path."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("NHN_PROXY_", "PIP_")) and key not in ("PYTHONPATH", "PYTHONHOME")
    }
    env["PIP_CONFIG_FILE"] = os.devnull  # no index, find-links or constraint of the machine
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def plugin_venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    if not setuptools_builds_wheels():
        unavailable(
            "the project's venv needs setuptools >= 70.1 (or wheel) to build the example "
            "plugin offline: .venv/bin/pip install 'setuptools>=77'"
        )
    root = tmp_path_factory.mktemp("example-plugin")
    example = root / EXAMPLE.name
    shutil.copytree(
        EXAMPLE,
        example,
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    venv = root / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)],
        check=True,
        timeout=STEP_TIMEOUT,
    )
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=STEP_TIMEOUT,
    ).stdout.strip()
    project = sysconfig.get_paths()["purelib"]  # this interpreter's: the project's venv
    (Path(purelib) / "nhn_proxy_project.pth").write_text(
        f"import site; site.addsitedir({project!r})\n"
    )
    installed = PluginVenv(python, example, clean_environment())
    pip = installed.run(
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        str(example),
    )
    assert pip.returncode == 0, f"pip install failed:\n{pip.stdout[-3000:]}\n{pip.stderr[-3000:]}"
    assert (Path(purelib) / "nhn_proxy_example_plugin").is_dir(), "installed elsewhere"
    return installed


def test_nhn_proxy_plugins_lists_it(plugin_venv: PluginVenv) -> None:
    listing = plugin_venv.run("-m", "nhn_proxy", "plugins")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    header = "availability_zones 0.1.0  (nhn_proxy_example_plugin (nhn-proxy-example-plugin))"
    assert header in lines, listing.stdout
    assert lines[lines.index(header) + 1] == f"    {ROUTE}"

    as_json = plugin_venv.run("-m", "nhn_proxy", "plugins", "--json")
    assert as_json.returncode == 0, as_json.stderr
    plugins = {plugin["name"]: plugin for plugin in json.loads(as_json.stdout)["plugins"]}
    assert plugins["availability_zones"] == {
        "name": "availability_zones",
        "version": "0.1.0",
        "source": "nhn_proxy_example_plugin (nhn-proxy-example-plugin)",
        "routes": [ROUTE],
        "operations": [],
    }
    assert {"token", "compute", "network", "kubernetes", "storage"} <= set(plugins)


async def wait_healthy(url: str, process: asyncio.subprocess.Process, stderr: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            if process.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"proxy did not start: {stderr.read_text()[-2000:]}")
            await asyncio.sleep(0.05)


async def test_serve_answers_checks_and_documents_the_route(
    plugin_venv: PluginVenv, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as handle:
        process = await asyncio.create_subprocess_exec(
            str(plugin_venv.python),
            *("-m", "nhn_proxy", "serve", "--emulator", "--host", "127.0.0.1", "--port", str(port)),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=handle,
            env=plugin_venv.env,
            cwd=plugin_venv.example.parent,
        )
    try:
        await wait_healthy(url, process, stderr)
        login = {"tenant_id": DEMO_TENANT_ID, "username": DEMO_USERNAME, "password": DEMO_PASSWORD}
        async with session.post(f"{url}/api/nhn/token/", json=login) as response:
            assert response.status == 200, await response.text()
            token = (await response.json())["token"]
        headers = {"X-NHN-Region": "kr1", "X-NHN-Tenant-ID": DEMO_TENANT_ID}

        async with session.get(f"{url}{PATH}", headers={**headers, "X-NHN-Token": token}) as r:
            assert r.status == 200, await r.text()
            assert await r.json() == {  # the emulator's zones of kr1
                "availability_zones": [
                    {"name": "kr-pub-a", "available": True},
                    {"name": "kr-pub-b", "available": True},
                ]
            }
        async with session.get(f"{url}{PATH}", headers=headers) as r:
            assert r.status == 401
            body = await r.json()
        assert set(body) == {"error", "code"} and body["code"] == 401
        assert "X-NHN-Token" in body["error"]

        async with session.get(f"{url}/api/docs/openapi.json") as r:
            assert r.status == 200
            document = await r.json()
        operation = document["paths"][PATH]["get"]
        assert operation["tags"] == ["compute"]
        assert operation["summary"] == "List availability zones"
        assert {p["name"] for p in operation["parameters"]} == {
            "X-NHN-Token",
            "X-NHN-Region",
            "X-NHN-Tenant-ID",
        }
        assert {"200", "401"} <= set(operation["responses"])
        schemas = document["components"]["schemas"]
        assert set(schemas["AvailabilityZone"]["properties"]) == {"name", "available"}
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), START_TIMEOUT)
    assert code == 0, stderr.read_text()[-2000:]


def test_its_own_tests_pass_there(plugin_venv: PluginVenv) -> None:
    tests = plugin_venv.example / "tests"
    result = plugin_venv.run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert " passed" in output and "skipped" not in output, output[-2000:]

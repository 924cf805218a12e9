"""Packaging: the wheel installs one import namespace, `nhn_proxy`, and nothing generic
(`config`, `plugins`, `proxy` would collide in site-packages), and the program runs as
`python -m nhn_proxy` from any folder, one holding its own `config/` package included."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]
UNPACKAGED = (".git", ".venv", "tests", "benchmarks", "examples", "build", "*.egg-info")


def test_the_wheel_holds_only_the_nhn_proxy_namespace(tmp_path):
    # built from a copy, so the checkout gets no build/ or egg-info folder
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*UNPACKAGED))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--wheel-dir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    [wheel] = tmp_path.glob("nhn_cloud_proxy-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/", 1)[0] for name in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"nhn_proxy"}
    for module in (
        "nhn_proxy/plugin.py",
        "nhn_proxy/testing.py",
        "nhn_proxy/plugins/compute.py",
        "nhn_proxy/emulator/__init__.py",
        "nhn_proxy/config/default.toml",
        "nhn_proxy/tasks/manager.py",
    ):
        assert module in names, module
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "nhn-proxy = nhn_proxy.cli:main" in text


def test_python_m_nhn_proxy_runs_from_a_folder_with_its_own_config_package(tmp_path):
    for package in ("config", "plugins", "proxy"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("raise ImportError('not ours')\n")
    result = subprocess.run(
        [sys.executable, "-m", "nhn_proxy", "openapi"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert '"/api/nhn/token/"' in result.stdout

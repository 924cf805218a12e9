"""The architecture guard: import-linter's contracts (`[tool.importlinter]` in pyproject.toml)
hold, and they cover every module of the core, so a new module cannot slip past them.

import-linter (grimp) finds a package's modules by walking its folder. `nhn_proxy`'s
sub-packages live in the repository's own top-level folders (`[tool.setuptools.package-dir]`:
plugins/ is nhn_proxy.plugins, emulator/ is nhn_proxy.emulator), so proxy/ holds a link to
each, laid out as the wheel installs the package: a bare `lint-imports` sees it whole.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CONTRACTS = PYPROJECT["tool"]["importlinter"]["contracts"]
PACKAGE_DIRS: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]
CORE = "nhn_proxy"
PUBLIC_MODULE = "nhn_proxy.plugin"
# core modules that may reach the emulator: the CLI (through its package root, contract 3),
# `python -m nhn_proxy`, which is the CLI, and the plugin authors' test kit
EMULATOR_USERS = {"nhn_proxy.cli", "nhn_proxy.__main__", "nhn_proxy.testing"}


def core_modules() -> set[str]:
    """Every module file and sub-package directly in proxy/, as its import name (the links
    to the sub-packages of other folders, plugins and emulator, are not the core)."""
    folder = ROOT / PACKAGE_DIRS[CORE]
    names = set()
    for path in folder.iterdir():
        if path.is_symlink():
            continue
        if path.suffix == ".py" and path.stem != "__init__":
            names.add(f"{CORE}.{path.stem}")
        elif path.is_dir() and (path / "__init__.py").is_file():
            names.add(f"{CORE}.{path.name}")
    return names


def contract(starting: str) -> dict:
    [found] = [entry for entry in CONTRACTS if entry["name"].startswith(starting)]
    return found


def core_names(modules: list[str]) -> set[str]:
    """The core modules among `modules` (not the plugins, the emulator or a library)."""
    return {
        name
        for name in modules
        if name.startswith(f"{CORE}.")
        and not name.startswith(("nhn_proxy.plugins", "nhn_proxy.emulator"))
    }


def test_the_core_is_found():
    modules = core_modules()
    assert {"nhn_proxy.routing", "nhn_proxy.plugin", "nhn_proxy.tasks"} <= modules
    assert "nhn_proxy.tasks.routes" not in modules  # packages count as one, like the contracts


def test_plugins_are_forbidden_every_core_module_but_the_public_one():
    forbidden = contract("Plugins use only the public plugin API")["forbidden_modules"]
    assert PUBLIC_MODULE not in forbidden
    missing = core_modules() - {PUBLIC_MODULE} - set(forbidden)
    assert not missing, f"add {sorted(missing)} to the plugins' forbidden modules"
    assert "nhn_proxy.emulator" in forbidden


def test_every_core_module_but_the_emulator_users_is_kept_from_plugins_and_emulator():
    entry = contract("The core knows no plugin and no emulator")
    assert set(entry["forbidden_modules"]) == {"nhn_proxy.plugins", "nhn_proxy.emulator"}
    expected = core_modules() - EMULATOR_USERS
    sources = set(entry["source_modules"])
    assert sources >= expected, f"add {sorted(expected - sources)} to the contract's sources"
    assert not (sources & EMULATOR_USERS)


def test_the_cli_and_the_test_kit_reach_only_the_emulators_package_root():
    entry = contract("The CLI and the test kit reach the emulator through its package root")
    assert set(entry["source_modules"]) == {"nhn_proxy.cli", "nhn_proxy.testing"}
    assert set(entry["forbidden_modules"]) == {"nhn_proxy.plugins", "nhn_proxy.emulator"}
    # the one allowed import is of the package root itself, never a submodule
    assert set(entry["ignore_imports"]) == {
        "nhn_proxy.cli -> nhn_proxy.emulator",
        "nhn_proxy.testing -> nhn_proxy.emulator",
    }


def test_the_emulator_is_forbidden_every_core_module():
    forbidden = contract("The emulator is independent of the proxy")["forbidden_modules"]
    missing = core_modules() - core_names(forbidden)
    assert not missing, f"add {sorted(missing)} to the emulator's forbidden modules"
    assert "nhn_proxy.plugins" in forbidden


def test_the_core_has_no_import_circle_to_excuse():
    # the circle contract ignores nothing, type hints included: Call lives in its own module
    # (nhn_proxy.call), so operations never reaches back into routing
    assert contract("No import circles in the core").get("ignore_imports", []) == []


def test_proxy_links_each_sub_package_to_its_folder():
    """The links in proxy/ are the layout the wheel installs (package-dir), nothing else."""
    core = ROOT / PACKAGE_DIRS[CORE]
    for name, folder in PACKAGE_DIRS.items():
        if name == CORE:
            continue
        link = core / name.removeprefix(f"{CORE}.")
        assert link.is_symlink(), f"{link} should link to {folder}/"
        assert link.resolve() == (ROOT / folder).resolve(), link
    links = {entry.name for entry in core.iterdir() if entry.is_symlink()}
    assert links == {name.removeprefix(f"{CORE}.") for name in PACKAGE_DIRS if name != CORE}


def lint_imports() -> Path:
    return Path(sys.executable).parent / "lint-imports"


@pytest.mark.skipif(not lint_imports().exists(), reason="import-linter is not installed")
def test_lint_imports_passes():
    result = subprocess.run(
        [str(lint_imports()), "--no-logo", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_plugins_import_only_the_public_module_marshmallow_and_the_stdlib():
    # what the forbidden contract cannot say: the allow-list of the issue, on any library
    folder = ROOT / PACKAGE_DIRS["nhn_proxy.plugins"]
    allowed_roots = {"marshmallow", "__future__", *sys.stdlib_module_names}
    problems = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
                if node.module == CORE:  # `from nhn_proxy import plugin`
                    modules = [f"{CORE}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level > 1:
                modules = ["." * node.level + (node.module or "")]  # out of the plugins
            else:
                continue  # `from . import x` stays inside nhn_proxy.plugins
            for module in modules:
                root = module.split(".")[0]
                if module == PUBLIC_MODULE or module.startswith("nhn_proxy.plugins"):
                    continue
                if root != CORE and root in allowed_roots:
                    continue
                problems.append(f"{path.name}:{node.lineno} imports {module}")
    assert not problems, "\n".join(problems)

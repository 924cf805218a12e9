"""The emulator's layout (moto's): one package per service with models, responses and routes;
a service reaches another one's resources through the region's state, never through its
handlers or URL table."""

from __future__ import annotations

import ast
from pathlib import Path

import nhn_proxy.emulator
from nhn_proxy.emulator.app import ROUTERS

ROOT = Path(nhn_proxy.emulator.__file__).parent
PACKAGE = "nhn_proxy.emulator"
SERVICES = (
    "identity",
    "compute",
    "image",
    "network",
    "kubernetes",
    "object_storage",
    "block_storage",
)
SHARED = ("app", "base", "control", "errors", "options", "state")


def imports(tree: ast.Module) -> list[tuple[str, bool]]:
    """(module imported, whether only for type checking) of every import in ``tree``."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_only)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, type_only) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, type_only))
            # `from nhn_proxy.emulator.x import routes` imports the module x.routes
            found.extend((f"{node.module}.{alias.name}", type_only) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child, type_only)

    visit(tree, False)
    return found


def service_of(module: str) -> tuple[str, str] | None:
    """(service, submodule) when ``module`` is inside a service package."""
    parts = module.split(".")
    if parts[:2] != PACKAGE.split(".") or len(parts) < 3 or parts[2] not in SERVICES:
        return None
    return parts[2], ".".join(parts[3:])


def test_the_emulator_root_holds_only_the_shared_machinery_and_the_services():
    modules = {p.stem for p in ROOT.glob("*.py")} - {"__init__"}
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert modules == set(SHARED)
    assert packages == set(SERVICES)


def test_every_service_has_models_responses_and_routes():
    for service in SERVICES:
        files = {p.name for p in (ROOT / service).glob("*.py")}
        # a service may split its handlers further (compute/attachments.py: its volumes)
        assert files >= {"__init__.py", "models.py", "responses.py", "routes.py"}, service


def test_the_app_dispatches_through_each_services_routes():
    assert set(ROUTERS) == set(SERVICES)
    for service, router in ROUTERS.items():
        routes = __import__(f"{PACKAGE}.{service}.routes", fromlist=["router"])
        assert router is routes.router, service


def test_no_service_imports_another_services_handlers_or_routes():
    problems = []
    for service in SERVICES:
        for path in sorted((ROOT / service).glob("*.py")):
            for module, type_only in imports(ast.parse(path.read_text())):
                target = service_of(module)
                if target is None or target[0] == service:
                    continue
                _, submodule = target
                where = f"{service}/{path.name} imports {module}"
                if submodule in ("", "responses", "routes"):
                    problems.append(where)
                elif submodule == "models" and not type_only:
                    # another service's objects come from the region's state; its model
                    # classes may only be named in annotations
                    problems.append(where + " at run time")
    assert not problems, problems


def test_models_never_import_handlers_or_routes():
    for service in SERVICES:
        for module, _ in imports(ast.parse((ROOT / service / "models.py").read_text())):
            assert not module.endswith((".responses", ".routes")), (service, module)
            assert module not in (f"{PACKAGE}.app", f"{PACKAGE}.control"), (service, module)

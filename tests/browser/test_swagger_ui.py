"""Swagger UI in a real headless Chromium: "Try it out" → "Execute" for every route of the
API against the embedded emulator, as a person trying the demo would.

Skipped (with the reason) only when Playwright or Chromium is missing; `.ci/run` installs
Debian's chromium so CI always runs it.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from nhn_proxy.app import create_app
from nhn_proxy.cli import emulator_endpoints, use_demo_examples, with_endpoints
from nhn_proxy.emulator import DEMO_STORAGE_TENANT_ID, DEMO_TENANT_ID, EmulatorOptions
from nhn_proxy.emulator import create_app as create_emulator_app
from nhn_proxy.settings import load_settings
from tests.helpers import free_port, unavailable

playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.e2e
if CHROMIUM is None:
    unavailable("Debian's chromium is not installed", allow_module_level=True)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def start(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@pytest.fixture
async def demo():
    """`nhn-proxy serve --emulator` in-process, with instant transitions."""
    emulator_port, proxy_port = free_port(), free_port()
    settings = load_settings(environ={})
    emulator = await start(
        create_emulator_app(EmulatorOptions(build_delay=0, cluster_delay=0)), emulator_port
    )
    settings = with_endpoints(settings, emulator_endpoints(f"http://127.0.0.1:{emulator_port}"))
    app = create_app(settings)
    use_demo_examples(app, settings)
    proxy = await start(app, proxy_port)
    yield f"http://127.0.0.1:{proxy_port}"
    await proxy.cleanup()
    await emulator.cleanup()


class SwaggerPage:
    """Drives one operation at a time the way a person does."""

    def __init__(self, page: Any) -> None:
        self.page = page

    async def execute(
        self,
        operation_id: str,
        *,
        fields: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:
        operation = self.page.locator(f"[id$='-{operation_id}']")
        await operation.locator(".opblock-summary").first.click()
        try_button = operation.locator("button.try-out__btn")
        await try_button.wait_for()
        if (await try_button.inner_text()).strip() == "Try it out":  # else still in try mode
            await try_button.click()
        for placeholder, value in (fields or {}).items():
            await operation.locator(f"input[placeholder='{placeholder}']").fill(value)
        if body is not None:
            await operation.locator("textarea.body-param__text").fill(json.dumps(body))
        await operation.get_by_role("button", name="Execute").click()
        latest = operation.locator(".live-responses-table .response")
        status_cell = latest.locator(".response-col_status").first
        await status_cell.wait_for(timeout=15_000)
        status = int((await status_cell.inner_text()).strip())
        text = ""
        answer = latest.locator(".response-col_description pre")
        if await answer.count():
            text = await answer.first.inner_text()
        # collapse it again so the next operation's locators stay unambiguous
        await operation.locator(".opblock-summary").first.click()
        return status, json.loads(text) if text.strip().startswith(("{", "[")) else text


async def test_try_it_out_works_for_every_route(demo):
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{demo}/api/docs/openapi.json") as response,
    ):
        document = await response.json()
    operations = {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    }
    executed: set[str] = set()

    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        page = await browser.new_page()
        await page.goto(f"{demo}/swagger/")
        ui = SwaggerPage(page)

        async def run(operation_id: str, expected: int, **kwargs: Any) -> Any:
            status, answer = await ui.execute(operation_id, **kwargs)
            assert status == expected, f"{operation_id}: {status} {answer}"
            executed.add(operation_id)
            return answer

        # the pre-filled example body is the demo user: no typing needed
        token = (await run("post_token", 200))["token"]
        auth = {"X-NHN-Token": token}
        flavors = (await run("get_compute_flavors", 200, fields=auth))["flavors"]
        await run("get_compute_keypairs", 200, fields=auth)
        images = (await run("get_compute_images", 200, fields=auth))["images"]
        await run("get_compute_instances", 200, fields=auth)
        vpc = (
            await run(
                "post_vpc_create", 201, fields=auth, body={"name": "ui-vpc", "cidr": "10.20.0.0/16"}
            )
        )["vpc"]
        vpcs = (await run("get_vpc", 200, fields=auth))["vpcs"]
        assert vpc["id"] in {item["id"] for item in vpcs}
        await run("get_vpc_vpc_id", 200, fields={**auth, "vpc_id": vpc["id"]})
        subnet = (
            await run(
                "post_subnet_create",
                201,
                fields=auth,
                body={"vpc_id": vpc["id"], "name": "ui-subnet", "cidr": "10.20.1.0/24"},
            )
        )["vpcsubnet"]
        await run("get_subnet", 200, fields=auth)
        await run("get_subnet_subnet_id", 200, fields={**auth, "subnet_id": subnet["id"]})
        await run("get_floatingip", 200, fields=auth)

        flavor = next(item for item in flavors if item["name"].startswith("m2."))
        image = next(item for item in images if "ubuntu" in item["name"].lower())
        server = (
            await run(
                "post_compute_instances_create",
                201,
                fields=auth,
                body={
                    "name": "ui-01",
                    "image_id": image["id"],
                    "flavor_id": flavor["id"],
                    "subnet_id": subnet["id"],
                    "keypair_name": "demo-keypair",
                },
            )
        )["server"]
        server_fields = {**auth, "server_id": server["id"]}
        await run("get_compute_instances_server_id", 200, fields=server_fields)
        await run(
            "post_compute_instances_server_id_action",
            200,
            fields=server_fields,
            body={"action": "stop"},
        )
        await run("delete_compute_instances_server_id", 204, fields=server_fields)

        default_vpc = next(item for item in vpcs if item["name"] == "Default Network")
        subnets = (await run("get_subnet", 200, fields=auth))["vpcsubnets"]
        default_subnet = next(item for item in subnets if item["vpc_id"] == default_vpc["id"])
        # the cluster is created as an async task (Prefer: respond-async), then followed
        # through the three task routes
        task = (
            await run(
                "post_nks_clusters_create",
                202,
                fields={**auth, "Prefer": "respond-async"},
                body={
                    "cluster_name": "ui-k8s",
                    "vpc_id": default_vpc["id"],
                    "subnet_id": default_subnet["id"],
                    "instance_type": flavor["id"],
                    "keypair_name": "demo-keypair",
                    "kubernetes_version": "v1.30.3",
                    "availability_zone": "kr-pub-a",
                },
            )
        )["task"]
        assert task["operation"] == "nks.cluster.create" and task["status"] == "pending"
        listed = (await run("get_tasks", 200, fields=auth))["tasks"]
        assert task["id"] in {item["id"] for item in listed}
        task_fields = {**auth, "task_id": task["id"]}
        await run("get_tasks_task_id", 200, fields=task_fields)
        stream = await run("get_tasks_task_id_events", 200, fields=task_fields)
        assert "event: task" in stream and '"status": "succeeded"' in stream
        await run("get_nks_clusters", 200, fields=auth)
        cluster = {**auth, "cluster_name": "ui-k8s"}
        await run("get_nks_clusters_cluster_name", 200, fields=cluster)
        config = await run("get_nks_clusters_cluster_name_config", 200, fields=cluster)
        assert config["config"].startswith("apiVersion: v1")
        await run("delete_nks_clusters_cluster_name", 204, fields=cluster)

        storage_token = await run(
            "post_token",
            200,
            body={
                "tenant_id": DEMO_STORAGE_TENANT_ID,
                "username": "demo@example.com",
                "password": "demo-password",
            },
        )
        assert storage_token["storage_account"] == f"AUTH_{DEMO_STORAGE_TENANT_ID}"
        storage = {"X-NHN-Token": storage_token["token"]}  # account header is pre-filled
        await run("post_storage_containers_create", 201, fields=storage, body={"name": "ui-box"})
        assert "ui-box" in (await run("get_storage_containers", 200, fields=storage))["containers"]
        box = {**storage, "container_name": "ui-box"}
        await run("get_storage_containers_container_name", 200, fields=box)
        await run("delete_storage_containers_container_name", 204, fields=box)

        await run("delete_subnet_subnet_id", 204, fields={**auth, "subnet_id": subnet["id"]})
        await run("delete_vpc_vpc_id", 204, fields={**auth, "vpc_id": vpc["id"]})
        await browser.close()

    assert executed == operations
    assert DEMO_TENANT_ID  # the demo tenant came from the pre-filled header example

"""Secrets never leak, end to end: a full scenario through the proxy to the emulator at
DEBUG with JSON logs (tokens for both tenants, instances and an NKS cluster as tasks, key
pairs with a generated private key, the kubeconfig, Object Storage, errors), then every
log record, every error answer and every task (its JSON and its event stream) is searched
for the password, the tokens, the kubeconfig credentials and the private key.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from nhn_proxy.emulator import DEMO_PASSWORD, DEMO_STORAGE_TENANT_ID, DEMO_TENANT_ID
from nhn_proxy.logs import MASK, setup_logging
from nhn_proxy.settings import load_settings
from tests.e2e.conftest import (
    JSON,
    Reply,
    Stack,
    StackFactory,
    check_error,
    cluster_body,
    create_keypair,
    default_subnet_id,
    flavor_id,
    ubuntu_image_id,
    unique,
)

pytestmark = pytest.mark.e2e

ASYNC = {"Prefer": "respond-async"}
WRONG_PASSWORD = "Wr0ng-Pa55word-7f3a"
SETTINGS = {
    "logging": {"level": "DEBUG", "format": "json"},
    "tasks": {"poll_initial": 0.05, "poll_max": 0.2, "deadline": 20},
}
SETTLED = {"succeeded", "failed", "timed_out", "interrupted"}


class Snapshot(logging.Handler):
    """Keeps each record's text as it is emitted, before any filter of a later handler
    rewrites the (shared) record."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = json.dumps(getattr(record, "fields", None), default=str, ensure_ascii=False)
        text = f"{record.name} {record.getMessage()} {fields}"
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.texts.append(text)


@pytest.fixture
def json_logs(caplog: pytest.LogCaptureFixture) -> Iterator[tuple[io.StringIO, Snapshot]]:
    """The root logger at DEBUG: a raw snapshot, then the proxy's own JSON handler (the
    JsonFormatter with the SecretFilter, installed by `setup_logging` as at start-up)."""
    caplog.set_level(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    snapshot = Snapshot()
    root.addHandler(snapshot)
    stream = io.StringIO()
    yield stream, snapshot
    root.removeHandler(snapshot)
    for handler in list(root.handlers):
        if getattr(handler, "nhn_proxy", False):
            root.removeHandler(handler)
    root.setLevel(level)


class Scenario:
    """Drives the proxy and keeps every answer, task and event stream it saw."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.replies: list[tuple[str, Reply]] = []
        self.tasks: list[tuple[str, str]] = []  # (what, raw text)

    async def call(self, method: str, path: str, kind: str | None = None, **kwargs: Any):
        reply = await self.stack.call(method, path, kind=kind, **kwargs)
        self.replies.append((f"{method} {path}", reply))
        return reply

    async def run_task(self, reply: Reply, kind: str) -> JSON:
        """Follow a 202 task: its event stream to the end, then its JSON and the list."""
        task = reply.expect(202)["task"]
        self.tasks.append(("202 answer", reply.text))
        url = self.stack.proxy_url + task["events_url"]
        async with asyncio.timeout(20), self.stack.session.get(url) as response:
            assert response.status == 200
            events = await response.text()
        self.tasks.append(("event stream", events))
        final = (await self.call("GET", f"/tasks/{task['id']}/", kind)).expect(200)["task"]
        assert final["status"] in SETTLED, final
        self.tasks.append(("task", json.dumps(final)))
        self.tasks.append(("task list", (await self.call("GET", "/tasks/", kind)).text))
        return final


async def run_scenario(stack: Stack, scenario: Scenario) -> dict[str, str]:
    """The whole scenario; returns the secrets it met, by name."""
    call = scenario.call
    # tokens (a wrong password first), for the compute and the Object Storage tenant
    wrong = {"tenant_id": DEMO_TENANT_ID, "username": "demo@example.com", "password": ""}
    check_error(await call("POST", "/token/", json={**wrong, "password": WRONG_PASSWORD}), 401)
    compute_token = (await stack.token())["token"]
    storage_token = (await stack.token(DEMO_STORAGE_TENANT_ID))["token"]

    # key pairs: one created natively with a generated private key, then listed
    keypair = await create_keypair(stack, "leaky-key")
    private_key = keypair["private_key"]
    keypairs = (await call("GET", "/compute/keypairs/", "compute")).expect(200)["keypairs"]
    assert {entry["keypair"]["name"] for entry in keypairs} >= {"leaky-key"}

    # compute: list, create as a task, read, stop, delete as a task
    (await call("GET", "/compute/instances/", "compute")).expect(200)
    body = {
        "name": unique("vm"),
        "image_id": await ubuntu_image_id(stack),
        "flavor_id": await flavor_id(stack),
        "subnet_id": await default_subnet_id(stack),
        "keypair_name": "leaky-key",
    }
    created = await call("POST", "/compute/instances/create/", "compute", json=body, headers=ASYNC)
    server = (await scenario.run_task(created, "compute"))["result"]["server"]
    (await call("GET", f"/compute/instances/{server['id']}/", "compute")).expect(200)
    deleted = await call("DELETE", f"/compute/instances/{server['id']}/", "compute", headers=ASYNC)
    assert (await scenario.run_task(deleted, "compute"))["status"] == "succeeded"

    # NKS: create as a task, wait for it, read the kubeconfig
    name = unique("k8s")[:20]
    body = await cluster_body(stack, name)
    created = await call("POST", "/nks/clusters/create/", "network", json=body, headers=ASYNC)
    assert (await scenario.run_task(created, "network"))["status"] == "succeeded"
    config = (await call("GET", f"/nks/clusters/{name}/config/", "network")).expect(200)
    kubeconfig = json.dumps(config)
    credentials = {}
    for line in config["config"].splitlines():
        key, _, value = line.strip().partition(": ")
        if key.endswith("-data"):
            credentials[key] = value
    assert {"client-key-data", "client-certificate-data"} <= set(credentials), kubeconfig

    # Object Storage
    container = unique("box")
    (await call("POST", "/storage/containers/create/", "storage", json={"name": container})).expect(
        201
    )
    (await call("GET", "/storage/containers/", "storage")).expect(200)
    (await call("GET", f"/storage/containers/{container}/", "storage")).expect(200)
    (await call("DELETE", f"/storage/containers/{container}/", "storage")).expect(204)

    # errors: NHN's own (it echoes the id asked for), and a task that fails
    missing = str(uuid.uuid4())
    check_error(await call("GET", f"/compute/instances/{missing}/", "compute"), 404, missing)
    check_error(await call("GET", f"/nks/clusters/{name}x/config/", "network"), 404)
    quota = f"Quota exceeded for clusters of tenant {DEMO_TENANT_ID}"
    await stack.fault(
        service="kubernetes", method="POST", action="status", status=403, message=quota, times=1
    )
    body = {**body, "cluster_name": unique("k")[:20]}
    failed = await call("POST", "/nks/clusters/create/", "network", json=body, headers=ASYNC)
    task = await scenario.run_task(failed, "network")
    assert task["status"] == "failed" and quota in task["error"]["error"], task
    return {
        "password": DEMO_PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "compute token": compute_token,
        "storage token": storage_token,
        **{f"kubeconfig {key}": value for key, value in credentials.items()},
        "private key (first line)": private_key.splitlines()[1],
        "private key (last line)": private_key.splitlines()[-2],
    }


def leaks(secrets: dict[str, str], texts: list[tuple[str, str]]) -> list[str]:
    return [
        f"{name} in {where}: {text[:300]!r}"
        for where, text in texts
        for name, secret in secrets.items()
        if secret in text
    ]


async def test_a_full_scenario_at_debug_leaks_no_secret(
    make_stack: StackFactory,
    json_logs: tuple[io.StringIO, Snapshot],
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream, snapshot = json_logs
    stack = await make_stack(settings=SETTINGS)
    settings = load_settings(stack.settings_path, environ={})
    assert (settings.logging.level, settings.logging.format) == ("DEBUG", "json")
    setup_logging(settings.logging, stream=stream)  # what `nhn-proxy serve` does
    caplog.set_level(logging.DEBUG)
    scenario = Scenario(stack)

    secrets = await run_scenario(stack, scenario)

    lines = stream.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]  # one JSON object per line
    records = [
        (
            f"caplog {record.name}",
            record.getMessage() + json.dumps(getattr(record, "fields", None), default=str),
        )
        for record in caplog.records
    ]
    errors = [(where, reply.text) for where, reply in scenario.replies if reply.status >= 400]
    found = [
        *leaks(secrets, [("JSON log", line) for line in lines]),
        *leaks(secrets, [("raw record", text) for text in snapshot.texts]),
        *leaks(secrets, records),
        *leaks(secrets, errors),
        *leaks(secrets, scenario.tasks),
    ]
    assert found == [], "\n".join(found)

    # the search was not vacuous: bodies were logged at DEBUG, with the secrets masked
    loggers = {entry["logger"] for entry in entries}
    assert {"nhn_proxy.access", "nhn_proxy.upstream"} <= loggers
    access = [entry for entry in entries if entry["logger"] == "nhn_proxy.access"]
    assert len(access) >= len(scenario.replies)
    assert any("response" in entry for entry in access)
    assert any("body" in entry for entry in entries if entry["logger"] == "nhn_proxy.upstream")
    assert MASK in stream.getvalue()
    assert len(errors) >= 3 and len(scenario.tasks) >= 12
    assert len(snapshot.texts) == len(lines)


async def test_an_upstream_error_echoing_secrets_is_masked_in_the_logs(
    make_stack: StackFactory, json_logs: tuple[io.StringIO, Snapshot]
) -> None:
    """NHN (a hostile or buggy one) echoes the caller's token, a private key and kubeconfig
    credentials in an error message: none of it reaches a log line."""
    stream, snapshot = json_logs
    stack = await make_stack(settings=SETTINGS)
    setup_logging(load_settings(stack.settings_path, environ={}).logging, stream=stream)
    token = (await stack.token())["token"]
    private_key = (await create_keypair(stack))["private_key"]
    key_line = private_key.splitlines()[1]
    echo = f"token {token} is not allowed; {private_key} client-key-data: S0VZLXNlY3JldA=="
    await stack.fault(service="compute", action="status", status=400, message=echo)
    reply = await stack.get("/compute/keypairs/", "compute")
    assert reply.status == 400, reply
    secrets = {"token": token, "private key": key_line, "kubeconfig key": "S0VZLXNlY3JldA=="}
    texts = [("JSON log", line) for line in stream.getvalue().splitlines()]
    found = leaks(secrets, texts) + leaks(secrets, [("raw record", t) for t in snapshot.texts])
    assert found == [], "\n".join(found)
    assert any("upstream answer" in line for _, line in texts)


async def test_an_upstream_error_echoing_secrets_is_masked_in_the_error_body(
    stack: Stack,
) -> None:
    token = (await stack.token())["token"]
    private_key = (await create_keypair(stack))["private_key"]
    key_line = private_key.splitlines()[1]
    echo = f"token {token} is not allowed; {private_key} client-key-data: S0VZLXNlY3JldA=="
    await stack.fault(service="compute", action="status", status=400, message=echo)
    reply = await stack.get("/compute/keypairs/", "compute")
    message = check_error(reply, 400, "not allowed")
    for name, secret in {"token": token, "private key": key_line}.items():
        assert secret not in reply.text, f"{name} in the error body: {message[:200]}"
    assert "S0VZLXNlY3JldA==" not in reply.text

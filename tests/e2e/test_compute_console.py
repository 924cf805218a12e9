"""Compute as a console uses it, through the proxy against the emulator: key pairs created
(NHN generates the pair; its private key reaches the caller and no log line) and imported,
their conflicts and deletion; an instance resized as a task, then confirmed, reverted or
confirmed by NHN itself; a GPU instance booting from its local disk.

NHN facts (Instance API v2 guide, "Key Pairs", "Change Instance Flavor", "Instance Status",
"Create Instance"; Instance console guide, "Change instance flavor"; GPU Instance console
guide):

* `POST /v2/{tenantId}/os-keypairs` without `public_key` generates the pair and answers its
  `private_key`; the fingerprint reads `SHA256:+EZoD…/DKiGnY4zf5tYrcix0` (OpenSSH's SHA-256);
* `resize` takes `{"flavorRef"}` for an ACTIVE or SHUTOFF instance; `VERIFY_RESIZE` "becomes
  ACTIVE automatically on NHN Cloud"; u2 and GPU instances cannot change flavor, and the
  other families cannot change to u2;
* `destination_type` is `local` for GPU and u2 flavors (`g2.t4.c4m32`, …), and a u2 root's
  `volume_size` is ignored (the flavor's size is used).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from nhn_proxy.emulator import DEMO_TENANT_ID
from nhn_proxy.logs import MASK, setup_logging
from nhn_proxy.settings import load_settings
from tests.e2e.conftest import (
    JSON,
    Reply,
    Stack,
    StackFactory,
    check_error,
    check_shape,
    create_server,
    default_subnet_id,
    flavor_id,
    ubuntu_image_id,
    unique,
)
from tests.e2e.conftest import (
    create_keypair as create_native_keypair,
)

pytestmark = pytest.mark.e2e

ASYNC = {"Prefer": "respond-async"}
COMPUTE = f"/kr2/compute/v2/{DEMO_TENANT_ID}"
# long enough that nothing settles unless the test moves the emulator's clock
DELAY = 60.0
TASKS = {"tasks": {"poll_initial": 0.05, "poll_max": 0.2, "deadline": 20}}
KEYPAIR_SHAPE = {"name": str, "public_key": str, "fingerprint": str}


def ssh_key(kind: str, *fields: bytes) -> str:
    """An OpenSSH public key line: the type, then its wire-format fields, as SSH strings."""
    blob = b"".join(len(f).to_bytes(4, "big") + f for f in (kind.encode(), *fields))
    return f"{kind} {base64.b64encode(blob).decode()} console@example"


ED25519_KEY = ssh_key("ssh-ed25519", bytes(range(32)))


def sha256_fingerprint(public_key: str) -> str:
    digest = hashlib.sha256(base64.b64decode(public_key.split()[1])).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@pytest.fixture
def proxy_logs(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Where the proxy's own JSON log handler writes (installed as `serve` does, by the
    test); the root logger at DEBUG for the test, restored afterwards."""
    caplog.set_level(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    yield stream
    for handler in list(root.handlers):
        if getattr(handler, "nhn_proxy", False):
            root.removeHandler(handler)
    root.setLevel(level)


async def make_console_stack(make_stack: StackFactory, **settings: Any) -> Stack:
    return await make_stack(build_delay=DELAY, settings={**TASKS, **settings})


async def create_keypair(stack: Stack, body: JSON) -> Reply:
    return await stack.post("/compute/keypairs/create/", "compute", body)


# -- key pairs --------------------------------------------------------------------------------


async def test_generated_keypair_answers_its_private_key_and_no_log_carries_it(
    make_stack: StackFactory, proxy_logs: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    stack = await make_console_stack(make_stack, logging={"level": "DEBUG", "format": "json"})
    setup_logging(load_settings(stack.settings_path, environ={}).logging, stream=proxy_logs)
    caplog.set_level(logging.DEBUG)
    await stack.headers("compute")
    await stack.clear_requests()

    reply = await create_keypair(stack, {"name": "console-gen"})
    keypair = reply.expect(201)["keypair"]
    check_shape(keypair, {**KEYPAIR_SHAPE, "private_key": str})
    assert keypair["name"] == "console-gen"
    private_key = keypair["private_key"]
    lines = private_key.splitlines()
    assert lines[0] == "-----BEGIN RSA PRIVATE KEY-----"
    assert lines[-1] == "-----END RSA PRIVATE KEY-----" and len(lines) > 10
    assert keypair["public_key"].startswith("ssh-rsa ")
    assert keypair["public_key"].endswith(" Generated-by-Nova")
    assert keypair["fingerprint"] == sha256_fingerprint(keypair["public_key"])
    (native,) = await stack.native_requests()
    assert (native["method"], native["path"]) == ("POST", f"{COMPUTE}/os-keypairs")
    assert native["body"] == {"keypair": {"name": "console-gen"}}  # NHN generates the pair
    listed = (await stack.get("/compute/keypairs/", "compute")).expect(200)["keypairs"]
    assert {"keypair": {k: keypair[k] for k in KEYPAIR_SHAPE}} in listed

    logged = proxy_logs.getvalue()
    records = [
        record.getMessage() + json.dumps(getattr(record, "fields", None), default=str)
        for record in caplog.records
    ]
    # the search is not vacuous: NHN's answer was logged at DEBUG, its private key masked
    answers = [
        entry["body"]["keypair"]
        for entry in map(json.loads, logged.splitlines())
        if (entry["logger"], entry["message"]) == ("nhn_proxy.upstream", "upstream answer")
        and isinstance(entry.get("body"), dict)
        and isinstance(entry["body"].get("keypair"), dict)
    ]
    assert [answer["name"] for answer in answers] == ["console-gen"]
    assert MASK in answers[0]["private_key"]
    assert "/compute/keypairs/create/" in logged
    for secret in (private_key, *lines[1:-1]):
        assert secret not in logged
        assert not any(secret in text for text in records)


async def test_imported_keypair_has_no_private_key(stack: Stack) -> None:
    await stack.headers("compute")
    await stack.clear_requests()
    reply = await create_keypair(stack, {"name": "console-imp", "public_key": ED25519_KEY})
    assert reply.expect(201) == {
        "keypair": {
            "name": "console-imp",
            "public_key": ED25519_KEY,
            "fingerprint": sha256_fingerprint(ED25519_KEY),
        }
    }
    (native,) = await stack.native_requests()
    assert native["body"] == {"keypair": {"name": "console-imp", "public_key": ED25519_KEY}}


async def test_keypair_name_in_use_is_409(stack: Stack) -> None:
    (await create_keypair(stack, {"name": "console-dup"})).expect(201)
    again = await create_keypair(stack, {"name": "console-dup", "public_key": ED25519_KEY})
    check_error(again, 409, "Key pair 'console-dup' already exists.")


async def test_bad_public_keys_are_400(stack: Stack) -> None:
    # not a key line at all: the proxy refuses it without asking NHN
    reply, calls = await stack.traced(
        "POST",
        "/compute/keypairs/create/",
        "compute",
        json={"name": "console-bad", "public_key": "not a key"},
    )
    check_error(reply, 400, "public_key")
    assert calls == []
    # an ssh-rsa line whose modulus is cut short: NHN (Nova) cannot read it, its 400 passes
    truncated = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 console@example"
    reply, calls = await stack.traced(
        "POST",
        "/compute/keypairs/create/",
        "compute",
        json={"name": "console-bad", "public_key": truncated},
    )
    check_error(reply, 400, "Keypair data is invalid: failed to generate fingerprint")
    assert calls == [("POST", f"{COMPUTE}/os-keypairs")]
    missing = await stack.native("GET", f"{COMPUTE}/os-keypairs/console-bad")
    assert missing.status == 404


async def test_keypair_delete_is_204_then_404(stack: Stack) -> None:
    (await create_keypair(stack, {"name": "console-del", "public_key": ED25519_KEY})).expect(201)
    reply, calls = await stack.traced("DELETE", "/compute/keypairs/console-del/", "compute")
    assert reply.status == 204 and reply.text == ""
    assert calls == [("DELETE", f"{COMPUTE}/os-keypairs/console-del")]
    listed = (await stack.get("/compute/keypairs/", "compute")).expect(200)["keypairs"]
    assert "console-del" not in {entry["keypair"]["name"] for entry in listed}
    gone = await stack.delete("/compute/keypairs/console-del/", "compute")
    check_error(gone, 404, "console-del")
    unknown = await stack.delete("/compute/keypairs/never-there/", "compute")
    check_error(unknown, 404, "never-there")


# -- resize -------------------------------------------------------------------------------------


async def server_of(stack: Stack, server_id: str) -> JSON:
    return (await stack.get(f"/compute/instances/{server_id}/", "compute")).expect(200)["server"]


async def active_server(stack: Stack) -> JSON:
    """A new m2.c2m4 instance, ACTIVE (the emulator's clock moved past the build)."""
    server = await create_server(stack)
    await stack.advance(DELAY + 0.01)
    shown = await server_of(stack, server["id"])
    assert shown["status"] == "ACTIVE"
    return shown


async def act(stack: Stack, server_id: str, action: str, **extra: Any) -> Reply:
    body = {"action": action, **extra}
    return await stack.post(f"/compute/instances/{server_id}/action/", "compute", body)


async def native_actions(stack: Stack, server_id: str) -> list[JSON]:
    return [
        entry["body"]
        for entry in await stack.native_requests(method="POST", service="compute")
        if entry["path"] == f"{COMPUTE}/servers/{server_id}/action"
    ]


async def follow_task(stack: Stack, task_id: str) -> JSON:
    async def probe() -> JSON:
        return (await stack.get(f"/tasks/{task_id}/", "compute")).expect(200)["task"]

    return await stack.wait_for(
        probe, lambda task: task["status"] != "pending" and task["status"] != "running"
    )


async def test_resize_as_a_task_then_confirm(make_stack: StackFactory) -> None:
    stack = await make_console_stack(make_stack)
    server = await active_server(stack)
    old, new = await flavor_id(stack, "m2.c2m4"), await flavor_id(stack, "m2.c4m8")
    assert server["flavor"] == {"id": old}

    reply = await stack.post(
        f"/compute/instances/{server['id']}/action/",
        "compute",
        {"action": "resize", "flavor_id": new},
        headers=ASYNC,
    )
    task = reply.expect(202)["task"]
    assert task["operation"] == "compute.instance.resize" and task["status"] == "pending"
    assert (await server_of(stack, server["id"]))["status"] == "RESIZE"
    await stack.advance(DELAY + 0.01)  # the resize is done: NHN waits in VERIFY_RESIZE
    final = await follow_task(stack, task["id"])
    assert final["status"] == "succeeded", final
    assert final["resource"] == {"type": "instance", "id": server["id"]}
    result = final["result"]["server"]
    assert (result["status"], result["flavor"]) == ("VERIFY_RESIZE", {"id": new})

    assert (await act(stack, server["id"], "confirm_resize")).expect(200) == {
        "status": "success",
        "action": "confirm_resize",
    }
    shown = await server_of(stack, server["id"])
    assert (shown["status"], shown["flavor"]) == ("ACTIVE", {"id": new})
    assert await native_actions(stack, server["id"]) == [
        {"resize": {"flavorRef": new}},
        {"confirmResize": None},
    ]


async def test_resize_then_revert(make_stack: StackFactory) -> None:
    stack = await make_console_stack(make_stack)
    server = await active_server(stack)
    old, new = await flavor_id(stack, "m2.c2m4"), await flavor_id(stack, "c2.c4m4")
    (await act(stack, server["id"], "resize", flavor_id=new)).expect(200)
    await stack.advance(DELAY + 0.01)
    assert (await server_of(stack, server["id"]))["status"] == "VERIFY_RESIZE"

    (await act(stack, server["id"], "revert_resize")).expect(200)
    assert (await server_of(stack, server["id"]))["status"] == "REVERT_RESIZE"
    await stack.advance(DELAY + 0.01)
    shown = await server_of(stack, server["id"])
    assert (shown["status"], shown["flavor"]) == ("ACTIVE", {"id": old})
    assert await native_actions(stack, server["id"]) == [
        {"resize": {"flavorRef": new}},
        {"revertResize": None},
    ]


async def test_nhn_confirms_a_resize_by_itself(make_stack: StackFactory) -> None:
    stack = await make_console_stack(make_stack)
    server = await active_server(stack)
    new = await flavor_id(stack, "r2.c2m16")
    (await act(stack, server["id"], "resize", flavor_id=new)).expect(200)
    await stack.advance(2 * DELAY + 0.01)
    shown = await server_of(stack, server["id"])
    assert (shown["status"], shown["flavor"]) == ("ACTIVE", {"id": new})
    # nothing is left to confirm: NHN's 409, in the standard shape
    late = await act(stack, server["id"], "confirm_resize")
    check_error(late, 409, "confirmResize", "vm_state active")


async def test_resize_errors(make_stack: StackFactory) -> None:
    stack = await make_console_stack(make_stack)
    server = await active_server(stack)
    path = f"/compute/instances/{server['id']}/action/"
    # no flavor_id: the proxy's own 400, NHN is not asked
    reply, calls = await stack.traced("POST", path, "compute", json={"action": "resize"})
    check_error(reply, 400, "flavor_id")
    assert calls == []
    # the flavor the instance has: NHN's 400 passed through
    same = await act(stack, server["id"], "resize", flavor_id=server["flavor"]["id"])
    check_error(same, 400, "must change flavor")
    # to u2: NHN's rule
    u2 = await act(stack, server["id"], "resize", flavor_id=await flavor_id(stack, "u2.c2m4"))
    check_error(u2, 400, "u2.c2m4")
    # nothing to confirm or revert on an ACTIVE instance
    check_error(await act(stack, server["id"], "revert_resize"), 409, "vm_state active")
    assert (await server_of(stack, server["id"]))["flavor"] == server["flavor"]


# -- GPU ------------------------------------------------------------------------------------------


async def test_gpu_instance_boots_from_its_local_disk(make_stack: StackFactory) -> None:
    stack = await make_console_stack(make_stack)
    await create_native_keypair(stack)  # e2e-key
    gpu = await flavor_id(stack, "g2.t4.c4m32")
    body = {
        "name": unique("gpu"),
        "image_id": await ubuntu_image_id(stack),
        "flavor_id": gpu,
        "subnet_id": await default_subnet_id(stack),
        "keypair_name": "e2e-key",
        "volume_size": 100,
    }
    await stack.clear_requests()
    created = (await stack.post("/compute/instances/create/", "compute", body)).expect(201)
    native = (await stack.native_requests(method="POST", service="compute"))[-1]["body"]
    (root,) = native["server"]["block_device_mapping_v2"]
    assert root == {
        "source_type": "image",
        "uuid": body["image_id"],
        "boot_index": 0,
        "destination_type": "local",
        "volume_size": 100,  # a GPU flavor has no fixed disk: the size asked for
        "delete_on_termination": True,
    }
    await stack.advance(DELAY + 0.01)
    shown = await server_of(stack, created["server"]["id"])
    assert (shown["status"], shown["flavor"]) == ("ACTIVE", {"id": gpu})
    raw = (await stack.native("GET", f"{COMPUTE}/servers/{shown['id']}")).expect(200)["server"]
    assert raw["os-extended-volumes:volumes_attached"] == []  # no boot volume
    assert raw["metadata"]["volume_size"] == "100"
    # and a GPU instance cannot change flavor (NHN's GPU guide)
    resize = await act(stack, shown["id"], "resize", flavor_id=await flavor_id(stack))
    check_error(resize, 400, "g2.t4.c4m32")

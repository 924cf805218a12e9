"""Watchers of the built-in plugins (design §4): which operations they declare, how they name
the resource, the native request each poll sends and how each answer is judged."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from nhn_proxy.context import NhnContext
from nhn_proxy.errors import BadRequest, UpstreamBadResponse, UpstreamHTTPError
from nhn_proxy.plugin_manager import load_plugins
from nhn_proxy.plugins import compute, kubernetes
from nhn_proxy.routing import Call
from nhn_proxy.settings import Settings
from nhn_proxy.tasks.watch import Poll, PollState, Watcher
from nhn_proxy.upstream import Upstream
from tests.conftest import (
    COMPUTE_KR2,
    KUBERNETES_KR2,
    TENANT,
    TOKEN,
    compute_headers,
    network_headers,
)

SERVER_ID = "3a005d5b-63cf-4493-bfc6-49db990b5b50"
CLUSTER_UUID = "5801ef8a-3760-4858-b467-fc4c1201241d"
SERVER_URL = f"{COMPUTE_KR2}/servers/{SERVER_ID}"
CLUSTER_URL = f"{KUBERNETES_KR2}/v1/clusters/{CLUSTER_UUID}"
REQUEST_ID = "req-watch-1"
OPERATIONS = {
    ("POST", "/compute/instances/create/"): "compute.instance.create",
    ("DELETE", "/compute/instances/{server_id}/"): "compute.instance.delete",
    ("POST", "/nks/clusters/create/"): "nks.cluster.create",
    ("DELETE", "/nks/clusters/{cluster_name}/"): "nks.cluster.delete",
}


def _native_server(status: str, task_state: str | None = None, fault: object = None) -> dict:
    server = {
        "id": SERVER_ID,
        "name": "web-01",
        "status": status,
        "tenant_id": TENANT,
        "created": "2024-05-01T09:00:00Z",
        "updated": "2024-05-01T09:01:00Z",
        "addresses": {
            "Default Network": [
                {
                    "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:54:a7:64",
                    "version": 4,
                    "addr": "192.168.0.40",
                    "OS-EXT-IPS:type": "fixed",
                }
            ]
        },
        "key_name": "my-keypair",
        "image": "",
        "flavor": {"id": "a4b6a0f7-aeff-4d78-a8d5-7de9f007012d", "links": []},
        "OS-EXT-STS:task_state": task_state,
        "OS-EXT-STS:vm_state": status.lower(),
    }
    if fault is not None:
        server["fault"] = fault
    return {"server": server}


def _native_cluster(status: str, reason: str | None = None) -> dict:
    return {
        "uuid": CLUSTER_UUID,
        "name": "k8s-new",
        "status": status,
        "status_reason": reason,
        "node_count": 3,
        "coe_version": "v1.28.3",
        "labels": {"kube_tag": "v1.28.3"},
        "api_address": "https://5801ef8a-kr2-k8s.container.cloud.toast.com:6443",
        "created_at": "2024-05-01T09:00:00+00:00",
        "updated_at": "2024-05-01T09:12:00+00:00",
        "health_status": "HEALTHY",
        "fixed_network": "eb212079-b6ec-430c-ba57-14280a457bcb",
        "fixed_subnet": "4fdf5b80-3d35-43f5-a5c1-010a3b6c8e90",
        "flavor_id": "6ef27f21-c774-4c0e-84ff-7dd4a762571f",
        "keypair": "my-keypair",
        "stack_id": "7f497472-9729-4b89-9124-1c097335b856",
    }


def _nova_not_found() -> dict:
    return {"itemNotFound": {"code": 404, "message": f"Instance {SERVER_ID} could not be found."}}


def _magnum_error(status: int, detail: str) -> dict:
    return {"errors": [{"status": status, "code": "client", "title": detail, "detail": detail}]}


@pytest.fixture
async def upstream(settings: Settings, nhn) -> AsyncIterator[Upstream]:
    """The proxy's upstream client, started outside any app (NHN mocked by `nhn`)."""
    client = Upstream(settings.upstream, settings.regions.allowed)
    await client.start()
    yield client
    await client.close()


def _call(upstream: Upstream, settings: Settings, tenant: str | None = TENANT, **params) -> Call:
    """The `Call` a task carries: the checked context of the request that started it."""
    return Call(
        request=None,  # type: ignore[arg-type]  # a task runs after its request has ended
        ctx=NhnContext(request_id=REQUEST_ID, region="kr2", token=TOKEN, tenant_id=tenant),
        params=dict(params),
        body={},
        query={},
        upstream=upstream,
        settings=settings,
    )


def _assert_get(nhn, url: str) -> dict[str, str]:
    """Exactly one native call was sent: a GET of `url` with the caller's token."""
    sent = nhn.only_call()
    assert (sent.method, sent.url, sent.json) == ("GET", url, None)
    assert sent.headers["X-Auth-Token"] == TOKEN
    assert sent.headers["X-Request-ID"] == REQUEST_ID
    assert sent.headers["Accept"] == "application/json"
    return sent.headers


def _assert_nks_get(nhn, url: str) -> None:
    headers = _assert_get(nhn, url)
    assert headers["OpenStack-API-Version"] == "container-infra latest"


# ------------------------------------------------------------------ declarations


def test_the_hooks_declare_exactly_the_four_operations(settings):
    compute_watchers = compute.nhn_proxy_watchers(settings)
    kubernetes_watchers = kubernetes.nhn_proxy_watchers(settings)
    assert set(compute_watchers) == {"compute.instance.create", "compute.instance.delete"}
    assert set(kubernetes_watchers) == {"nks.cluster.create", "nks.cluster.delete"}
    for watcher in compute_watchers.values():
        assert isinstance(watcher, Watcher)
        assert watcher.resource_type == "instance"
    for watcher in kubernetes_watchers.values():
        assert isinstance(watcher, Watcher)
        assert watcher.resource_type == "cluster"


def test_the_plugin_manager_collects_the_built_in_watchers(settings):
    watchers = load_plugins(settings).watchers(settings)
    assert set(watchers) == set(OPERATIONS.values())


def test_each_operation_route_names_a_declared_watcher(settings):
    plugins = load_plugins(settings)
    watchers = plugins.watchers(settings)
    declared = {
        (route.method, route.path): route.operation
        for route in plugins.routes(settings)
        if route.operation is not None
    }
    assert declared == OPERATIONS
    assert set(declared.values()) <= set(watchers)


def test_a_disabled_plugin_takes_its_watchers_along(settings):
    disabled = dataclasses.replace(
        settings, plugins=dataclasses.replace(settings.plugins, disabled=("kubernetes",))
    )
    assert set(load_plugins(disabled).watchers(disabled)) == {
        "compute.instance.create",
        "compute.instance.delete",
    }


# ------------------------------------------------------------------ resource ids


def test_instance_create_names_the_new_server_from_the_answer(upstream, settings):
    watcher = compute.nhn_proxy_watchers(settings)["compute.instance.create"]
    answer = {"server": {"id": SERVER_ID, "name": "web-01", "status": "BUILD"}}
    assert watcher.resource_id(_call(upstream, settings), answer) == SERVER_ID


def test_instance_delete_names_the_server_of_the_path(upstream, settings):
    watcher = compute.nhn_proxy_watchers(settings)["compute.instance.delete"]
    assert watcher.resource_id(_call(upstream, settings, server_id=SERVER_ID), None) == SERVER_ID


def test_cluster_create_names_the_new_cluster_by_uuid(upstream, settings):
    watcher = kubernetes.nhn_proxy_watchers(settings)["nks.cluster.create"]
    answer = {
        "cluster": {
            "uuid": CLUSTER_UUID,
            "name": "k8s-new",
            "status": "CREATE_IN_PROGRESS",
            "node_count": 3,
        }
    }
    assert watcher.resource_id(_call(upstream, settings, tenant=None), answer) == CLUSTER_UUID


def test_cluster_delete_names_the_cluster_of_the_path(upstream, settings):
    watcher = kubernetes.nhn_proxy_watchers(settings)["nks.cluster.delete"]
    call = _call(upstream, settings, tenant=None, cluster_name="k8s-old")
    assert watcher.resource_id(call, None) == "k8s-old"


# ------------------------------------------------------------------ instance create


async def _poll(plugin, operation: str, call: Call, resource_id: str) -> Poll:
    return await plugin.nhn_proxy_watchers(call.settings)[operation].poll(call, resource_id)


@pytest.mark.parametrize("status", ["BUILD", "REBOOT", "SHUTOFF", "UNKNOWN"])
async def test_instance_create_is_pending_until_active(upstream, settings, nhn, status):
    nhn.get(SERVER_URL, payload=_native_server(status, task_state="spawning"))
    poll = await _poll(compute, "compute.instance.create", _call(upstream, settings), SERVER_ID)
    assert poll == Poll(PollState.PENDING)
    _assert_get(nhn, SERVER_URL)


async def test_instance_create_succeeds_with_what_the_get_route_answers(
    upstream, settings, nhn, client
):
    nhn.get(SERVER_URL, payload=_native_server("ACTIVE"), repeat=True)
    poll = await _poll(compute, "compute.instance.create", _call(upstream, settings), SERVER_ID)
    response = await client.get(
        f"/api/nhn/compute/instances/{SERVER_ID}/", headers=compute_headers()
    )
    assert response.status == 200
    assert poll.state is PollState.SUCCEEDED
    assert poll.result == await response.json()
    assert poll.result == {
        "server": {
            "id": SERVER_ID,
            "name": "web-01",
            "status": "ACTIVE",
            "addresses": _native_server("ACTIVE")["server"]["addresses"],
            "created": "2024-05-01T09:00:00Z",
            "flavor": {"id": "a4b6a0f7-aeff-4d78-a8d5-7de9f007012d"},
            "image": {"id": None},
        }
    }


async def test_instance_create_sends_the_native_get_server(upstream, settings, nhn):
    nhn.get(SERVER_URL, payload=_native_server("ACTIVE"))
    await _poll(compute, "compute.instance.create", _call(upstream, settings), SERVER_ID)
    headers = _assert_get(nhn, SERVER_URL)
    assert "Content-Type" not in headers


async def test_instance_create_fails_with_novas_fault_message(upstream, settings, nhn):
    fault = {"code": 500, "message": "No valid host was found. ", "created": "2024-05-01T09:01Z"}
    nhn.get(SERVER_URL, payload=_native_server("ERROR", fault=fault))
    poll = await _poll(compute, "compute.instance.create", _call(upstream, settings), SERVER_ID)
    assert poll == Poll(PollState.FAILED, None, "No valid host was found. ")


@pytest.mark.parametrize("fault", [None, {"code": 500}, {"message": ""}, "broken"])
async def test_instance_create_fails_with_a_default_message_without_a_fault(
    upstream, settings, nhn, fault
):
    nhn.get(SERVER_URL, payload=_native_server("ERROR", fault=fault))
    poll = await _poll(compute, "compute.instance.create", _call(upstream, settings), SERVER_ID)
    assert poll == Poll(PollState.FAILED, None, "instance went to ERROR")


async def test_instance_create_lets_a_404_through(upstream, settings, nhn):
    nhn.get(SERVER_URL, status=404, payload=_nova_not_found())
    with pytest.raises(UpstreamHTTPError) as caught:
        await _poll(compute, "compute.instance.create", _call(upstream, settings), SERVER_ID)
    assert caught.value.upstream_status == 404
    assert caught.value.message == f"Instance {SERVER_ID} could not be found."


async def test_instance_create_lets_server_errors_through(upstream, settings, nhn):
    nhn.get(SERVER_URL, status=500, payload={"computeFault": {"code": 500, "message": "boom"}})
    with pytest.raises(UpstreamHTTPError) as caught:
        await _poll(compute, "compute.instance.create", _call(upstream, settings), SERVER_ID)
    assert (caught.value.upstream_status, caught.value.status) == (500, 502)


async def test_instance_create_unusable_answer_is_a_bad_response(upstream, settings, nhn):
    nhn.get(SERVER_URL, payload={"servers": []})
    with pytest.raises(UpstreamBadResponse):
        await _poll(compute, "compute.instance.create", _call(upstream, settings), SERVER_ID)


async def test_instance_poll_encodes_the_resource_id_as_one_segment(upstream, settings, nhn):
    nhn.get(f"{COMPUTE_KR2}/servers/a%2F..%2Fb", payload=_native_server("BUILD"))
    poll = await _poll(compute, "compute.instance.create", _call(upstream, settings), "a/../b")
    assert poll.state is PollState.PENDING
    _assert_get(nhn, f"{COMPUTE_KR2}/servers/a%2F..%2Fb")


async def test_instance_poll_refuses_a_relative_segment_without_a_call(upstream, settings, nhn):
    with pytest.raises(BadRequest):
        await _poll(compute, "compute.instance.create", _call(upstream, settings), "..")
    assert nhn.calls() == []


# ------------------------------------------------------------------ instance delete


async def test_instance_delete_succeeds_once_the_server_is_gone(upstream, settings, nhn):
    nhn.get(SERVER_URL, status=404, payload=_nova_not_found())
    call = _call(upstream, settings, server_id=SERVER_ID)
    poll = await _poll(compute, "compute.instance.delete", call, SERVER_ID)
    assert poll == Poll(PollState.SUCCEEDED, None)
    _assert_get(nhn, SERVER_URL)


async def test_instance_delete_succeeds_on_novas_deleted_status(upstream, settings, nhn):
    nhn.get(SERVER_URL, payload=_native_server("DELETED"))
    call = _call(upstream, settings, server_id=SERVER_ID)
    assert await _poll(compute, "compute.instance.delete", call, SERVER_ID) == Poll(
        PollState.SUCCEEDED
    )


@pytest.mark.parametrize(
    ("status", "task_state"),
    [
        ("ACTIVE", "deleting"),
        ("SHUTOFF", "deleting"),
        ("ACTIVE", None),  # Nova has not picked the delete up yet
        ("ERROR", "deleting"),  # an errored server keeps ERROR while it is deleted
    ],
)
async def test_instance_delete_is_pending_while_the_server_exists(
    upstream, settings, nhn, status, task_state
):
    nhn.get(SERVER_URL, payload=_native_server(status, task_state=task_state))
    call = _call(upstream, settings, server_id=SERVER_ID)
    assert await _poll(compute, "compute.instance.delete", call, SERVER_ID) == Poll(
        PollState.PENDING
    )


async def test_instance_delete_fails_when_nova_gives_up_with_error(upstream, settings, nhn):
    fault = {"code": 500, "message": "Failed to delete the boot volume"}
    nhn.get(SERVER_URL, payload=_native_server("ERROR", fault=fault))
    call = _call(upstream, settings, server_id=SERVER_ID)
    poll = await _poll(compute, "compute.instance.delete", call, SERVER_ID)
    assert poll == Poll(PollState.FAILED, None, "Failed to delete the boot volume")


async def test_instance_delete_error_without_a_fault_has_a_default_message(upstream, settings, nhn):
    nhn.get(SERVER_URL, payload=_native_server("ERROR"))
    call = _call(upstream, settings, server_id=SERVER_ID)
    poll = await _poll(compute, "compute.instance.delete", call, SERVER_ID)
    assert poll == Poll(PollState.FAILED, None, "instance went to ERROR")


@pytest.mark.parametrize("status", [401, 403, 500])
async def test_instance_delete_lets_other_upstream_errors_through(upstream, settings, nhn, status):
    nhn.get(SERVER_URL, status=status, payload={"error": {"code": status, "message": "nope"}})
    call = _call(upstream, settings, server_id=SERVER_ID)
    with pytest.raises(UpstreamHTTPError) as caught:
        await _poll(compute, "compute.instance.delete", call, SERVER_ID)
    assert caught.value.upstream_status == status


# ------------------------------------------------------------------ cluster create


@pytest.mark.parametrize("status", ["CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"])
async def test_cluster_create_is_pending_until_complete(upstream, settings, nhn, status):
    nhn.get(CLUSTER_URL, payload=_native_cluster(status))
    call = _call(upstream, settings, tenant=None)
    assert await _poll(kubernetes, "nks.cluster.create", call, CLUSTER_UUID) == Poll(
        PollState.PENDING
    )
    _assert_nks_get(nhn, CLUSTER_URL)


async def test_cluster_create_succeeds_with_what_the_get_route_answers(
    upstream, settings, nhn, client
):
    nhn.get(CLUSTER_URL, payload=_native_cluster("CREATE_COMPLETE"), repeat=True)
    call = _call(upstream, settings, tenant=None)
    poll = await _poll(kubernetes, "nks.cluster.create", call, CLUSTER_UUID)
    response = await client.get(f"/api/nhn/nks/clusters/{CLUSTER_UUID}/", headers=network_headers())
    assert response.status == 200
    assert poll.state is PollState.SUCCEEDED
    assert poll.result == await response.json()
    assert poll.result == {
        "cluster": {
            "uuid": CLUSTER_UUID,
            "name": "k8s-new",
            "status": "CREATE_COMPLETE",
            "node_count": 3,
            "status_reason": None,
            "kubernetes_version": "v1.28.3",
            "api_address": "https://5801ef8a-kr2-k8s.container.cloud.toast.com:6443",
            "created_at": "2024-05-01T09:00:00+00:00",
            "updated_at": "2024-05-01T09:12:00+00:00",
            "health_status": "HEALTHY",
            "fixed_network": "eb212079-b6ec-430c-ba57-14280a457bcb",
            "fixed_subnet": "4fdf5b80-3d35-43f5-a5c1-010a3b6c8e90",
            "flavor_id": "6ef27f21-c774-4c0e-84ff-7dd4a762571f",
            "keypair": "my-keypair",
        }
    }


async def test_cluster_create_sends_the_native_get_with_nks_headers(upstream, settings, nhn):
    nhn.get(CLUSTER_URL, payload=_native_cluster("CREATE_COMPLETE"))
    await _poll(kubernetes, "nks.cluster.create", _call(upstream, settings, None), CLUSTER_UUID)
    _assert_nks_get(nhn, CLUSTER_URL)


@pytest.mark.parametrize("status", ["CREATE_FAILED", "ROLLBACK_FAILED", "UPDATE_FAILED"])
async def test_cluster_create_fails_with_the_status_reason(upstream, settings, nhn, status):
    reason = "Resource CREATE failed: Quota exceeded for instances"
    nhn.get(CLUSTER_URL, payload=_native_cluster(status, reason))
    call = _call(upstream, settings, tenant=None)
    poll = await _poll(kubernetes, "nks.cluster.create", call, CLUSTER_UUID)
    assert poll == Poll(PollState.FAILED, None, reason)


async def test_cluster_create_failure_without_a_reason_names_the_status(upstream, settings, nhn):
    nhn.get(CLUSTER_URL, payload=_native_cluster("CREATE_FAILED"))
    call = _call(upstream, settings, tenant=None)
    poll = await _poll(kubernetes, "nks.cluster.create", call, CLUSTER_UUID)
    assert poll == Poll(PollState.FAILED, None, "cluster went to CREATE_FAILED")


async def test_cluster_create_lets_a_404_through(upstream, settings, nhn):
    detail = f"Cluster {CLUSTER_UUID} could not be found."
    nhn.get(CLUSTER_URL, status=404, payload=_magnum_error(404, detail))
    call = _call(upstream, settings, tenant=None)
    with pytest.raises(UpstreamHTTPError) as caught:
        await _poll(kubernetes, "nks.cluster.create", call, CLUSTER_UUID)
    assert (caught.value.upstream_status, caught.value.message) == (404, detail)


async def test_cluster_create_unusable_answer_is_a_bad_response(upstream, settings, nhn):
    nhn.get(CLUSTER_URL, payload={"cluster": _native_cluster("CREATE_COMPLETE")})
    call = _call(upstream, settings, tenant=None)
    with pytest.raises(UpstreamBadResponse):
        await _poll(kubernetes, "nks.cluster.create", call, CLUSTER_UUID)


# ------------------------------------------------------------------ cluster delete


async def test_cluster_delete_succeeds_once_the_cluster_is_gone(upstream, settings, nhn):
    url = f"{KUBERNETES_KR2}/v1/clusters/k8s-old"
    nhn.get(url, status=404, payload=_magnum_error(404, "Cluster k8s-old could not be found."))
    call = _call(upstream, settings, tenant=None, cluster_name="k8s-old")
    poll = await _poll(kubernetes, "nks.cluster.delete", call, "k8s-old")
    assert poll == Poll(PollState.SUCCEEDED, None)
    _assert_nks_get(nhn, url)


async def test_cluster_delete_succeeds_on_delete_complete(upstream, settings, nhn):
    nhn.get(CLUSTER_URL, payload=_native_cluster("DELETE_COMPLETE"))
    call = _call(upstream, settings, tenant=None, cluster_name=CLUSTER_UUID)
    assert await _poll(kubernetes, "nks.cluster.delete", call, CLUSTER_UUID) == Poll(
        PollState.SUCCEEDED
    )


@pytest.mark.parametrize(
    "status",
    [
        "DELETE_IN_PROGRESS",
        "CREATE_COMPLETE",  # Magnum has not started deleting yet
        "CREATE_FAILED",  # the status before the delete, not a failure of it
    ],
)
async def test_cluster_delete_is_pending_while_the_cluster_exists(upstream, settings, nhn, status):
    nhn.get(CLUSTER_URL, payload=_native_cluster(status, "an earlier reason"))
    call = _call(upstream, settings, tenant=None, cluster_name=CLUSTER_UUID)
    assert await _poll(kubernetes, "nks.cluster.delete", call, CLUSTER_UUID) == Poll(
        PollState.PENDING
    )


async def test_cluster_delete_fails_with_the_status_reason(upstream, settings, nhn):
    reason = "Resource DELETE failed: the load balancer is in use"
    nhn.get(CLUSTER_URL, payload=_native_cluster("DELETE_FAILED", reason))
    call = _call(upstream, settings, tenant=None, cluster_name=CLUSTER_UUID)
    poll = await _poll(kubernetes, "nks.cluster.delete", call, CLUSTER_UUID)
    assert poll == Poll(PollState.FAILED, None, reason)


async def test_cluster_delete_failure_without_a_reason(upstream, settings, nhn):
    nhn.get(CLUSTER_URL, payload=_native_cluster("DELETE_FAILED"))
    call = _call(upstream, settings, tenant=None, cluster_name=CLUSTER_UUID)
    poll = await _poll(kubernetes, "nks.cluster.delete", call, CLUSTER_UUID)
    assert poll == Poll(PollState.FAILED, None, "cluster went to DELETE_FAILED")


async def test_cluster_delete_lets_other_upstream_errors_through(upstream, settings, nhn):
    nhn.get(CLUSTER_URL, status=500, payload=_magnum_error(500, "boom"))
    call = _call(upstream, settings, tenant=None, cluster_name=CLUSTER_UUID)
    with pytest.raises(UpstreamHTTPError) as caught:
        await _poll(kubernetes, "nks.cluster.delete", call, CLUSTER_UUID)
    assert caught.value.upstream_status == 500

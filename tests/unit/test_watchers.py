"""Watchers of the built-in plugins (design §4): which operations their routes declare, how
they name the resource, the native request each poll sends and how each answer is judged."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from types import ModuleType

import pytest

from nhn_proxy.context import NhnContext
from nhn_proxy.errors import BadRequest, UpstreamBadResponse, UpstreamHTTPError
from nhn_proxy.operations import Poll, PollState, Watcher
from nhn_proxy.plugin_manager import load_plugins
from nhn_proxy.plugins import compute, kubernetes, volume
from nhn_proxy.routing import Call, Route, RouteEnvironment
from nhn_proxy.settings import Settings, load_settings
from nhn_proxy.tasks.routes import operation_watchers
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
    ("POST", "/nks/clusters/{cluster_name}/resize/"): "nks.cluster.resize",
    ("POST", "/nks/clusters/{cluster_name}/nodegroups/create/"): "nks.nodegroup.create",
    ("DELETE", "/nks/clusters/{cluster_name}/nodegroups/{nodegroup_name}/"): "nks.nodegroup.delete",
    ("POST", "/compute/instances/{server_id}/action/"): "compute.instance.resize",
    ("POST", "/compute/instances/{server_id}/volumes/attach/"): "compute.volume.attach",
    ("POST", "/volumes/create/"): "volume.create",
}
# the plugin declaring each operation, and the kind of resource its task follows
OWNERS = {
    "compute.instance.create": ("compute", "instance"),
    "compute.instance.delete": ("compute", "instance"),
    "compute.instance.resize": ("compute", "instance"),
    "compute.volume.attach": ("compute", "volume"),
    "nks.cluster.create": ("kubernetes", "cluster"),
    "nks.cluster.delete": ("kubernetes", "cluster"),
    "nks.cluster.resize": ("kubernetes", "cluster"),
    "nks.nodegroup.create": ("kubernetes", "nodegroup"),
    "nks.nodegroup.delete": ("kubernetes", "nodegroup"),
    "volume.create": ("volume", "volume"),
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


def _call(
    upstream: Upstream, settings: Settings, plugin: str, tenant: str | None, **params: str
) -> Call:
    """The `Call` a task carries: the checked context of the request that started it."""
    environment = RouteEnvironment(
        upstream=upstream,
        allowed_regions=settings.regions.allowed,
        max_pages=settings.upstream.max_pages,
        sections={},
    )
    return Call(
        environment,
        NhnContext(request_id=REQUEST_ID, region="kr2", token=TOKEN, tenant_id=tenant),
        params=dict(params),
        plugin=plugin,
    )


def _compute_call(upstream: Upstream, settings: Settings, **params: str) -> Call:
    return _call(upstream, settings, "compute", TENANT, **params)


def _nks_call(upstream: Upstream, settings: Settings, **params: str) -> Call:
    """NKS needs no tenant header."""
    return _call(upstream, settings, "kubernetes", None, **params)


def _routes(settings: Settings) -> list[Route]:
    """The built-in routes as the app assembles them (each marked with its plugin)."""
    plugins = load_plugins(settings)
    return plugins.routes(plugins.config(settings))


@functools.cache
def _declared() -> dict[str, tuple[str, Watcher]]:
    """Each operation the default routes declare: (its plugin, its watcher)."""
    return {
        route.operation: (route.plugin, route.watcher)
        for route in _routes(load_settings(environ={}))
        if route.operation is not None and route.watcher is not None
    }


def _watcher(plugin: ModuleType, operation: str) -> Watcher:
    """The watcher a route of `plugin` declares for `operation`."""
    owner, watcher = _declared()[operation]
    assert owner == plugin.__name__.rsplit(".", 1)[-1]
    return watcher


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


def test_the_built_in_routes_declare_exactly_their_operations(settings):
    routes = _routes(settings)
    declared = {
        (route.method, route.path): route.operation
        for route in routes
        if route.operation is not None
    }
    assert declared == OPERATIONS
    # the task manager follows each of them with the watcher its route declares
    assert set(operation_watchers(routes)) == set(OPERATIONS.values())
    for route in routes:
        if route.operation is None:
            assert route.watcher is None
            continue
        assert isinstance(route.watcher, Watcher)
        assert (route.plugin, route.watcher.resource_type) == OWNERS[route.operation]


def test_each_operation_is_followed_with_its_plugins_functions():
    assert {operation: watcher for operation, (_, watcher) in _declared().items()} == {
        "compute.instance.create": Watcher(
            "instance", compute.created_server_id, compute.poll_created_server
        ),
        "compute.instance.delete": Watcher(
            "instance", compute.deleted_server_id, compute.poll_deleted_server
        ),
        "nks.cluster.create": Watcher(
            "cluster", kubernetes.created_cluster_id, kubernetes.poll_created_cluster
        ),
        "nks.cluster.delete": Watcher(
            "cluster", kubernetes.deleted_cluster_id, kubernetes.poll_deleted_cluster
        ),
        "nks.cluster.resize": Watcher(
            "cluster", kubernetes.resized_cluster_id, kubernetes.poll_resized_cluster
        ),
        "nks.nodegroup.create": Watcher(
            "nodegroup", kubernetes.created_nodegroup_id, kubernetes.poll_created_nodegroup
        ),
        "nks.nodegroup.delete": Watcher(
            "nodegroup", kubernetes.deleted_nodegroup_id, kubernetes.poll_deleted_nodegroup
        ),
        "compute.instance.resize": Watcher(
            "instance", compute.acted_on_server_id, compute.poll_server_action
        ),
        "compute.volume.attach": Watcher(
            "volume", compute.attached_volume_id, compute.poll_attached_volume
        ),
        "volume.create": Watcher("volume", volume.created_volume_id, volume.poll_created_volume),
    }


def test_a_disabled_plugin_takes_its_operations_along():
    settings = load_settings(environ={}, overrides={"plugins": {"disabled": ["kubernetes"]}})
    routes = _routes(settings)
    assert set(operation_watchers(routes)) == set(OPERATIONS.values()) - {
        "nks.cluster.create",
        "nks.cluster.delete",
        "nks.cluster.resize",
        "nks.nodegroup.create",
        "nks.nodegroup.delete",
    }
    assert not any(route.path.startswith("/nks/") for route in routes)


# ------------------------------------------------------------------ resource ids


def test_instance_create_names_the_new_server_from_the_payload(upstream, settings):
    watcher = _watcher(compute, "compute.instance.create")
    payload = {"server": {"id": SERVER_ID, "name": "web-01", "status": "BUILD"}}
    assert watcher.resource_id(_compute_call(upstream, settings), payload) == SERVER_ID


def test_instance_delete_names_the_server_of_the_path(upstream, settings):
    watcher = _watcher(compute, "compute.instance.delete")
    assert (
        watcher.resource_id(_compute_call(upstream, settings, server_id=SERVER_ID), None)
        == SERVER_ID
    )


def test_cluster_create_names_the_new_cluster_by_uuid(upstream, settings):
    watcher = _watcher(kubernetes, "nks.cluster.create")
    payload = {
        "cluster": {
            "uuid": CLUSTER_UUID,
            "name": "k8s-new",
            "status": "CREATE_IN_PROGRESS",
            "node_count": 3,
        }
    }
    assert watcher.resource_id(_nks_call(upstream, settings), payload) == CLUSTER_UUID


def test_cluster_delete_names_the_cluster_of_the_path(upstream, settings):
    watcher = _watcher(kubernetes, "nks.cluster.delete")
    call = _nks_call(upstream, settings, cluster_name="k8s-old")
    assert watcher.resource_id(call, None) == "k8s-old"


# ------------------------------------------------------------------ instance create


async def _poll(plugin: ModuleType, operation: str, call: Call, resource_id: str) -> Poll:
    return await _watcher(plugin, operation).poll(call, resource_id)


@pytest.mark.parametrize("status", ["BUILD", "REBOOT", "SHUTOFF", "UNKNOWN"])
async def test_instance_create_is_pending_until_active(upstream, settings, nhn, status):
    nhn.get(SERVER_URL, payload=_native_server(status, task_state="spawning"))
    poll = await _poll(
        compute, "compute.instance.create", _compute_call(upstream, settings), SERVER_ID
    )
    assert poll == Poll(PollState.PENDING)
    _assert_get(nhn, SERVER_URL)


async def test_instance_create_succeeds_with_what_the_get_route_answers(
    upstream, settings, nhn, client
):
    nhn.get(SERVER_URL, payload=_native_server("ACTIVE"), repeat=True)
    poll = await _poll(
        compute, "compute.instance.create", _compute_call(upstream, settings), SERVER_ID
    )
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
    await _poll(compute, "compute.instance.create", _compute_call(upstream, settings), SERVER_ID)
    headers = _assert_get(nhn, SERVER_URL)
    assert "Content-Type" not in headers


async def test_instance_create_fails_with_novas_fault_message(upstream, settings, nhn):
    fault = {"code": 500, "message": "No valid host was found. ", "created": "2024-05-01T09:01Z"}
    nhn.get(SERVER_URL, payload=_native_server("ERROR", fault=fault))
    poll = await _poll(
        compute, "compute.instance.create", _compute_call(upstream, settings), SERVER_ID
    )
    assert poll == Poll(PollState.FAILED, None, "No valid host was found. ")


@pytest.mark.parametrize("fault", [None, {"code": 500}, {"message": ""}, "broken"])
async def test_instance_create_fails_with_a_default_message_without_a_fault(
    upstream, settings, nhn, fault
):
    nhn.get(SERVER_URL, payload=_native_server("ERROR", fault=fault))
    poll = await _poll(
        compute, "compute.instance.create", _compute_call(upstream, settings), SERVER_ID
    )
    assert poll == Poll(PollState.FAILED, None, "instance went to ERROR")


async def test_instance_create_lets_a_404_through(upstream, settings, nhn):
    nhn.get(SERVER_URL, status=404, payload=_nova_not_found())
    with pytest.raises(UpstreamHTTPError) as caught:
        await _poll(
            compute, "compute.instance.create", _compute_call(upstream, settings), SERVER_ID
        )
    assert caught.value.upstream_status == 404
    assert caught.value.message == f"Instance {SERVER_ID} could not be found."


async def test_instance_create_lets_server_errors_through(upstream, settings, nhn):
    nhn.get(SERVER_URL, status=500, payload={"computeFault": {"code": 500, "message": "boom"}})
    with pytest.raises(UpstreamHTTPError) as caught:
        await _poll(
            compute, "compute.instance.create", _compute_call(upstream, settings), SERVER_ID
        )
    assert (caught.value.upstream_status, caught.value.status) == (500, 502)


async def test_instance_create_unusable_answer_is_a_bad_response(upstream, settings, nhn):
    nhn.get(SERVER_URL, payload={"servers": []})
    with pytest.raises(UpstreamBadResponse):
        await _poll(
            compute, "compute.instance.create", _compute_call(upstream, settings), SERVER_ID
        )


async def test_instance_poll_encodes_the_resource_id_as_one_segment(upstream, settings, nhn):
    nhn.get(f"{COMPUTE_KR2}/servers/a%2F..%2Fb", payload=_native_server("BUILD"))
    poll = await _poll(
        compute, "compute.instance.create", _compute_call(upstream, settings), "a/../b"
    )
    assert poll.state is PollState.PENDING
    _assert_get(nhn, f"{COMPUTE_KR2}/servers/a%2F..%2Fb")


async def test_instance_poll_refuses_a_relative_segment_without_a_call(upstream, settings, nhn):
    with pytest.raises(BadRequest):
        await _poll(compute, "compute.instance.create", _compute_call(upstream, settings), "..")
    assert nhn.calls() == []


# ------------------------------------------------------------------ instance delete


async def test_instance_delete_succeeds_once_the_server_is_gone(upstream, settings, nhn):
    nhn.get(SERVER_URL, status=404, payload=_nova_not_found())
    call = _compute_call(upstream, settings, server_id=SERVER_ID)
    poll = await _poll(compute, "compute.instance.delete", call, SERVER_ID)
    assert poll == Poll(PollState.SUCCEEDED, None)
    _assert_get(nhn, SERVER_URL)


async def test_instance_delete_succeeds_on_novas_deleted_status(upstream, settings, nhn):
    nhn.get(SERVER_URL, payload=_native_server("DELETED"))
    call = _compute_call(upstream, settings, server_id=SERVER_ID)
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
    call = _compute_call(upstream, settings, server_id=SERVER_ID)
    assert await _poll(compute, "compute.instance.delete", call, SERVER_ID) == Poll(
        PollState.PENDING
    )


async def test_instance_delete_fails_when_nova_gives_up_with_error(upstream, settings, nhn):
    fault = {"code": 500, "message": "Failed to delete the boot volume"}
    nhn.get(SERVER_URL, payload=_native_server("ERROR", fault=fault))
    call = _compute_call(upstream, settings, server_id=SERVER_ID)
    poll = await _poll(compute, "compute.instance.delete", call, SERVER_ID)
    assert poll == Poll(PollState.FAILED, None, "Failed to delete the boot volume")


async def test_instance_delete_error_without_a_fault_has_a_default_message(upstream, settings, nhn):
    nhn.get(SERVER_URL, payload=_native_server("ERROR"))
    call = _compute_call(upstream, settings, server_id=SERVER_ID)
    poll = await _poll(compute, "compute.instance.delete", call, SERVER_ID)
    assert poll == Poll(PollState.FAILED, None, "instance went to ERROR")


@pytest.mark.parametrize("status", [401, 403, 500])
async def test_instance_delete_lets_other_upstream_errors_through(upstream, settings, nhn, status):
    nhn.get(SERVER_URL, status=status, payload={"error": {"code": status, "message": "nope"}})
    call = _compute_call(upstream, settings, server_id=SERVER_ID)
    with pytest.raises(UpstreamHTTPError) as caught:
        await _poll(compute, "compute.instance.delete", call, SERVER_ID)
    assert caught.value.upstream_status == status


# ------------------------------------------------------------------ cluster create


@pytest.mark.parametrize("status", ["CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"])
async def test_cluster_create_is_pending_until_complete(upstream, settings, nhn, status):
    nhn.get(CLUSTER_URL, payload=_native_cluster(status))
    call = _nks_call(upstream, settings)
    assert await _poll(kubernetes, "nks.cluster.create", call, CLUSTER_UUID) == Poll(
        PollState.PENDING
    )
    _assert_nks_get(nhn, CLUSTER_URL)


async def test_cluster_create_succeeds_with_what_the_get_route_answers(
    upstream, settings, nhn, client
):
    nhn.get(CLUSTER_URL, payload=_native_cluster("CREATE_COMPLETE"), repeat=True)
    call = _nks_call(upstream, settings)
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
    await _poll(kubernetes, "nks.cluster.create", _nks_call(upstream, settings), CLUSTER_UUID)
    _assert_nks_get(nhn, CLUSTER_URL)


@pytest.mark.parametrize("status", ["CREATE_FAILED", "ROLLBACK_FAILED", "UPDATE_FAILED"])
async def test_cluster_create_fails_with_the_status_reason(upstream, settings, nhn, status):
    reason = "Resource CREATE failed: Quota exceeded for instances"
    nhn.get(CLUSTER_URL, payload=_native_cluster(status, reason))
    call = _nks_call(upstream, settings)
    poll = await _poll(kubernetes, "nks.cluster.create", call, CLUSTER_UUID)
    assert poll == Poll(PollState.FAILED, None, reason)


async def test_cluster_create_failure_without_a_reason_names_the_status(upstream, settings, nhn):
    nhn.get(CLUSTER_URL, payload=_native_cluster("CREATE_FAILED"))
    call = _nks_call(upstream, settings)
    poll = await _poll(kubernetes, "nks.cluster.create", call, CLUSTER_UUID)
    assert poll == Poll(PollState.FAILED, None, "cluster went to CREATE_FAILED")


async def test_cluster_create_lets_a_404_through(upstream, settings, nhn):
    detail = f"Cluster {CLUSTER_UUID} could not be found."
    nhn.get(CLUSTER_URL, status=404, payload=_magnum_error(404, detail))
    call = _nks_call(upstream, settings)
    with pytest.raises(UpstreamHTTPError) as caught:
        await _poll(kubernetes, "nks.cluster.create", call, CLUSTER_UUID)
    assert (caught.value.upstream_status, caught.value.message) == (404, detail)


async def test_cluster_create_unusable_answer_is_a_bad_response(upstream, settings, nhn):
    nhn.get(CLUSTER_URL, payload={"cluster": _native_cluster("CREATE_COMPLETE")})
    call = _nks_call(upstream, settings)
    with pytest.raises(UpstreamBadResponse):
        await _poll(kubernetes, "nks.cluster.create", call, CLUSTER_UUID)


# ------------------------------------------------------------------ cluster delete


async def test_cluster_delete_succeeds_once_the_cluster_is_gone(upstream, settings, nhn):
    url = f"{KUBERNETES_KR2}/v1/clusters/k8s-old"
    nhn.get(url, status=404, payload=_magnum_error(404, "Cluster k8s-old could not be found."))
    call = _nks_call(upstream, settings, cluster_name="k8s-old")
    poll = await _poll(kubernetes, "nks.cluster.delete", call, "k8s-old")
    assert poll == Poll(PollState.SUCCEEDED, None)
    _assert_nks_get(nhn, url)


async def test_cluster_delete_succeeds_on_delete_complete(upstream, settings, nhn):
    nhn.get(CLUSTER_URL, payload=_native_cluster("DELETE_COMPLETE"))
    call = _nks_call(upstream, settings, cluster_name=CLUSTER_UUID)
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
    call = _nks_call(upstream, settings, cluster_name=CLUSTER_UUID)
    assert await _poll(kubernetes, "nks.cluster.delete", call, CLUSTER_UUID) == Poll(
        PollState.PENDING
    )


async def test_cluster_delete_fails_with_the_status_reason(upstream, settings, nhn):
    reason = "Resource DELETE failed: the load balancer is in use"
    nhn.get(CLUSTER_URL, payload=_native_cluster("DELETE_FAILED", reason))
    call = _nks_call(upstream, settings, cluster_name=CLUSTER_UUID)
    poll = await _poll(kubernetes, "nks.cluster.delete", call, CLUSTER_UUID)
    assert poll == Poll(PollState.FAILED, None, reason)


async def test_cluster_delete_failure_without_a_reason(upstream, settings, nhn):
    nhn.get(CLUSTER_URL, payload=_native_cluster("DELETE_FAILED"))
    call = _nks_call(upstream, settings, cluster_name=CLUSTER_UUID)
    poll = await _poll(kubernetes, "nks.cluster.delete", call, CLUSTER_UUID)
    assert poll == Poll(PollState.FAILED, None, "cluster went to DELETE_FAILED")


async def test_cluster_delete_lets_other_upstream_errors_through(upstream, settings, nhn):
    nhn.get(CLUSTER_URL, status=500, payload=_magnum_error(500, "boom"))
    call = _nks_call(upstream, settings, cluster_name=CLUSTER_UUID)
    with pytest.raises(UpstreamHTTPError) as caught:
        await _poll(kubernetes, "nks.cluster.delete", call, CLUSTER_UUID)
    assert caught.value.upstream_status == 500

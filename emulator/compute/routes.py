"""Compute's URL table (paths after ``/{region}/compute``)."""

from nhn_proxy.emulator.base import Router
from nhn_proxy.emulator.compute import attachments, responses

router = Router()
# Nova's version documents: the root and /v2 need no token, the tenant's root does.
router.add("GET", "/", responses.list_versions, public=True)
router.add("GET", "/v2", responses.show_version, public=True)
router.add("GET", "/v2/", responses.show_version, public=True)
router.add("GET", "/v2/{tenant_id}", responses.show_version)
router.add("GET", "/v2/{tenant_id}/", responses.show_version)
router.add("GET", "/v2/{tenant_id}/flavors", responses.list_flavors)
router.add("GET", "/v2/{tenant_id}/flavors/detail", responses.list_flavors_detail)
router.add("GET", "/v2/{tenant_id}/flavors/{flavor_id}", responses.get_flavor)
router.add("GET", "/v2/{tenant_id}/os-availability-zone", responses.list_zones)
router.add("GET", "/v2/{tenant_id}/os-keypairs", responses.list_keypairs)
router.add("GET", "/v2/{tenant_id}/os-keypairs/{name}", responses.get_keypair)
router.add("POST", "/v2/{tenant_id}/os-keypairs", responses.create_keypair)
router.add("DELETE", "/v2/{tenant_id}/os-keypairs/{name}", responses.delete_keypair)
router.add("GET", "/v2/{tenant_id}/servers", responses.list_servers)
router.add("GET", "/v2/{tenant_id}/servers/detail", responses.list_servers_detail)
router.add("GET", "/v2/{tenant_id}/servers/{server_id}", responses.get_server)
router.add("PUT", "/v2/{tenant_id}/servers/{server_id}", responses.rename_server)
router.add("POST", "/v2/{tenant_id}/servers", responses.create_server)
router.add("DELETE", "/v2/{tenant_id}/servers/{server_id}", responses.delete_server)
router.add("POST", "/v2/{tenant_id}/servers/{server_id}/action", responses.server_action)
router.add("GET", "/v2/{tenant_id}/servers/{server_id}/metadata", responses.list_metadata)
router.add("GET", "/v2/{tenant_id}/servers/{server_id}/metadata/{key}", responses.get_metadata)
router.add("PUT", "/v2/{tenant_id}/servers/{server_id}/metadata/{key}", responses.put_metadata)
router.add(
    "DELETE", "/v2/{tenant_id}/servers/{server_id}/metadata/{key}", responses.delete_metadata
)
# Block Storage volumes attach on the compute endpoint (attachments.py)
_ATTACHMENTS = "/v2/{tenant_id}/servers/{server_id}/os-volume_attachments"
router.add("GET", _ATTACHMENTS, attachments.list_attachments)
router.add("POST", _ATTACHMENTS, attachments.attach_volume)
router.add("GET", _ATTACHMENTS + "/{volume_id}", attachments.get_attachment)
router.add("DELETE", _ATTACHMENTS + "/{volume_id}", attachments.detach_volume)

"""Block Storage's URL table (paths after ``/{region}/block-storage``): the version documents,
volume types and volumes. Attachments are made on the compute endpoint
(``compute/attachments.py``)."""

from nhn_proxy.emulator.base import Router
from nhn_proxy.emulator.block_storage import responses

router = Router()
router.add("GET", "/", responses.list_versions, public=True)
router.add("GET", "/v2", responses.show_v2)
router.add("GET", "/v2/", responses.show_v2)
router.add("GET", "/v2/{tenant_id}/types", responses.list_types)
router.add("GET", "/v2/{tenant_id}/types/{type_id}", responses.get_type)
router.add("GET", "/v2/{tenant_id}/volumes", responses.list_volumes)
router.add("GET", "/v2/{tenant_id}/volumes/detail", responses.list_volumes_detail)
router.add("GET", "/v2/{tenant_id}/volumes/{volume_id}", responses.get_volume)
router.add("POST", "/v2/{tenant_id}/volumes", responses.create_volume)
router.add("DELETE", "/v2/{tenant_id}/volumes/{volume_id}", responses.delete_volume)

"""Block Storage's URL table (paths after ``/{region}/block-storage``): the version
documents; every other call answers 501 for now."""

from nhn_proxy.emulator.base import Router
from nhn_proxy.emulator.block_storage import responses

router = Router()
router.add("GET", "/", responses.list_versions, public=True)
router.add("GET", "/v2", responses.show_v2)
router.add("GET", "/v2/", responses.show_v2)

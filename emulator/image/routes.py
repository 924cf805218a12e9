"""Image's URL table (paths after ``/{region}/image``)."""

from nhn_proxy.emulator.base import Router
from nhn_proxy.emulator.image import responses

router = Router()
router.add("GET", "/", responses.list_versions, public=True)
router.add("GET", "/versions", responses.show_versions, public=True)
router.add("GET", "/v2/images", responses.list_images)
router.add("GET", "/v2/images/{image_id}", responses.get_image)

"""Object Storage's URL table (paths after ``/{region}/object-storage``)."""

from nhn_proxy.emulator.base import Router
from nhn_proxy.emulator.object_storage import responses

router = Router()
router.add("GET", "/v1/{account}/", responses.list_containers)
router.add("GET", "/v1/{account}", responses.list_containers)
router.add("HEAD", "/v1/{account}/", responses.head_account)
router.add("HEAD", "/v1/{account}", responses.head_account)
router.add("POST", "/v1/{account}/", responses.post_account)
router.add("POST", "/v1/{account}", responses.post_account)
router.add("PUT", "/v1/{account}/{container}/", responses.put_container)
router.add("PUT", "/v1/{account}/{container}", responses.put_container)
router.add("GET", "/v1/{account}/{container}/", responses.list_objects)
router.add("GET", "/v1/{account}/{container}", responses.list_objects)
router.add("HEAD", "/v1/{account}/{container}/", responses.head_container)
router.add("HEAD", "/v1/{account}/{container}", responses.head_container)
router.add("POST", "/v1/{account}/{container}/", responses.post_container)
router.add("POST", "/v1/{account}/{container}", responses.post_container)
router.add("DELETE", "/v1/{account}/{container}/", responses.delete_container)
router.add("DELETE", "/v1/{account}/{container}", responses.delete_container)
router.add("PUT", "/v1/{account}/{container}/{object:.+}", responses.put_object)
router.add("COPY", "/v1/{account}/{container}/{object:.+}", responses.copy_object)
router.add("HEAD", "/v1/{account}/{container}/{object:.+}", responses.get_object)
router.add("GET", "/v1/{account}/{container}/{object:.+}", responses.get_object)
router.add("POST", "/v1/{account}/{container}/{object:.+}", responses.post_object)
router.add("DELETE", "/v1/{account}/{container}/{object:.+}", responses.delete_object)

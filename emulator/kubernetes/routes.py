"""Kubernetes' (NKS) URL table (paths after ``/{region}/kubernetes``)."""

from nhn_proxy.emulator.base import Router
from nhn_proxy.emulator.kubernetes import responses

router = Router()
router.add("GET", "/", responses.list_versions, public=True)
router.add("GET", "/v1", responses.show_v1, public=True)
router.add("GET", "/v1/", responses.show_v1, public=True)
router.add("POST", "/v1/clusters", responses.create_cluster)
router.add("GET", "/v1/clusters", responses.list_clusters)
# the v1 document links the collection with a trailing slash, as Magnum (pecan) serves it
router.add("GET", "/v1/clusters/", responses.list_clusters)
router.add("GET", "/v1/clusters/{cluster}", responses.get_cluster)
router.add("DELETE", "/v1/clusters/{cluster}", responses.delete_cluster)
router.add("GET", "/v1/clusters/{cluster}/config", responses.get_config)
router.add("GET", "/v1/supports", responses.supports)
# NHN documents the collections with a trailing slash; both forms answer, as pecan serves them
router.add("GET", "/v1/addon_types", responses.list_addon_types)
router.add("GET", "/v1/addon_types/", responses.list_addon_types)
router.add("GET", "/v1/addon_types/{addon_type}", responses.get_addon_type)
router.add("GET", "/v1/addons", responses.list_addons)
router.add("GET", "/v1/addons/", responses.list_addons)
router.add("GET", "/v1/addons/{addon}", responses.get_addon)
router.add("POST", "/v1/clusters/{cluster}/actions/resize", responses.resize_cluster)
router.add("GET", "/v1/clusters/{cluster}/nodegroups", responses.list_nodegroups)
router.add("GET", "/v1/clusters/{cluster}/nodegroups/", responses.list_nodegroups)
router.add("POST", "/v1/clusters/{cluster}/nodegroups", responses.create_nodegroup)
router.add("POST", "/v1/clusters/{cluster}/nodegroups/", responses.create_nodegroup)
router.add("GET", "/v1/clusters/{cluster}/nodegroups/{nodegroup}", responses.get_nodegroup)
router.add("DELETE", "/v1/clusters/{cluster}/nodegroups/{nodegroup}", responses.delete_nodegroup)

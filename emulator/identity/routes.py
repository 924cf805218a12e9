"""Identity's URL table (paths after ``/identity``; identity never asks for a token)."""

from nhn_proxy.emulator.base import Router
from nhn_proxy.emulator.identity import responses

router = Router()
router.add("GET", "/", responses.list_versions, public=True)
router.add("GET", "/v2.0", responses.show_version, public=True)
router.add("GET", "/v2.0/", responses.show_version, public=True)
router.add("POST", "/v2.0/tokens", responses.issue_token)
router.add("GET", "/v2.0/tokens", responses.tokens_wrong_method)

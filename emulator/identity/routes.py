"""Identity's URL table (paths after ``/identity``)."""

from nhn_proxy.emulator.base import Router
from nhn_proxy.emulator.identity import responses

router = Router()
router.add("POST", "/v2.0/tokens", responses.issue_token)
router.add("GET", "/v2.0/tokens", responses.tokens_wrong_method)

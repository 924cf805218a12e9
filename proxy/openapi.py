"""The OpenAPI 3 document (aiohttp-apigami) and Swagger UI, cleaned so that it validates.

apigami 0.9 writes Swagger-2 leftovers (`produces`, `consumes`) into OpenAPI 3 operations;
they are removed here once, at start-up, and the cleaned document is what is served and
printed.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import marshmallow
from aiohttp import web
from aiohttp_apigami import setup_aiohttp_apispec
from aiohttp_apigami.constants import SWAGGER_DICT
from aiohttp_apigami.core import resolver as schema_name

from nhn_proxy import __version__
from nhn_proxy.keys import OPENAPI
from nhn_proxy.routing import API_PREFIX, Route

DOC_PATH = "/api/docs/openapi.json"
SWAGGER_PATH = "/swagger/"
_NOT_IN_OPENAPI_3_OPERATION = ("produces", "consumes")
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

DESCRIPTION = """\
One small REST API in front of NHN Cloud for single-page apps.

1. `POST /api/nhn/token/` with your tenant id, user name and API password gives a token.
2. Send it as `X-NHN-Token` with `X-NHN-Region` (and `X-NHN-Tenant-ID` for Compute,
   `X-NHN-Storage-Account` for Object Storage) on every other call.

Object Storage has its own tenant id: issue a second token with it; the storage account is
`AUTH_<that tenant id>` (the token answer carries it as `storage_account`).

Every error is `{"error": "<message>", "code": <status>}` with that HTTP status.
"""
TASKS_DESCRIPTION = """
Long-running operations also accept `Prefer: respond-async`: the answer is then `202` with
`{{"task": {{...}}}}` and a `Location` under `/api/nhn/tasks/`; follow the task there, or
stream its changes from its `events_url` (server-sent events, usable by a browser
`EventSource` as is). They are: {operations}.
"""


def describe(routes: list[Route]) -> str:
    """The document's introduction, naming the long-running operations that are served."""
    operations = [
        f"`{route.method} {API_PREFIX}{route.path}`" for route in routes if route.operation
    ]
    if not operations:
        return DESCRIPTION
    return DESCRIPTION + TASKS_DESCRIPTION.format(operations=", ".join(operations))


def setup_openapi(app: web.Application, routes: list[Route]) -> None:
    """Describe every documented route now (routes must already be added)."""
    with warnings.catch_warnings():  # apigami keys the app with a plain string
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        setup_aiohttp_apispec(
            app,
            title="nhn-cloud-proxy",
            version=__version__,
            url=DOC_PATH,
            swagger_path=SWAGGER_PATH,
            static_path="/swagger/static",
            openapi_version="3.0.2",
            in_place=True,
            info={"description": describe(routes)},
            servers=[{"url": "/", "description": "this proxy"}],
        )
        document = clean_document(app[SWAGGER_DICT])
        app[SWAGGER_DICT] = document  # what apigami's JSON route serves
    app[OPENAPI] = document


def clean_document(document: dict[str, Any]) -> dict[str, Any]:
    """Drop keys OpenAPI 3 forbids in operations and mark JSON bodies as required."""
    document = copy.deepcopy(document)
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _HTTP_METHODS or not isinstance(operation, dict):
                continue
            for key in _NOT_IN_OPENAPI_3_OPERATION:
                operation.pop(key, None)
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True
            operation["responses"] = {
                str(code): response for code, response in sorted(operation["responses"].items())
            }
    return document


def use_examples(
    app: web.Application,
    *,
    headers: dict[str, str] | None = None,
    properties: dict[type[marshmallow.Schema], dict[str, Any]] | None = None,
) -> None:
    """Replace example values in the served document, e.g. the demo tenant and user of the
    embedded emulator, so that Swagger UI's "Try it out" is pre-filled with working values."""
    document = copy.deepcopy(app[OPENAPI])
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _HTTP_METHODS or not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "header" and parameter["name"] in (headers or {}):
                    parameter["example"] = headers[parameter["name"]]
    schemas = document.get("components", {}).get("schemas", {})
    for schema, values in (properties or {}).items():
        described = schemas.get(schema_name(schema), {}).get("properties", {})
        for name, value in values.items():
            if name in described:  # a schema or field this document does not have is skipped
                described[name]["example"] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app[SWAGGER_DICT] = document
    app[OPENAPI] = document

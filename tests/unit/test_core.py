"""The core through a throwaway plugin: headers, errors, request ids, CORS, OpenAPI, plugins."""

from __future__ import annotations

import json
import re

import aiohttp
import pytest
from marshmallow import Schema, fields, validate
from openapi_spec_validator import validate as validate_openapi
from yarl import URL

from nhn_proxy.app import create_app
from nhn_proxy.cli import main
from nhn_proxy.plugin import RESOURCE_ID, Call, Header, Reply, Route, hookimpl, native_answer
from nhn_proxy.plugin_manager import PluginError
from nhn_proxy.settings import load_settings
from tests.conftest import COMPUTE_KR2, TENANT, TOKEN, compute_headers

ALLOWED_ORIGIN = "http://localhost:3000"


class ThingSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)


class EchoSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(max=20))
    count = fields.Integer(load_default=1, validate=validate.Range(min=1, max=5))


@native_answer("compute")
def thing_from_native(native):
    return {"id": native["thing"]["id"], "name": native["thing"]["name"]}


class ProbePlugin:
    """A throwaway plugin: one upstream-backed route, one echo, one bug."""

    name = "probe"

    @hookimpl
    def nhn_proxy_routes(self, config):
        needs = frozenset({Header.TOKEN, Header.REGION, Header.TENANT})
        return [
            Route(
                "GET",
                "/probe/things/{thing_id}/",
                self.get_thing,
                summary="Get a thing",
                tags=("probe",),
                needs=needs,
                params={"thing_id": RESOURCE_ID},
                response=ThingSchema,
            ),
            Route(
                "POST",
                "/probe/echo/",
                self.echo,
                summary="Echo",
                tags=("probe",),
                needs=frozenset(),
                body=EchoSchema,
                response=EchoSchema,
                status=201,
            ),
            Route(
                "GET",
                "/probe/boom/",
                self.boom,
                summary="A bug",
                tags=("probe",),
                needs=frozenset(),
            ),
        ]

    async def get_thing(self, call: Call):
        answer = await call.native(
            "compute", "GET", "/v2/{tenant}/things/{thing_id}", path=call.params
        )
        return thing_from_native(answer.json_object())

    async def echo(self, call: Call):
        return Reply(call.body, status=201)

    async def boom(self, call: Call):
        raise RuntimeError("secret internals /etc/passwd")


@pytest.fixture
async def probe(aiohttp_client, settings, nhn):
    return await aiohttp_client(create_app(settings, extra_plugins=[ProbePlugin()]))


THING_URL = f"{COMPUTE_KR2}/things/t-1"


async def assert_error(response, status, fragment=""):
    assert response.status == status
    assert response.headers["Content-Type"].startswith("application/json")
    assert "X-Request-ID" in response.headers
    body = await response.json()
    assert set(body) == {"error", "code"} and body["code"] == status
    assert fragment.lower() in body["error"].lower(), body
    return body


async def test_probe_route_is_served_with_and_without_slash(probe, nhn):
    nhn.get(THING_URL, payload={"thing": {"id": "t-1", "name": "one"}}, repeat=True)
    for path in ("/api/nhn/probe/things/t-1/", "/api/nhn/probe/things/t-1"):
        response = await probe.get(path, headers=compute_headers())
        assert response.status == 200, await response.text()
        assert await response.json() == {"id": "t-1", "name": "one"}


async def test_throwaway_plugin_is_documented(probe):
    document = await (await probe.get("/api/docs/openapi.json")).json()
    operation = document["paths"]["/api/nhn/probe/things/{thing_id}/"]["get"]
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert headers == {"X-NHN-Token", "X-NHN-Region", "X-NHN-Tenant-ID"}
    assert "/api/nhn/probe/things/{thing_id}" not in document["paths"]  # one entry per route
    validate_openapi(document)


async def test_nhn_403_is_documented_wherever_the_token_goes_to_nhn(probe, nhn):
    """Regression (schemathesis): a valid token with another project's tenant id makes NHN
    answer 403, passed through; every route that sends the caller's token to NHN documents
    it, in the error shape."""
    nhn.get(
        THING_URL,
        status=403,
        payload={"forbidden": {"code": 403, "message": "project_id doesn't match"}},
    )
    response = await probe.get("/api/nhn/probe/things/t-1/", headers=compute_headers())
    await assert_error(response, 403, "project_id")
    document = await (await probe.get("/api/docs/openapi.json")).json()
    validate_openapi(document)
    paths = document["paths"]
    thing = paths["/api/nhn/probe/things/{thing_id}/"]["get"]["responses"]
    assert thing["403"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    for path, method in [
        ("/api/nhn/compute/flavors/", "get"),
        ("/api/nhn/compute/keypairs/", "get"),
        ("/api/nhn/compute/instances/", "get"),
        ("/api/nhn/compute/instances/{server_id}/", "get"),
        ("/api/nhn/storage/containers/", "get"),
        ("/api/nhn/storage/containers/{container_name}/", "get"),
        ("/api/nhn/vpc/", "get"),
    ]:
        assert "403" in paths[path][method]["responses"], path
    # no token (the echo), or a token that never reaches NHN (tasks): no 403
    assert "403" not in paths["/api/nhn/probe/echo/"]["post"]["responses"]
    assert "403" not in paths["/api/nhn/tasks/"]["get"]["responses"]
    assert "403" not in paths["/api/nhn/token/"]["post"]["responses"]


@pytest.mark.parametrize(
    ("headers", "status", "fragment"),
    [
        ({}, 401, "X-NHN-Token"),
        ({"X-NHN-Token": ""}, 401, "X-NHN-Token"),
        ({"X-NHN-Token": "a b"}, 401, "X-NHN-Token"),
        ({"X-NHN-Token": TOKEN}, 400, "X-NHN-Region"),
        ({"X-NHN-Token": TOKEN, "X-NHN-Tenant-ID": TENANT}, 400, "X-NHN-Region"),
        ({"X-NHN-Token": TOKEN, "X-NHN-Region": "kr9"}, 400, "X-NHN-Region"),
        ({"X-NHN-Token": TOKEN, "X-NHN-Region": "kr1.evil.com"}, 400, "X-NHN-Region"),
        ({"X-NHN-Token": TOKEN, "X-NHN-Region": "kr1/"}, 400, "X-NHN-Region"),
        ({"X-NHN-Token": TOKEN, "X-NHN-Region": "kr1@evil"}, 400, "X-NHN-Region"),
        ({"X-NHN-Token": TOKEN, "X-NHN-Region": "k" * 8000}, 400, "X-NHN-Region"),
        ({"X-NHN-Token": TOKEN, "X-NHN-Region": "한국"}, 400, "X-NHN-Region"),
        ({"X-NHN-Token": TOKEN, "X-NHN-Region": "kr2"}, 400, "X-NHN-Tenant-ID"),
        ({"X-NHN-Token": TOKEN, "X-NHN-Region": "kr2", "X-NHN-Tenant-ID": "../x"}, 400, "Tenant"),
    ],
)
async def test_header_checks_in_documented_precedence(probe, nhn, headers, status, fragment):
    response = await probe.get("/api/nhn/probe/things/t-1/", headers=headers)
    body = await assert_error(response, status, fragment)
    assert "k" * 100 not in body["error"]  # a hostile value is never echoed back
    assert nhn.calls() == []


async def test_header_beyond_the_http_parser_limit_is_refused_before_routing(probe, nhn):
    # aiohttp's parser refuses header fields over 8 KiB before routing; the standard shape of
    # that answer comes from ProxyRunner (tests/e2e/test_serve_blackbox.py)
    headers = {**compute_headers(), "X-NHN-Region": "k" * 1_000_000}
    response = await probe.get("/api/nhn/probe/things/t-1/", headers=headers)
    assert response.status == 400
    assert nhn.calls() == []


async def test_region_is_case_insensitive_and_used_lower_case(probe, nhn):
    nhn.get(THING_URL, payload={"thing": {"id": "t-1", "name": "one"}})
    response = await probe.get("/api/nhn/probe/things/t-1/", headers=compute_headers("KR2"))
    assert response.status == 200
    assert nhn.only_call().url == THING_URL


async def test_duplicate_nhn_header_is_refused(probe, nhn):
    headers = [
        ("X-NHN-Token", TOKEN),
        ("X-NHN-Region", "kr2"),
        ("X-NHN-Region", "kr1"),
        ("X-NHN-Tenant-ID", TENANT),
    ]
    response = await probe.get("/api/nhn/probe/things/t-1/", headers=headers)
    await assert_error(response, 400, "once")
    assert nhn.calls() == []


@pytest.mark.parametrize(
    "raw_path",
    ["..", "%2e%2e", "a%2Fb", "a%3Fb", "a%23b", "a@b", "a;b", "a%00b", "x" * 200, "%E2%80%AE"],
)
async def test_hostile_path_parameters_never_reach_upstream(probe, nhn, raw_path):
    url = URL(f"/api/nhn/probe/things/{raw_path}/", encoded=True)
    response = await probe.get(url, headers=compute_headers())
    assert response.status in (400, 404)
    await assert_error(response, response.status)
    assert nhn.calls() == []


async def test_unknown_route_and_wrong_method_are_standard_errors(probe):
    await assert_error(await probe.get("/api/nhn/nope/"), 404, "no such route")
    response = await probe.delete("/api/nhn/probe/echo/")
    await assert_error(response, 405, "method not allowed")
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"text"', "JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, ""),
        (b'{"count": 2}', "name"),
        (b'{"name": "a", "count": "many"}', "count"),
        (b'{"name": "a", "count": 50}', "count"),
        (b'{"name": "' + b"x" * 100 + b'"}', "name"),
        (b'{"name": "a", "admin": true}', "admin"),
        (b'{"name": {"deep": {"deeper": 1}}}', "name"),
    ],
)
async def test_bad_bodies_are_400_naming_the_problem(probe, data, fragment):
    response = await probe.post(
        "/api/nhn/probe/echo/", data=data, headers={"Content-Type": "application/json"}
    )
    await assert_error(response, 400, fragment)


async def test_valid_body_reaches_the_handler_with_defaults(probe):
    response = await probe.post("/api/nhn/probe/echo", json={"name": "a"})
    assert response.status == 201
    assert await response.json() == {"name": "a", "count": 1}


async def test_body_over_the_limit_is_413(aiohttp_client, nhn):
    settings = load_settings(environ={}, overrides={"server": {"max_body_size": 1024}})
    client = await aiohttp_client(create_app(settings, extra_plugins=[ProbePlugin()]))
    response = await client.post("/api/nhn/probe/echo/", data=b'{"name": "' + b"x" * 5000 + b'"}')
    await assert_error(response, 413, "too large")


async def test_a_bug_is_500_without_details(probe, caplog):
    response = await probe.get("/api/nhn/probe/boom/")
    body = await assert_error(response, 500, "internal error")
    assert "passwd" not in json.dumps(body) and "Traceback" not in await response.text()
    assert any("unhandled error" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("mock", "status", "fragment"),
    [
        (
            {
                "status": 404,
                "payload": {
                    "itemNotFound": {"code": 404, "message": "Thing t-1 could not be found."}
                },
            },
            404,
            "Thing t-1 could not be found.",
        ),
        (
            {"status": 409, "payload": {"conflictingRequest": {"code": 409, "message": "busy"}}},
            409,
            "busy",
        ),
        (
            {
                "status": 403,
                "body": "<html><h1>Forbidden</h1><p>Access was denied to this resource.</p></html>",
                "content_type": "text/html",
            },
            403,
            "Forbidden: Access was denied",
        ),
        (
            {"status": 500, "payload": {"computeFault": {"code": 500, "message": "oops"}}},
            502,
            "oops",
        ),
        ({"status": 503, "body": "down"}, 503, "down"),
        ({"status": 504, "body": ""}, 504, "Gateway Timeout"),
        (
            {"status": 200, "body": "{not json", "content_type": "application/json"},
            502,
            "malformed",
        ),
        ({"status": 200, "body": "<html/>", "content_type": "text/html"}, 502, "content type"),
        ({"status": 200, "payload": {"unexpected": 1}}, 502, "unexpected"),
        ({"status": 200, "payload": [1, 2]}, 502, "unexpected"),
        ({"exception": aiohttp.ClientConnectionError("refused")}, 502, "could not be reached"),
        ({"exception": aiohttp.ServerDisconnectedError()}, 502, "could not be reached"),
        ({"exception": TimeoutError()}, 504, "in time"),
        ({"exception": aiohttp.ClientPayloadError("cut")}, 502, "truncated"),
    ],
)
async def test_upstream_failures_map_to_fixed_answers(probe, nhn, mock, status, fragment):
    nhn.get(THING_URL, **mock, repeat=True)  # a GET may be retried: the failure persists
    response = await probe.get("/api/nhn/probe/things/t-1/", headers=compute_headers())
    await assert_error(response, status, fragment)


async def test_request_id_is_kept_when_sane_generated_otherwise_and_forwarded(probe, nhn):
    nhn.get(THING_URL, payload={"thing": {"id": "t-1", "name": "one"}}, repeat=True)
    response = await probe.get(
        "/api/nhn/probe/things/t-1/", headers={**compute_headers(), "X-Request-ID": "abc-123"}
    )
    assert response.headers["X-Request-ID"] == "abc-123"
    assert nhn.calls()[-1].headers["X-Request-ID"] == "abc-123"
    response = await probe.get(
        "/api/nhn/probe/things/t-1/", headers={**compute_headers(), "X-Request-ID": "bad id\u00e9"}
    )
    generated = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert (await probe.get("/api/nhn/nope")).headers["X-Request-ID"]


async def test_token_travels_as_x_auth_token_only(probe, nhn):
    nhn.get(THING_URL, payload={"thing": {"id": "t-1", "name": "one"}})
    await probe.get("/api/nhn/probe/things/t-1/", headers=compute_headers())
    call = nhn.only_call()
    assert call.headers["X-Auth-Token"] == TOKEN
    assert "X-NHN-Token" not in call.headers


# --- CORS -------------------------------------------------------------------------------


async def test_preflight_from_allowed_origin_allows_nhn_headers(probe):
    response = await probe.options(
        "/api/nhn/probe/things/t-1/",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-NHN-Region, X-NHN-Token, X-NHN-Tenant-ID",
        },
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    allowed = response.headers["Access-Control-Allow-Headers"].upper()
    for header in ("X-NHN-REGION", "X-NHN-TOKEN", "X-NHN-TENANT-ID"):
        assert header in allowed
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_preflight_allows_content_type_and_request_id_on_token_route(probe):
    response = await probe.options(
        "/api/nhn/token/",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type, X-Request-ID",
        },
    )
    assert response.status == 200
    assert "CONTENT-TYPE" in response.headers["Access-Control-Allow-Headers"].upper()


async def test_actual_request_exposes_request_id_and_location(probe):
    response = await probe.post(
        "/api/nhn/probe/echo/", json={"name": "a"}, headers={"Origin": ALLOWED_ORIGIN}
    )
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    exposed = response.headers["Access-Control-Expose-Headers"].upper()
    assert "X-REQUEST-ID" in exposed and "LOCATION" in exposed


async def test_error_answers_carry_cors_headers_for_allowed_origin(probe):
    for response in (
        await probe.get("/api/nhn/probe/things/t-1/", headers={"Origin": ALLOWED_ORIGIN}),
        await probe.get("/api/nhn/nope/", headers={"Origin": ALLOWED_ORIGIN}),
        await probe.put("/api/nhn/probe/echo/", headers={"Origin": ALLOWED_ORIGIN}),
    ):
        assert response.status >= 400
        assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
        assert "X-REQUEST-ID" in response.headers["Access-Control-Expose-Headers"].upper()


async def test_disallowed_origin_gets_no_cors_headers(probe):
    evil = "http://evil.example"
    preflight = await probe.options(
        "/api/nhn/probe/echo/",
        headers={"Origin": evil, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 403
    await assert_error(preflight, 403)
    for response in (
        preflight,
        await probe.post("/api/nhn/probe/echo/", json={"name": "a"}, headers={"Origin": evil}),
        await probe.get("/api/nhn/nope/", headers={"Origin": evil}),
    ):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]


async def test_wildcard_origin_never_with_credentials(aiohttp_client, nhn):
    settings = load_settings(environ={}, overrides={"cors": {"allow_origins": ["*"]}})
    client = await aiohttp_client(create_app(settings, extra_plugins=[ProbePlugin()]))
    response = await client.options(
        "/api/nhn/probe/echo/",
        headers={
            "Origin": "http://any.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type",
        },
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "http://any.example")
    assert response.headers.get("Access-Control-Allow-Credentials") is None


# --- documents, health, CLI ---------------------------------------------------------------


async def test_openapi_document_validates_and_swagger_ui_is_served(client):
    response = await client.get("/api/docs/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document["openapi"].startswith("3.")
    validate_openapi(document)
    page = await client.get("/swagger/")
    assert page.status == 200
    assert "swagger" in (await page.text()).lower()


def test_openapi_command_prints_the_document(capsys):
    assert main(["openapi"]) == 0
    document = json.loads(capsys.readouterr().out)
    validate_openapi(document)
    assert "/api/nhn/token/" in document["paths"]


def test_openapi_command_leaves_out_disabled_plugins(tmp_path, capsys):
    path = tmp_path / "proxy.toml"
    path.write_text('[plugins]\ndisabled = ["token"]\n')
    assert main(["openapi", "--config", str(path)]) == 0
    assert "/api/nhn/token/" not in json.loads(capsys.readouterr().out)["paths"]


def test_bad_settings_file_fails_with_one_line(tmp_path, capsys):
    path = tmp_path / "proxy.toml"
    path.write_text("[server]\nport = 'x'\n")
    assert main(["openapi", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "nhn-proxy: server.port must be a number"


async def test_health_readiness_and_metrics(probe, nhn):
    assert await (await probe.get("/healthz")).json() == {"status": "ok"}
    ready = await probe.get("/readyz")
    assert ready.status == 200 and "probe" in (await ready.json())["plugins"]
    nhn.get(THING_URL, payload={"thing": {"id": "t-1", "name": "one"}})
    await probe.get("/api/nhn/probe/things/t-1/", headers=compute_headers())
    text = await (await probe.get("/metrics")).text()
    assert 'route="/api/nhn/probe/things/{thing_id}/",method="GET",status="200"' in text
    assert "t-1" not in text  # labelled by template, never by raw path
    assert 'nhn_proxy_upstream_calls_total{service="compute",outcome="2xx"} 1' in text


# --- plugin manager -----------------------------------------------------------------------


def test_disabled_plugin_is_not_served(settings):
    disabled = load_settings(environ={}, overrides={"plugins": {"disabled": ["probe"]}})
    app = create_app(disabled, extra_plugins=[ProbePlugin()])
    paths = {route.resource.canonical for route in app.router.routes()}
    assert "/api/nhn/probe/echo/" not in paths


def test_two_plugins_claiming_one_route_fail_at_start(settings):
    class Twin(ProbePlugin):
        name = "twin"

    with pytest.raises(PluginError, match="both serve"):
        create_app(settings, extra_plugins=[ProbePlugin(), Twin()])


def test_misspelled_hook_fails_at_start(settings):
    class Typo:
        name = "typo"

        @hookimpl
        def nhn_proxy_rutes(self, config):
            return []

    with pytest.raises(PluginError, match="typo"):
        create_app(settings, extra_plugins=[Typo()])


def test_plugin_returning_garbage_fails_at_start(settings):
    class Garbage:
        name = "garbage"

        @hookimpl
        def nhn_proxy_routes(self, config):
            return ["/not/a/route"]

    with pytest.raises(PluginError, match="not a Route"):
        create_app(settings, extra_plugins=[Garbage()])

"""Plugin contract v2 from a third-party plugin's side: hooks through pluggy's caller (trace,
tryfirst/trylast, wrappers), a plugin's own settings section, the narrow `Call`, answers
as data (payload, `Reply`, streamed), and the OpenAPI document of 0.1.0 kept."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from marshmallow import Schema, fields, validate

from nhn_proxy.app import ROUTES, create_app
from nhn_proxy.keys import OPENAPI
from nhn_proxy.plugin import Call, Reply, Route, Stream, hookimpl
from nhn_proxy.plugin_manager import PluginError, load_plugins
from nhn_proxy.settings import SettingsError, load_settings
from tests.conftest import DEMO

PREVIOUS_DOCUMENT = Path(__file__).parents[1] / "data" / "openapi-0.1.0.json"


class GreetingSettingsSchema(Schema):
    greeting = fields.String(load_default="hello", validate=validate.Length(min=1, max=20))
    repeat = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1, max=3))


class PingSchema(Schema):
    name = fields.String(required=True, metadata={"example": "ping"})


class Greeter:
    """A third-party plugin: its own settings section, a plain route, a streamed one."""

    name = "greeter"

    def __init__(self) -> None:
        self.closed = asyncio.Event()
        self.fail_after: int | None = None

    @hookimpl
    def nhn_proxy_settings(self):
        return {"greeter": GreetingSettingsSchema}

    @hookimpl
    def nhn_proxy_routes(self, config):
        assert config.section("greeter")["greeting"]  # loaded before the routes are asked
        return [
            Route(
                "POST",
                "/greeter/hello/",
                self.hello,
                summary="Say hello",
                tags=("greeter",),
                needs=frozenset(),
                body=PingSchema,
                request_headers=("Accept-Language",),
            ),
            Route(
                "GET",
                "/greeter/stream/",
                self.stream,
                summary="Count slowly",
                tags=("greeter",),
                needs=frozenset(),
                media_type="text/plain",
            ),
        ]

    async def hello(self, call: Call) -> Any:
        call.log.info("said hello", extra={"fields": {"to": call.body["name"]}})
        words = " ".join([call.settings["greeting"]] * call.settings["repeat"])
        return Reply(
            {"greeting": f"{words} {call.body['name']}", "headers": dict(call.headers)},
            status=201,
            headers={"X-Greeter": "yes"},
        )

    async def stream(self, call: Call) -> Any:
        async def count():
            try:
                for number in range(5):
                    if self.fail_after is not None and number >= self.fail_after:
                        raise RuntimeError("the upstream stream broke")
                    yield f"{number}\n".encode()
                    await asyncio.sleep(0.01)
            finally:
                self.closed.set()

        return Stream(count(), "text/plain; charset=utf-8", headers={"X-Count": "5"})


@pytest.fixture
def greeter() -> Greeter:
    return Greeter()


@pytest.fixture
async def greeter_client(aiohttp_client, greeter):
    settings = load_settings(environ={}, overrides={"greeter": {"greeting": "annyeong"}})
    return await aiohttp_client(create_app(settings, extra_plugins=[greeter]))


# --- answers as data, the narrow Call -----------------------------------------------------


async def test_a_reply_sets_status_and_headers_and_the_call_sees_only_declared_headers(
    greeter_client, greeter
):
    response = await greeter_client.post(
        "/api/nhn/greeter/hello/",
        json={"name": "minsu"},
        headers={"Accept-Language": "ko", "X-Secret-Header": "not for plugins"},
    )
    assert response.status == 201, await response.text()
    assert response.headers["X-Greeter"] == "yes"
    assert response.headers["X-Request-ID"]
    assert await response.json() == {
        "greeting": "annyeong minsu",  # the plugin's own section, from the settings
        "headers": {"Accept-Language": "ko"},  # nothing it did not declare
    }


def test_a_call_offers_no_request_app_upstream_or_whole_settings(greeter):
    public = {name for name in dir(Call) if not name.startswith("_")}
    assert public == {
        "body",
        "ctx",
        "headers",
        "listing",
        "log",
        "native",
        "native_stream",
        "params",
        "query",
        "settings",
        "upload",
    }


async def test_the_call_logger_is_bound_to_the_request(greeter_client, caplog):
    caplog.set_level(logging.INFO, logger="nhn_proxy.plugins.greeter")
    response = await greeter_client.post(
        "/api/nhn/greeter/hello/", json={"name": "jiwoo"}, headers={"X-Request-ID": "req-42"}
    )
    assert response.status == 201
    [record] = [r for r in caplog.records if r.name == "nhn_proxy.plugins.greeter"]
    assert record.fields == {"request_id": "req-42", "to": "jiwoo"}


async def test_a_stream_is_sent_as_it_is_written(greeter_client, greeter):
    response = await greeter_client.get("/api/nhn/greeter/stream/")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["X-Count"] == "5" and response.headers["X-Request-ID"]
    assert await response.text() == "0\n1\n2\n3\n4\n"
    assert greeter.closed.is_set()


async def test_a_stream_that_breaks_cuts_the_connection_instead_of_ending_short(
    greeter_client, greeter, caplog
):
    greeter.fail_after = 2
    response = await greeter_client.get("/api/nhn/greeter/stream/")
    assert response.status == 200  # already sent when the stream broke
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()  # a broken body, never a short one that looks complete
    assert greeter.closed.is_set()
    assert "streamed answer failed" in caplog.text


async def test_a_client_that_leaves_closes_the_stream(greeter_client, greeter):
    response = await greeter_client.get("/api/nhn/greeter/stream/")
    assert (await response.content.readline()) == b"0\n"
    response.close()
    await asyncio.wait_for(greeter.closed.wait(), 5)


# --- settings sections --------------------------------------------------------------------


def test_a_plugin_section_is_loaded_with_its_defaults(greeter):
    plugins = load_plugins(load_settings(environ={}), [greeter])
    section = plugins.config(load_settings(environ={})).section("greeter")
    assert dict(section) == {"greeting": "hello", "repeat": 1}


def test_a_bad_value_in_a_plugin_section_stops_start_up_naming_it(greeter):
    settings = load_settings(environ={}, overrides={"greeter": {"repeat": 9}})
    with pytest.raises(SettingsError, match=r"settings \[greeter\]: repeat"):
        create_app(settings, extra_plugins=[greeter])


def test_two_plugins_claiming_one_section_fail_at_start(greeter):
    class Copycat:
        name = "copycat"

        @hookimpl
        def nhn_proxy_settings(self):
            return {"greeter": GreetingSettingsSchema}

    with pytest.raises(PluginError, match=r"both declare settings \[greeter\]"):
        create_app(load_settings(environ={}), extra_plugins=[greeter, Copycat()])


# --- hooks through pluggy's caller --------------------------------------------------------


def test_plugins_trace_logs_every_hook_call(greeter, caplog):
    caplog.set_level(logging.DEBUG, logger="nhn_proxy.plugins")
    settings = load_settings(environ={}, overrides={"plugins": {"trace": True}})
    create_app(settings, extra_plugins=[greeter])
    traced = "\n".join(r.getMessage() for r in caplog.records if r.name == "nhn_proxy.plugins")
    assert "nhn_proxy_settings [hook]" in traced
    assert "nhn_proxy_routes [hook]" in traced
    assert "finish nhn_proxy_routes" in traced


def _route_owners(app) -> list[str]:
    owners: list[str] = []
    for route in app[ROUTES]:
        if not owners or owners[-1] != route.plugin:
            owners.append(route.plugin)
    return owners


class Ordered:
    """A third-party plugin with one route, its routes hook marked as asked."""

    def __init__(self, name: str, **marks: bool) -> None:
        self.name = name

        @hookimpl(**marks)
        def nhn_proxy_routes(config):
            return [Route("GET", f"/{name}/", self.handle, summary=name, tags=(name,))]

        self.nhn_proxy_routes = nhn_proxy_routes

    async def handle(self, call: Call) -> Any:
        return {"plugin": self.name}


def test_built_ins_are_called_in_their_order_and_after_third_party_plugins():
    app = create_app(load_settings(environ={}), extra_plugins=[Ordered("plain")])
    owners = _route_owners(app)
    assert owners == [
        "plain",
        *("token", "compute", "network", "kubernetes", "storage", "volume"),
        "tasks",
    ]


def test_tryfirst_and_trylast_order_a_third_party_plugin_against_the_built_ins():
    early, late = Ordered("early", tryfirst=True), Ordered("late", trylast=True)
    app = create_app(load_settings(environ={}), extra_plugins=[early, late])
    owners = _route_owners(app)
    assert owners[0] == "early" and owners[-2:] == ["late", "tasks"]
    paths = list(app[OPENAPI]["paths"])  # the document (and Swagger UI) follows that order
    assert paths.index("/api/nhn/early/") < paths.index("/api/nhn/token/")
    assert paths.index("/api/nhn/late/") > paths.index("/api/nhn/storage/containers/")


def test_a_hook_wrapper_sees_and_changes_every_plugins_routes():
    class Tagger:
        name = "tagger"

        @hookimpl(wrapper=True)
        def nhn_proxy_routes(self, config):
            results = yield
            return [
                [route for route in routes if route.path != "/compute/keypairs/"]
                for routes in results
            ]

    app = create_app(load_settings(environ={}), extra_plugins=[Tagger()])
    paths = {route.path for route in app[ROUTES]}
    assert "/compute/keypairs/" not in paths and "/compute/flavors/" in paths


def test_a_third_party_demo_example_wins_over_a_built_in(greeter):
    from nhn_proxy.plugins.token import TokenRequestSchema

    demo = DEMO

    class Branded:
        name = "branded"

        @hookimpl
        def nhn_proxy_demo_examples(self, demo):
            return {TokenRequestSchema: {"username": "brand@example.com"}}

    plugins = load_plugins(load_settings(environ={}), [Branded()])
    examples = plugins.demo_examples(demo)[TokenRequestSchema]
    assert examples["username"] == "brand@example.com"  # called before the built-in
    assert examples["password"] == DEMO.password and examples["tenant_id"] == DEMO.tenant_id


def test_a_failing_hook_names_its_plugin():
    class Broken:
        name = "broken"

        @hookimpl
        def nhn_proxy_routes(self, config):
            raise KeyError("oops")

    with pytest.raises(PluginError, match="plugin broken failed to list its routes: KeyError"):
        create_app(load_settings(environ={}), extra_plugins=[Broken()])


# --- the public API and its document --------------------------------------------------------


# prose and examples may be reworded as routes grow; an enum may gain values (a new action)
PROSE = frozenset({"description", "summary", "example"})


# deliberate changes since 0.1.0 that accept more than before, each with its reason
WIDENED = {
    # NHN allows cluster names of up to 32 characters since its release of 2022-11-29
    "schemas/ClusterCreate/properties/cluster_name/pattern",
    # issue 12: a container listing's entries are names by default, as before; with
    # ?detail=true objects, and with a delimiter {"prefix": ...} pseudo-folders (oneOf)
    "schemas/StorageObjectList/properties/objects/items",
}


def _missing(old: Any, new: Any, where: str) -> list[str]:
    """Where `new` lacks or changes something of `old` (additions are fine)."""
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return [where]
        problems: list[str] = []
        for key, value in old.items():
            if key not in new:
                problems.append(f"{where}/{key} (gone)")
            elif key in PROSE or f"{where}/{key}" in WIDENED:
                continue
            elif key == "parameters" and isinstance(new[key], list):  # one may be added
                current = {(item["in"], item["name"]): item for item in new[key]}
                known = {(item["in"], item["name"]) for item in value}
                problems.extend(
                    f"{where}/parameters/{name} (added, required)"
                    for (place, name), item in current.items()
                    if (place, name) not in known and item.get("required")
                )
                for item in value:
                    found = current.get((item["in"], item["name"]))
                    where_item = f"{where}/parameters/{item['in']}:{item['name']}"
                    problems.extend(
                        _missing(item, found, where_item) if found else [f"{where_item} (gone)"]
                    )
            elif key == "enum" and isinstance(new[key], list):
                problems.extend(
                    f"{where}/enum lost {item!r}" for item in value if item not in new[key]
                )
            else:
                problems.extend(_missing(value, new[key], f"{where}/{key}"))
        return problems
    return [] if old == new else [f"{where}: {old!r} -> {new!r}"]


def test_the_document_keeps_every_path_and_schema_of_the_previous_version():
    """Plugin contract v2 changed how routes are written, not what they answer: every path,
    operation, parameter, answer and schema of 0.1.0 is still there, unchanged but for
    reworded prose, examples, enums that gained values and parameters that were added."""
    previous = json.loads(PREVIOUS_DOCUMENT.read_text())
    current = create_app(load_settings(environ={}))[OPENAPI]
    problems = _missing(previous["paths"], current["paths"], "paths")
    problems += _missing(
        previous["components"]["schemas"], current["components"]["schemas"], "schemas"
    )
    assert problems == []


def test_the_document_compare_would_see_a_change():
    previous = {"a": {"b": [1, 2], "c": "x"}}
    assert _missing(previous, {"a": {"b": [1, 2], "c": "x", "d": 1}}, "") == []
    assert _missing(previous, {"a": {"b": [1], "c": "x"}}, "") != []
    assert _missing(previous, {"a": {"c": "x"}}, "") != []
    assert _missing({"e": {"enum": ["a"]}}, {"e": {"enum": ["a", "b"]}}, "") == []
    assert _missing({"e": {"enum": ["a", "b"]}}, {"e": {"enum": ["a"]}}, "") != []
    assert _missing({"description": "x"}, {"description": "y"}, "") == []
    header = {"in": "header", "name": "X-NHN-Token", "required": True}
    prefer = {"in": "header", "name": "Prefer", "required": False}
    assert _missing({"parameters": [header]}, {"parameters": [header, prefer]}, "") == []
    assert _missing({"parameters": [header, prefer]}, {"parameters": [header]}, "") != []
    loosened = {**header, "required": False}
    assert _missing({"parameters": [header]}, {"parameters": [loosened]}, "") != []
    required = {**prefer, "required": True}
    assert _missing({"parameters": [header]}, {"parameters": [header, required]}, "") != []


def test_default_toml_documents_each_built_in_section_with_its_schemas_defaults():
    """config/default.toml shows operators every key; a plugin's schema holds its defaults.
    The two must say the same, or the file would document a default nobody applies."""
    from nhn_proxy.settings import default_values

    settings = load_settings(environ={})
    plugins = load_plugins(settings)
    schemas: dict[str, Any] = {}
    for declared in plugins.manager.hook.nhn_proxy_settings():
        schemas.update(declared)
    assert "kubernetes" in schemas
    documented = default_values()
    for name, schema in schemas.items():
        assert documented.get(name) == schema().load({}), name
